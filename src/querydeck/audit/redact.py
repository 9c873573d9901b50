"""What an audit row's ``detail`` may hold: JSON-ready, bounded, and never a secret.

:func:`sanitise` is applied to every ``detail`` before it is written. It drops every key
whose name looks secret (``password``, ``secret``, ``token``, ``key``, ...), at any depth,
masks the user-info part of URLs in strings (``scheme://user:pass@host`` keeps only the
scheme and host), turns values JSON cannot hold into text, and bounds the size (depth,
items, string length) so that a careless caller cannot fill the log.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

#: Parts of a key name that make it secret (matched case-insensitively inside the name).
SECRET_KEY_PARTS = (
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "key",
    "credential",
    "cookie",
    "authorization",
    "signature",
    "private",
    "sealed",
)
#: Bounds of a sanitised detail.
MAX_DEPTH = 4
MAX_ITEMS = 100
MAX_STRING = 1000
MAX_KEY = 64

_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/?#@\s]*@")


@functools.lru_cache(maxsize=4096)
def secret_name(name: str) -> bool:
    """Whether a key name looks like it holds a secret (remembered: details reuse a few
    key names)."""
    lowered = name.lower()
    return any(part in lowered for part in SECRET_KEY_PARTS)


def _text(value: str) -> str:
    masked = _URL_USERINFO.sub(r"\g<scheme>***@", value) if "://" in value else value
    return masked if len(masked) <= MAX_STRING else masked[: MAX_STRING - 1] + "…"


def _value(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, enum.Enum):
        return _value(value.value, depth)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return _mapping(value, depth + 1) if depth < MAX_DEPTH else "…"
    if isinstance(value, list | tuple | set | frozenset):
        if depth >= MAX_DEPTH:
            return "…"
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        return [_value(v, depth + 1) for v in items[:MAX_ITEMS]]
    return _text(type(value).__name__)  # never str() of an unknown object: it may hold a secret


def _mapping(values: Mapping[Any, Any], depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw_key, raw_value in values.items():
        key = str(raw_key)[:MAX_KEY]
        if secret_name(key):
            continue
        if len(out) >= MAX_ITEMS:
            out["…"] = "more items left out"
            break
        out[key] = _value(raw_value, depth)
    return out


def sanitise(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    """``detail`` as an audit row may store it (see the module's docstring)."""
    return _mapping(detail or {}, 0)
