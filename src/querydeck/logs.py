"""Structured JSON logs on stderr, with the request id bound by the API.

Secrets never reach a log line: options are logged by name only, SQLAlchemy hides bound
parameters, and driver messages are sanitised before they become errors.

structlog loads with the first line logged (or :func:`configure`): a CLI command, which
logs nothing unless something goes wrong, never imports it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TextIO, cast

if TYPE_CHECKING:
    import structlog

_configured = False

#: The id of the API request being answered (None outside a request); audit entries and
#: runs record it.
_REQUEST_ID: ContextVar[str | None] = ContextVar("querydeck_request_id", default=None)


def _shared() -> list[Any]:
    import structlog

    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time of the record (it may have been
    replaced since configuration, e.g. by a test runner or a daemoniser)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _stderr_logger(*args: Any) -> structlog.PrintLogger:
    import structlog

    return structlog.PrintLogger(file=sys.stderr)


def configure(level: str = "INFO") -> None:
    """JSON lines on stderr for querydeck's own logs and for the standard ``logging``
    records of the libraries (uvicorn, SQLAlchemy...)."""
    import structlog

    global _configured
    numeric = logging.getLevelName(level)
    handler = _StderrHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*_shared(), structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            *_shared(),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    _configured = True


class _Deferred:
    """A module's logger, resolved through structlog when it first logs."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, attribute: str) -> Any:
        if self._logger is None:
            import structlog

            self._logger = structlog.get_logger(self._name)
        return getattr(self._logger, attribute)


def get(name: str) -> structlog.stdlib.BoundLogger:
    return cast("structlog.stdlib.BoundLogger", _Deferred(name))


@contextmanager
def request_scope(request_id: str) -> Iterator[None]:
    """Within it, log lines carry ``request_id`` and :func:`request_id` answers it."""
    import structlog

    token = _REQUEST_ID.set(request_id)
    try:
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            yield
    finally:
        _REQUEST_ID.reset(token)


def request_id() -> str | None:
    """The id of the API request this code runs for (None outside a request)."""
    return _REQUEST_ID.get()
