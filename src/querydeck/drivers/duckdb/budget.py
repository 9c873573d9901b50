"""The size budget of a DuckDB statement: a bound on what its functions may build.

DuckDB checks its interrupt between vectors, never inside one function call, and its
``memory_limit`` does not count the heap strings and lists are built on: ``SELECT
repeat('x', 1e9)`` with a 2 s timeout and a 1 GB limit ran for 13 s and grew the process by
2 GB. A few functions decide the size of their result by an argument (a count, a width, a
replacement); this module reads DuckDB's own parse tree (``json_serialize_sql``, so every
spelling, quoting, qualification and alias reaches it) and bounds them before a statement
runs:

- a call whose arguments are all constants is folded once: what it builds counts as is;
- a call with a column or expression among its arguments runs for a whole vector
  (``ROWS`` values) in one go, and in a lambda once per list element: it counts ``ROWS``
  times;
- a call that multiplies a value it does not know (``repeat(col, 3)``, ``replace(s, 'a',
  'bb')``) multiplies everything else; the product of the factors is bounded too;
- a size argument that is not a constant cannot be bounded, and is refused.

The statement is refused with ``SQL_VALUE_TOO_LARGE`` when the total passes
:data:`MAX_BUILT_BYTES` or the factors :data:`MAX_FACTOR`. Known limits (docs/security.md):
values copied by reference (a list naming one big value many times) are not counted, nor
the values a table holds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from querydeck.errors import SqlValueTooLarge

#: What one statement's functions may build, in bytes (SQLite's SQLITE_LIMIT_LENGTH too).
MAX_BUILT_BYTES = 64 * 1024 * 1024
#: Values one vector holds: a call with a non-constant argument builds this many at once.
ROWS = 2048
#: The product of the factors by which calls multiply values they do not know.
MAX_FACTOR = 64
#: Bytes one character may take in UTF-8 (padding counts characters).
CHAR_BYTES = 4
#: Bytes one list element takes at least.
ELEMENT_BYTES = 16

_UNITS_S = {
    "microsecond": 1e-6,
    "millisecond": 1e-3,
    "second": 1.0,
    "minute": 60.0,
    "hour": 3600.0,
    "day": 86400.0,
    "week": 7 * 86400.0,
    "month": 28 * 86400.0,  # the shortest month: the most steps
    "quarter": 89 * 86400.0,
    "year": 365 * 86400.0,
    "decade": 3652 * 86400.0,
    "century": 36524 * 86400.0,
    "millennium": 365242 * 86400.0,
}
_INTERVAL_FUNCTIONS = {
    f"to_{unit}s" if unit != "century" else "to_centuries": seconds
    for unit, seconds in _UNITS_S.items()
    if unit not in ("quarter", "decade", "millennium")
} | {"to_millennia": _UNITS_S["millennium"], "to_decades": _UNITS_S["decade"]}
_INTERVAL_TEXT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]+?)s?\s*$", re.IGNORECASE)
_PRINTF_SPEC = re.compile(r"%[-+ #0']*(\*|[0-9]*)(?:\.(\*|[0-9]*))?")
_FORMAT_FIELD = re.compile(r"\{([^{}]*)\}")
_NESTED_FIELD = re.compile(r"\{[^{}]*\{")


class Unbounded(Exception):
    """A size argument is not a constant: the call cannot be bounded."""


@dataclass
class Call:
    """One call of a sized function: its name, its arguments, and whether it runs once per
    value (a non-constant argument, or inside a lambda)."""

    name: str
    args: list[Any]
    per_value: bool
    #: Bytes the call builds for one value, when known.
    built: float = 0.0
    #: How many times the call multiplies a value it does not know.
    factor: float = 1.0


@dataclass
class Budget:
    built: float = 0.0
    factor: float = 1.0
    calls: list[str] = field(default_factory=list)


def check_budget(tree: dict[str, Any]) -> None:
    """Refuse the statement whose tree is ``tree`` (``json_serialize_sql``'s answer) when
    its sized calls could build more than the budget."""
    budget = Budget()
    for call in _calls(tree, in_lambda=False):
        try:
            SIZED[call.name](call)
        except Unbounded as exc:
            hint = " (a bar of n characters: left(repeat('*', 100), n))"
            raise SqlValueTooLarge(
                f"{call.name}() is called with a {exc} that is not a constant, so the size "
                f"of what it builds cannot be bounded; write the {exc} as a constant"
                f"{hint if call.name == 'repeat' else ''}.",
                detail={"function": call.name, "argument": str(exc)},
            ) from None
        budget.built += call.built * (ROWS if call.per_value else 1)
        budget.factor *= call.factor
        budget.calls.append(call.name)
    if budget.factor > MAX_FACTOR or budget.built * budget.factor > MAX_BUILT_BYTES:
        names = ", ".join(sorted(set(budget.calls)))
        if budget.factor > MAX_FACTOR:
            reason = (
                f"could multiply the size of a value {budget.factor:.0f} times, more than the "
                f"{MAX_FACTOR} times a statement may"
            )
        else:
            reason = (
                f"could build about {_size(budget.built * budget.factor)}, more than the "
                f"{_size(MAX_BUILT_BYTES)} a statement may build"
            )
        raise SqlValueTooLarge(
            f"This statement's calls of {names} {reason}; ask for smaller values.",
            detail={
                "functions": sorted(set(budget.calls)),
                "bytes": int(min(budget.built * budget.factor, 2**62)),
                "max_bytes": MAX_BUILT_BYTES,
                "factor": int(min(budget.factor, 2**62)),
                "max_factor": MAX_FACTOR,
            },
        )


def _size(n: float) -> str:
    if n >= 1024**3:
        return f"{n / 1024**3:.1f} GiB"
    return f"{n / 1024**2:.1f} MiB"


def _calls(node: Any, *, in_lambda: bool) -> Iterator[Call]:
    """Every call of a sized function in ``node``, however deep (subqueries, CTEs,
    lambdas, window and filter clauses)."""
    if isinstance(node, list):
        for item in node:
            yield from _calls(item, in_lambda=in_lambda)
        return
    if not isinstance(node, dict):
        return
    if node.get("class") == "LAMBDA":
        yield from _calls(node.get("expr"), in_lambda=True)
        return
    if node.get("type") == "TABLE_FUNCTION":
        # Rows generated by a table function are checked for the interrupt between
        # vectors: only its arguments are calls to bound.
        function = node.get("function") or {}
        yield from _calls(function.get("children"), in_lambda=in_lambda)
        rest = {k: v for k, v in node.items() if k != "function"}
        yield from _calls(list(rest.values()), in_lambda=in_lambda)
        return
    if node.get("class") == "FUNCTION":
        name = str(node.get("function_name", "")).lower()
        if name in SIZED:
            args = list(node.get("children") or [])
            per_value = in_lambda or not all(_is_constant(a) for a in args)
            yield Call(name, args, per_value)
    for value in node.values():
        if isinstance(value, dict | list):
            yield from _calls(value, in_lambda=in_lambda)


def _is_constant(node: Any) -> bool:
    return _constant(node) is not _MISSING


_MISSING = object()


def _constant(node: Any) -> Any:
    """The value of a constant (through casts), or ``_MISSING``."""
    if not isinstance(node, dict):
        return _MISSING
    if node.get("class") == "CAST":
        return _constant(node.get("child"))
    if node.get("class") != "CONSTANT":
        return _MISSING
    value = node.get("value") or {}
    if value.get("is_null"):
        return None
    raw = value.get("value")
    kind = (value.get("type") or {}).get("id")
    if kind in ("HUGEINT", "UHUGEINT") and isinstance(raw, dict):
        return int(raw.get("upper", 0)) * 2**64 + int(raw.get("lower", 0))
    if kind == "DECIMAL" and isinstance(raw, int):
        scale = ((value.get("type") or {}).get("type_info") or {}).get("scale", 0)
        return raw / 10 ** int(scale)
    return raw


def _number(call: Call, index: int, what: str, default: float | None = None) -> float:
    """The argument ``index`` as a count (at least 0)."""
    return max(_signed(call, index, what, default), 0.0)


def _signed(call: Call, index: int, what: str, default: float | None = None) -> float:
    """The argument ``index`` as a number."""
    if index >= len(call.args):
        if default is None:
            raise Unbounded(what)
        return default
    value = _constant(call.args[index])
    if value is None:
        return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Unbounded(what) from None
    return 0.0 if math.isnan(number) else number


def _length(call: Call, index: int) -> float | None:
    """The length in bytes of the constant argument ``index``, or None when not constant."""
    if index >= len(call.args):
        return None
    value = _constant(call.args[index])
    if value is _MISSING:
        return None
    return float(len(str(value).encode())) if value is not None else 0.0


def _repeat(call: Call) -> None:
    count = _number(call, 1, "count")
    length = _length(call, 0)
    if length is None:
        call.factor = max(count, 1.0)
    else:
        call.built = length * count


def _pad(call: Call) -> None:
    call.built = _number(call, 1, "count") * CHAR_BYTES


def _resize(call: Call) -> None:
    size = _number(call, 1, "size")
    call.built = size * ELEMENT_BYTES
    if len(call.args) > 2:
        fill = _length(call, 2)
        if fill is None:
            call.factor = max(size, 1.0)
        else:
            call.built += size * fill


def _min_length(index: int, what: str) -> Callable[[Call], None]:
    def bound(call: Call) -> None:
        call.built = _number(call, index, what, default=64.0)

    return bound


def _replace(call: Call) -> None:
    to = _length(call, 2)
    if to is None:
        raise Unbounded("replacement")
    frm = _length(call, 1)
    if call.name == "replace" and frm:
        call.factor = max(1.0, math.ceil(to / frm))
    elif to:
        call.factor = to + 1.0  # a pattern may match between every two characters


def _printf(call: Call) -> None:
    fmt = _constant(call.args[0]) if call.args else None
    if not isinstance(fmt, str):
        raise Unbounded("format string")
    widths: list[str] = []
    if call.name == "printf":
        for spec in _PRINTF_SPEC.finditer(fmt):
            widths.extend(w for w in spec.groups() if w)
    else:
        if _NESTED_FIELD.search(fmt):
            raise Unbounded("width")
        for spec in _FORMAT_FIELD.finditer(fmt):
            widths.extend(re.findall(r"[0-9]+|\*", spec.group(1).partition(":")[2]))
    if "*" in widths:
        raise Unbounded("width")
    call.built = len(fmt) + sum(int(w) for w in widths)


def _range(call: Call) -> None:
    bounds = [_constant(a) for a in call.args[:2]]
    if any(a is _MISSING for a in bounds):
        raise Unbounded("bound")
    if len(call.args) == 1:
        count = _number(call, 0, "bound")
    elif any(isinstance(a, str) for a in bounds):
        count = _temporal_count(call)
    else:
        start, stop = _signed(call, 0, "bound"), _signed(call, 1, "bound")
        step = abs(_signed(call, 2, "step", default=1.0))
        count = abs(stop - start) / step if step else 0.0
    call.built = count * 8


def _temporal_count(call: Call) -> float:
    try:
        start, stop = (datetime.fromisoformat(str(_constant(a))) for a in call.args[:2])
    except ValueError:
        raise Unbounded("bound") from None
    step = _interval_s(call.args[2]) if len(call.args) > 2 else 86400.0
    return abs((stop - start).total_seconds()) / step if step else 0.0


def _interval_s(node: Any) -> float:
    """A constant interval's length in seconds (its shortest, for months)."""
    if node.get("class") == "FUNCTION" and node.get("function_name") in _INTERVAL_FUNCTIONS:
        constants = [c for c in _constants_in(node) if isinstance(c, int | float)]
        if len(constants) == 1:
            return float(constants[0]) * _INTERVAL_FUNCTIONS[node["function_name"]]
    value = _constant(node)
    match = _INTERVAL_TEXT.match(value) if isinstance(value, str) else None
    if match and match.group(2).lower() in _UNITS_S:
        return float(match.group(1)) * _UNITS_S[match.group(2).lower()]
    raise Unbounded("step")


def _constants_in(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        if node.get("class") == "CONSTANT":
            yield _constant(node)
        elif node.get("class") in ("FUNCTION", "CAST"):
            for child in [node.get("child"), *(node.get("children") or [])]:
                yield from _constants_in(child)
        else:
            raise Unbounded("step")


#: The functions whose result's size an argument sets, with how to bound it. Aliases are
#: listed too (a test compares this table with ``duckdb_functions()``).
SIZED: dict[str, Callable[[Call], None]] = {
    "repeat": _repeat,
    "lpad": _pad,
    "rpad": _pad,
    "list_resize": _resize,
    "array_resize": _resize,
    "range": _range,
    "generate_series": _range,
    "printf": _printf,
    "format": _printf,
    "to_base": _min_length(2, "min_length"),
    "bitstring": _min_length(1, "length"),
    "replace": _replace,
    "regexp_replace": _replace,
}
