"""Values Python's ``datetime`` cannot hold, and intervals, as text (issue 16, item 7).

Engines return dates and timestamps Python cannot represent: DuckDB's ``infinity`` and
``-infinity`` (the largest and smallest 64-bit or 32-bit values), years before 1 or after
9999 (PostgreSQL reaches 294276 AD, DuckDB 294247 AD and 290309 BC). ``to_pylist()`` raises
for them, which made every page and export of such a run fail. Here they become text:

- ``infinity`` / ``-infinity`` for the sentinels (PostgreSQL's own spelling);
- ISO 8601 with an expanded year otherwise: ``+10000-01-01T00:00:00``, ``0000-12-31``
  (year 0 is 1 BC, astronomical numbering), ``-0001-…``; a zone-aware timestamp in UTC
  with ``Z``, as the ordinary ones.

Intervals (Arrow ``month_day_nano_interval``: PostgreSQL and DuckDB ``interval``) become
ISO 8601 durations as PostgreSQL's ``iso_8601`` interval style writes them: ``P1DT2H``,
``P1Y2M``, ``PT0.5S``, ``P-1DT3H`` (each part with its own sign), ``PT0S`` for zero;
durations (MySQL ``TIME``) likewise, in hours: ``PT838H59M59S``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.types as pat

INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1
POS_INFINITY = "infinity"
NEG_INFINITY = "-infinity"
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}
_NANOS_PER_SECOND = 1_000_000_000


def civil_from_days(days: int) -> tuple[int, int, int]:
    """Year, month, day of a day count from 1970-01-01 in the proleptic Gregorian calendar,
    for any year (H. Hinnant's algorithm)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def _year(year: int) -> str:
    if 0 <= year <= 9999:
        return f"{year:04d}"
    return f"{'+' if year > 0 else '-'}{abs(year):04d}"


def iso_date(days: int) -> str:
    year, month, day = civil_from_days(days)
    return f"{_year(year)}-{month:02d}-{day:02d}"


def iso_timestamp(value: int, unit: str, zoned: bool) -> str:
    """``value`` units since the epoch as ISO 8601 (fraction shown when not zero, with the
    digits of ``unit``; ``Z`` when ``zoned``)."""
    per_second = _PER_SECOND[unit]
    seconds, fraction = divmod(value, per_second)
    days, clock = divmod(seconds, 86_400)
    hours, rest = divmod(clock, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{iso_date(days)}T{hours:02d}:{minutes:02d}:{secs:02d}"
    if fraction:
        text += f".{fraction:0{_DIGITS[unit]}d}"
    return text + ("Z" if zoned else "")


def is_sentinel_type(arrow_type: pa.DataType) -> bool:
    """Dates and timestamps: the types whose extreme values need this module."""
    return bool(pat.is_timestamp(arrow_type) or pat.is_date(arrow_type))


def _limit(arrow_type: pa.DataType) -> int:
    return INT32_MAX if pat.is_date32(arrow_type) else INT64_MAX


def temporal_text(value: int, arrow_type: pa.DataType) -> str:
    """One date or timestamp (its integer value) as text, whatever its range."""
    limit = _limit(arrow_type)
    if value >= limit:
        return POS_INFINITY
    if value <= -limit:
        return NEG_INFINITY
    if pat.is_timestamp(arrow_type):
        return iso_timestamp(value, arrow_type.unit, arrow_type.tz is not None)
    if pat.is_date64(arrow_type):
        return iso_date(value // 86_400_000)
    return iso_date(value)


def _ints(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The integers behind a date or timestamp column."""
    return column.cast(pa.int32() if pat.is_date32(column.type) else pa.int64())


def temporal_values(column: pa.Array | pa.ChunkedArray) -> list[str | None]:
    """A date or timestamp column as text, value by value (the slow, always-working path
    used when Python's ``datetime`` cannot hold some value)."""
    ints = _ints(column)
    return [None if v is None else temporal_text(v, column.type) for v in ints.to_pylist()]


def _per_day(arrow_type: pa.DataType) -> int:
    if pat.is_timestamp(arrow_type):
        return int(_PER_SECOND[arrow_type.unit]) * 86_400
    if pat.is_date64(arrow_type):
        return 86_400_000
    return 1


#: Days from 1970-01-01 to 0001-01-01, and to the day after 9999-12-31.
_FIRST_DAY, _END_DAY = -719_162, 2_932_897


def has_extremes(column: pa.Array | pa.ChunkedArray) -> bool:
    """Whether a date or timestamp column holds a value Python's ``datetime`` (years 1 to
    9999) cannot hold: one pass for the minimum and maximum."""
    if not is_sentinel_type(column.type) or column.null_count == len(column):
        return False
    import pyarrow.compute as pc  # Arrow's kernels: loaded by the first date or timestamp

    bounds = pc.min_max(_ints(column))
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    per_day = _per_day(column.type)
    return bool(low < _FIRST_DAY * per_day or high >= _END_DAY * per_day)


def extreme_text_array(column: pa.Array, text: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """A date or timestamp array holding extreme values as a string array: those as
    :func:`temporal_text` writes them (the ISO-8601 form of every other value), the others
    by ``text`` (the formatting of any other batch)."""
    import pyarrow.compute as pc

    ints = _ints(column)
    per_day = _per_day(column.type)
    low = pa.scalar(_FIRST_DAY * per_day, ints.type)
    high = pa.scalar(min(_END_DAY * per_day, _limit(column.type)), ints.type)
    outside = pc.or_(pc.less(ints, low), pc.greater_equal(ints, high))
    masked = pc.if_else(outside, pa.scalar(None, column.type), column)
    written = text(masked).to_pylist()
    out = [
        plain if value is None or not extreme else temporal_text(value, column.type)
        for value, extreme, plain in zip(
            ints.to_pylist(), outside.to_pylist(), written, strict=True
        )
    ]
    return pa.array(out, type=pa.string())


def _leaves(arrow_type: pa.DataType) -> bool:
    """Whether a nested type holds a date or timestamp somewhere inside."""
    if is_sentinel_type(arrow_type):
        return True
    if pat.is_list(arrow_type) or pat.is_large_list(arrow_type):
        return _leaves(arrow_type.value_type)
    if pat.is_map(arrow_type):
        return _leaves(arrow_type.key_type) or _leaves(arrow_type.item_type)
    if pat.is_struct(arrow_type):
        return any(_leaves(f.type) for f in arrow_type)
    return False


def _children(column: pa.Array) -> list[pa.Array]:
    """The child arrays of a nested array, as far as its offsets reach."""
    arrow_type = column.type
    if pat.is_struct(arrow_type):
        return list(column.flatten())
    if pat.is_map(arrow_type):
        return [_reached(column, column.keys), _reached(column, column.items)]
    if pat.is_list(arrow_type) or pat.is_large_list(arrow_type):
        return [_reached(column, column.values)]
    return []


def _reached(column: pa.Array, values: pa.Array) -> pa.Array:
    """The part of a list or map array's ``values`` its (possibly sliced) offsets span."""
    offsets = column.offsets
    start, end = offsets[0].as_py(), offsets[-1].as_py()
    return values.slice(start, end - start)


def nested_extremes(column: pa.Array | pa.ChunkedArray) -> bool:
    """Whether a list, map or struct column holds a date or timestamp that Python's
    ``datetime`` cannot hold (an infinite date in a PostgreSQL or DuckDB array)."""
    if is_sentinel_type(column.type) or not _leaves(column.type):
        return False
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    pending = [child for chunk in chunks for child in _children(chunk)]
    while pending:
        child = pending.pop()
        if is_sentinel_type(child.type):
            if has_extremes(child):
                return True
        elif _leaves(child.type):
            pending.extend(_children(child))
    return False


def text_leaves(column: pa.Array) -> pa.Array:
    """A nested array with every date and timestamp inside written as text (ISO 8601,
    ``infinity``, expanded years), the rest as it is: what pages and exports write when
    :func:`nested_extremes` says Python's ``datetime`` cannot hold some value."""
    arrow_type = column.type
    if is_sentinel_type(arrow_type):
        return pa.array(temporal_values(column), type=pa.string())
    if not _leaves(arrow_type):
        return column
    mask = column.is_null() if column.null_count else None
    if pat.is_struct(arrow_type):
        return pa.StructArray.from_arrays(
            [text_leaves(child) for child in column.flatten()],
            names=[f.name for f in arrow_type],
            mask=mask,
        )
    import pyarrow.compute as pc

    offsets = pc.subtract(column.offsets, column.offsets[0])
    children = [text_leaves(child) for child in _children(column)]
    if pat.is_map(arrow_type):
        return pa.MapArray.from_arrays(offsets, *children, mask=mask)
    kind = pa.LargeListArray if pat.is_large_list(arrow_type) else pa.ListArray
    return kind.from_arrays(offsets, children[0], mask=mask)


def iso_duration(months: int, days: int, nanoseconds: int) -> str:
    """An interval as an ISO 8601 duration, PostgreSQL's ``iso_8601`` style."""
    years, months = int(months / 12), months - int(months / 12) * 12  # toward zero, as C
    negative = nanoseconds < 0
    seconds, fraction = divmod(abs(nanoseconds), _NANOS_PER_SECOND)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    sign = "-" if negative else ""
    date = "".join(
        f"{amount}{unit}" for amount, unit in ((years, "Y"), (months, "M"), (days, "D")) if amount
    )
    clock = ""
    if hours:
        clock += f"{sign}{hours}H"
    if minutes:
        clock += f"{sign}{minutes}M"
    if secs or fraction:
        digits = f".{fraction:09d}".rstrip("0") if fraction else ""
        clock += f"{sign}{secs}{digits}S"
    if not date and not clock:
        return "PT0S"
    return f"P{date}" + (f"T{clock}" if clock else "")


def interval_text(value: Any) -> str:
    """A ``MonthDayNano`` value (what pyarrow gives for an interval) as a duration."""
    return iso_duration(int(value.months), int(value.days), int(value.nanoseconds))


def interval_text_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return pa.array(
        [None if v is None else interval_text(v) for v in column.to_pylist()], type=pa.string()
    )


def duration_text(value: dt.timedelta) -> str:
    """A duration (MySQL ``TIME``, Spark's day-time intervals) as an ISO 8601 duration in
    hours, minutes and seconds, each part with its sign: ``PT838H59M59S``,
    ``PT-838H-59M-59S``."""
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    return iso_duration(0, 0, micros * 1000)
