"""Reading a model's answer: it is untrusted text, only ever parsed as data.

Stage 2 answers one SQL statement (a ```sql block, or bare SQL starting like a query);
prose, several blocks or an empty answer are refused. Stage 1 answers a JSON object naming
tables; a fenced or prefixed object is repaired, names not among the candidates dropped.
Nothing here evaluates, compiles or executes what the model wrote.
"""

from __future__ import annotations

import re

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n(.*?)```", re.S)
_QUERY_START = re.compile(r"^\s*(with|select|\()\b", re.I)
_OBJECT = re.compile(r"\{.*\}", re.S)


class NoSql(ValueError):
    """The answer holds no single SQL statement; the text says why (fed back)."""


class TableChoice(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tables: list[str] = Field(max_length=200)


def sql_of(text: str | None) -> str:
    """The one SQL statement of an answer."""
    if text is None or not text.strip():
        raise NoSql("The answer was empty.")
    blocks = [body for lang, body in _FENCE.findall(text) if lang.lower() in ("", "sql")]
    if len(blocks) > 1:
        raise NoSql("The answer had several code blocks; give exactly one.")
    if blocks:
        sql = str(blocks[0]).strip()
    elif _QUERY_START.match(text):
        sql = text.strip()
    else:
        raise NoSql("The answer was prose, not SQL.")
    if not sql:
        raise NoSql("The code block was empty.")
    return sql


def tables_of(text: str | None, allowed: list[str]) -> list[str]:
    """The tables named by a stage 1 answer, among ``allowed`` (``schema.table``; bare
    names match a unique allowed table); raises ValueError when it is not that JSON."""
    if text is None:
        raise ValueError("empty answer")
    found = _OBJECT.search(text)
    if found is None:
        raise ValueError("no JSON object")
    try:
        choice = TableChoice.model_validate(orjson.loads(found.group(0)))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise ValueError(f"not the expected JSON: {type(exc).__name__}") from None
    by_key = {a.casefold(): a for a in allowed}
    by_bare: dict[str, list[str]] = {}
    for a in allowed:
        by_bare.setdefault(a.split(".", 1)[-1].casefold(), []).append(a)
    chosen: list[str] = []
    for name in choice.tables:
        if not isinstance(name, str):
            continue
        key = name.strip().strip('"`[]').casefold()
        match = by_key.get(key)
        if match is None and len(by_bare.get(key, [])) == 1:
            match = by_bare[key][0]
        if match is not None and match not in chosen:
            chosen.append(match)
    return chosen
