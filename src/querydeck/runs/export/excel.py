"""The ``excel`` flavour of CSV: what a spreadsheet opens safely.

It is the exact CSV export (RFC 4180, CRLF, the same quoting) with two differences:

- a UTF-8 byte-order mark first, so that Excel reads the file as UTF-8 (without it, it
  guesses the system's code page and mangles every accent);
- a text cell (and a column name) that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return gets a leading ``'``: a spreadsheet would otherwise run it as a formula
  (CSV injection, e.g. ``=HYPERLINK(...)`` or ``=cmd|...``). Numbers, times and booleans
  are not text and stay as they are (``-5`` is still the number -5); lists, structs and
  binary values are text here (JSON, base64) and are neutralised like any text.

The exact CSV stays the default export: it is what programs read back.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from querydeck.runs.results.arrowpool import memory_pool

BOM = b"\xef\xbb\xbf"
#: A cell starting with one of these is a formula (or becomes one) in a spreadsheet.
FORMULA_START = r"^[=+\-@\t\r]"


def neutralise(column: pa.Array) -> pa.Array:
    """A text column with ``'`` before every value a spreadsheet would take for a formula."""
    pool = memory_pool()
    risky = pc.match_substring_regex(column, FORMULA_START, memory_pool=pool)
    prefixed = pc.binary_join_element_wise("'", column, "", memory_pool=pool)
    return pc.if_else(risky, prefixed, column, memory_pool=pool)


def neutralise_name(name: str) -> str:
    return "'" + name if name[:1] in ("=", "+", "-", "@", "\t", "\r") else name
