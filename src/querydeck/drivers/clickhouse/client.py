"""The clickhouse-connect client querydeck uses, and ClickHouse's errors as querydeck's.

clickhouse-connect's handshake reads ``system.settings`` with a ``readonly`` column that
servers before 20.x do not have (Debian's 18.16 package among them): on such a server the
handshake works that column out from the profile's ``readonly`` setting (1: no setting may
change; 0 or 2: they may), so that the client never sends a setting the profile forbids.
The client settings the handshake would add to every request (input formats for inserts)
are left out: querydeck never inserts, and a read-only profile refuses them.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from clickhouse_connect.driver._backend.operations import Operation, QueryOp
from clickhouse_connect.driver._backend.orchestration import InitializationResult
from clickhouse_connect.driver.exceptions import Error as ClickHouseError
from clickhouse_connect.driver.httpclient import HttpClient

#: The handshake's query that older servers cannot answer, and what they are asked instead.
_SETTINGS = "FROM system.settings"
_SETTINGS_WITHOUT_READONLY = (
    "SELECT name, value, "
    "toUInt8((SELECT value FROM system.settings WHERE name = 'readonly') = '1') AS readonly "
    "FROM system.settings LIMIT 10000"
)
#: Unknown identifier (the ``readonly`` column).
_UNKNOWN_IDENTIFIER = 47

_CODE = re.compile(r"\bCode:\s*(\d+)")
_TAIL = re.compile(r"(?:, e\.what\(\) = |\s*\(version [^)]*\)).*$", re.S)
_URL = re.compile(r"\s*\(for url [^)]*\)")
_STACK = re.compile(r"\s*Stack trace.*", re.S)
_SERVER_ANSWER = re.compile(r".*?server response:\s*", re.S)


class CompatibleClient(HttpClient):
    """``HttpClient`` whose handshake also works against servers without
    ``system.settings.readonly``."""

    def _execute_operation(self, operation: Operation) -> object:
        if isinstance(operation, QueryOp) and _SETTINGS in operation.text:
            try:
                return super()._execute_operation(operation)
            except ClickHouseError as exc:
                if error_code(exc) != _UNKNOWN_IDENTIFIER:
                    raise
            operation = dataclasses.replace(operation, text=_SETTINGS_WITHOUT_READONLY)
        return super()._execute_operation(operation)

    def _apply_init_result(self, result: InitializationResult) -> None:
        super()._apply_init_result(dataclasses.replace(result, client_setting_writes=()))


def error_code(exc: BaseException) -> int | None:
    """ClickHouse's numeric error code of a clickhouse-connect error, when it has one."""
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    found = _CODE.search(str(exc))
    return int(found.group(1)) if found else None


def error_message(exc: BaseException) -> str:
    """The server's own message without the client's wrapping, the URL (which may name
    the host), the server version or a stack trace."""
    text = _STACK.sub("", _URL.sub("", str(exc)))
    if "DB::Exception:" in text:  # the innermost of nested exceptions is the server's own
        text = _TAIL.sub("", text.rsplit("DB::Exception:", 1)[1])
    else:
        text = _SERVER_ANSWER.sub("", text)
    text = " ".join(text.split()).rstrip(",")
    return text or type(exc).__name__


def client_kwargs(**values: Any) -> dict[str, Any]:
    """Keyword arguments for :class:`CompatibleClient` with querydeck's fixed choices:
    no session (each request stands alone, so nothing a statement sets survives it), no
    retries of a failed request, no row limit of the client's own."""
    return {
        "autogenerate_session_id": False,
        "query_limit": 0,
        "query_retries": 0,
        "client_name": "querydeck",
        **values,
    }
