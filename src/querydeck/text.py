"""Characters text people type must not carry, shared by every layer (like
:mod:`querydeck.errors`).

- Control characters (Unicode category ``Cc``: C0 including CR, LF, NUL and tab, DEL, and
  C1) are refused in every connection option: a client library may cut a value at a NUL
  or read a new line as a new parameter.
- Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) are
  refused in names other users see (connections, saved queries and their tags,
  certificates, API tokens, groups): they make text display in an order other than the one
  it is stored in (``evil\\u202egpj.exe`` reads as ``evilexe.jpg``). The marks U+200E and
  U+200F stay allowed: they only nudge neutral characters.
"""

from __future__ import annotations

import unicodedata

#: Embeddings (LRE, RLE), pop (PDF), overrides (LRO, RLO) and isolates (LRI, RLI, FSI, PDI).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def control_characters(text: str) -> list[str]:
    """The control characters (C0, DEL, C1) in ``text``, in order."""
    return [c for c in text if unicodedata.category(c) == "Cc"]


def bidi_controls(text: str) -> list[str]:
    """The bidirectional embedding, override and isolate characters in ``text``."""
    return [c for c in text if c in BIDI_CONTROLS]


def code_points(chars: list[str], limit: int = 3) -> str:
    """``U+202E, U+000A`` for a message: the characters by code point, never the text."""
    return ", ".join(f"U+{ord(c):04X}" for c in dict.fromkeys(chars[:limit]))
