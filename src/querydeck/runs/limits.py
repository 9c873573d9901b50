"""A run's row cap and timeout: what was asked for, what applies, and why they differ.

A request above the server's ceiling runs with the ceiling; the run records each limit it
lowered (``RunInfo.limits_applied``) so the answer, the CLI and the history say so instead
of lowering it silently.
"""

from __future__ import annotations

from dataclasses import dataclass

from querydeck.runs.models import AppliedLimit, RunRequest
from querydeck.settings import Settings


@dataclass(frozen=True)
class Limits:
    max_rows: int
    timeout_s: float
    lowered: list[AppliedLimit]


def applied_limits(request: RunRequest, settings: Settings) -> Limits:
    """The row cap and timeout a run gets for ``request``, with a note per lowered one."""
    lowered: list[AppliedLimit] = []
    if request.export_all:
        row_ceiling, row_setting = settings.export_max_rows, "QUERYDECK_EXPORT_MAX_ROWS"
        what = 'the largest row cap of an "export all" run'
    else:
        row_ceiling, row_setting = settings.max_rows_limit, "QUERYDECK_MAX_ROWS_LIMIT"
        what = "the largest row cap a run may ask for"
    max_rows = request.max_rows or (
        row_ceiling if request.export_all else settings.default_max_rows
    )
    if max_rows > row_ceiling:
        lowered.append(
            AppliedLimit(
                limit="max_rows",
                requested=max_rows,
                applied=row_ceiling,
                setting=row_setting,
                reason=f"{row_ceiling:,} rows is {what} on this server ({row_setting}).",
            )
        )
        max_rows = row_ceiling
    timeout_s = request.timeout_s or settings.default_timeout_s
    if timeout_s > settings.max_timeout_s:
        lowered.append(
            AppliedLimit(
                limit="timeout_s",
                requested=timeout_s,
                applied=settings.max_timeout_s,
                setting="QUERYDECK_MAX_TIMEOUT_S",
                reason=f"{settings.max_timeout_s:g} s is the longest timeout a run may ask "
                "for on this server (QUERYDECK_MAX_TIMEOUT_S).",
            )
        )
        timeout_s = settings.max_timeout_s
    return Limits(max_rows=max_rows, timeout_s=timeout_s, lowered=lowered)


def timeout_message(timeout_s: float, max_timeout_s: float | None) -> str:
    """QUERY_TIMEOUT's message: which limit stopped the statement and how to raise it."""
    text = f"The statement ran longer than the run's timeout of {timeout_s:g} s and was stopped."
    if max_timeout_s is None:
        return text
    if timeout_s < max_timeout_s:
        return (
            f"{text} Ask for a longer one with --timeout (API: timeout_s), up to "
            f"{max_timeout_s:g} s on this server (QUERYDECK_MAX_TIMEOUT_S)."
        )
    return (
        f"{text} That is this server's longest timeout (QUERYDECK_MAX_TIMEOUT_S); an "
        "administrator can raise it, or narrow the query."
    )
