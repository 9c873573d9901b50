"""Per-user preferences: small JSON values a user keeps under keys of their own.

A preference belongs to its owner (the user name) and is only ever read or changed by that
owner: there is no id to guess, and another user's keys are never listed or found.

Keys are normalised to Unicode NFC and then must be 1 to 128 characters of Unicode letters
(and combining marks after the first character), decimal digits and ``. _ : - /``; ``/``
separates parts and every part starts with a letter or a digit (so no empty part, no
leading, trailing or doubled ``/``, no ``.``/``..`` parts). Whitespace, control characters,
unpaired surrogates and other symbols are refused. Listings are ordered by key in code point
order on every app database, so paging has no gaps or repeats.

A value is any plain JSON value (object, array, string, number, boolean, null) whose compact
UTF-8 JSON encoding is at most 64 KB; non-finite numbers, integers beyond signed 64 bits
(JSON parsers disagree on them), non-string
object keys and nesting deeper than 255 levels are refused.
"""

from __future__ import annotations

import math
import unicodedata
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, Field
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from querydeck.errors import (
    AppDatabaseBusy,
    PayloadTooLarge,
    PreferenceKeyInvalid,
    PreferenceNotFound,
    PreferenceValueInvalid,
)
from querydeck.store.database import AppDatabase
from querydeck.store.pages import Page
from querydeck.store.plain import utcnow
from querydeck.store.tables import PreferenceRow

MAX_KEY_CHARS = 128
MAX_VALUE_BYTES = 65_536
KEY_PUNCTUATION = frozenset("._:-/")
_KEY_RULE = (
    f"A preference key is 1 to {MAX_KEY_CHARS} characters: letters, digits and . _ : - /, "
    "each /-separated part starting with a letter or a digit."
)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
#: Attempts of an upsert that lost an insert race (the next attempt updates the winner's row).
_UPSERT_ATTEMPTS = 4


class Preference(BaseModel):
    """One preference of the current user."""

    key: str = Field(description="The key, NFC-normalised.")
    value: Any = Field(description="Any JSON value.")
    updated_at: datetime
    created_at: datetime


def normalise_key(raw: str) -> str:
    """The NFC form of ``raw`` if it is a valid key; raises ``PreferenceKeyInvalid``."""
    if len(raw) > 4 * MAX_KEY_CHARS:  # cheap bound before normalising
        raise PreferenceKeyInvalid(_KEY_RULE, detail={"problem": "too_long"})
    key = unicodedata.normalize("NFC", raw)
    if not key:
        raise PreferenceKeyInvalid(_KEY_RULE, detail={"problem": "empty"})
    if len(key) > MAX_KEY_CHARS:
        raise PreferenceKeyInvalid(_KEY_RULE, detail={"problem": "too_long"})
    part_start = True
    for position, char in enumerate(key, start=1):
        category = unicodedata.category(char)
        if part_start:
            allowed = category[0] == "L" or category == "Nd"
        else:
            allowed = category[0] in "LM" or category == "Nd" or char in KEY_PUNCTUATION
        if not allowed:
            raise PreferenceKeyInvalid(
                _KEY_RULE, detail={"problem": "character", "position": position}
            )
        part_start = char == "/"
    if part_start:  # ends with "/"
        raise PreferenceKeyInvalid(_KEY_RULE, detail={"problem": "character", "position": len(key)})
    return key


def _check_plain_json(value: Any) -> None:
    """Only JSON's own types (orjson would also turn tuples, dates, UUIDs... into JSON) and
    finite numbers (orjson writes NaN as null) within signed 64 bits."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):  # orjson has refused non-string keys already
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise PreferenceValueInvalid(
                    "A preference value cannot hold NaN or infinite numbers."
                )
        elif isinstance(item, int) and not isinstance(item, bool):
            if not _INT64_MIN <= item <= _INT64_MAX:
                raise PreferenceValueInvalid(
                    "A preference value's integers must fit in 64 bits (signed)."
                )
        elif item is not None and not isinstance(item, str | bool):
            raise PreferenceValueInvalid(
                "A preference value is JSON: an object, array, string, number, boolean or null."
            )


def encode_value(value: Any) -> tuple[Any, int]:
    """The value as it will be stored and read back, and the size of its compact UTF-8 JSON
    encoding; raises ``PayloadTooLarge`` beyond 64 KB, ``PreferenceValueInvalid`` for a
    value that is not plain JSON."""
    try:
        encoded = orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        raise PreferenceValueInvalid(
            "A preference value must be plain JSON: integers within 64 bits, valid Unicode "
            "text, string object keys and at most 255 levels of nesting."
        ) from None
    if len(encoded) > MAX_VALUE_BYTES:
        raise PayloadTooLarge(
            f"A preference value is at most {MAX_VALUE_BYTES} bytes of compact JSON.",
            detail={"limit": MAX_VALUE_BYTES, "size": len(encoded)},
        )
    _check_plain_json(value)
    return orjson.loads(encoded), len(encoded)


def _info(row: PreferenceRow) -> Preference:
    return Preference(
        key=row.key, value=row.value, updated_at=row.updated_at, created_at=row.created_at
    )


def _not_found(key: str) -> PreferenceNotFound:
    return PreferenceNotFound(f"You have no preference {key!r}.", detail={"key": key})


class Preferences:
    """Get, list, upsert and delete preferences, per owner."""

    def __init__(self, db: AppDatabase) -> None:
        self._db = db

    def _order(self) -> ColumnElement[str]:
        """Keys in code point order: SQLite's default collation is already binary;
        PostgreSQL's "C" collation compares the UTF-8 bytes, which is the same order."""
        column = PreferenceRow.__table__.c.key
        return column if self._db.is_sqlite else column.collate("C")

    def list(self, username: str, *, limit: int = 100, offset: int = 0) -> Page[Preference]:
        """The owner's preferences by key (code point order)."""
        owned = PreferenceRow.owner == username
        with self._db.read() as tx:
            total = tx.scalar(select(func.count()).select_from(PreferenceRow).where(owned))
            rows = tx.scalars(
                select(PreferenceRow)
                .where(owned)
                .order_by(self._order())
                .limit(limit)
                .offset(offset)
            ).all()
            items = [_info(r) for r in rows]
        return Page(items=items, total=total or 0, limit=limit, offset=offset)

    def get(self, username: str, key: str) -> Preference:
        key = normalise_key(key)
        with self._db.read() as tx:
            row = tx.get(PreferenceRow, (username, key))
            if row is None:
                raise _not_found(key)
            return _info(row)

    def put(self, username: str, key: str, value: Any) -> tuple[Preference, bool]:
        """Create or replace a preference; returns it and whether it was created.

        Race-safe on SQLite and PostgreSQL: an UPDATE first (which on SQLite takes the write
        lock, serialising writers), an INSERT when no row was there; an INSERT that lost a
        race with another writer's (unique violation) is retried as the UPDATE.
        """
        key = normalise_key(key)
        stored, _size = encode_value(value)

        def upsert(tx: Session) -> tuple[Preference, bool]:
            now = utcnow()
            changed = tx.execute(
                update(PreferenceRow)
                .where(PreferenceRow.owner == username, PreferenceRow.key == key)
                .values(value=stored, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if changed.rowcount:  # type: ignore[attr-defined]  # a CursorResult
                row = tx.get(PreferenceRow, (username, key), populate_existing=True)
                assert row is not None  # the UPDATE holds its lock until commit
                return _info(row), False
            row = PreferenceRow(
                owner=username, key=key, value=stored, created_at=now, updated_at=now
            )
            tx.add(row)
            tx.flush()
            return _info(row), True

        for _attempt in range(_UPSERT_ATTEMPTS):
            try:
                return self._db.write(upsert)
            except IntegrityError:  # another writer inserted the key first: update it
                continue
        raise AppDatabaseBusy(  # pragma: no cover - needs a delete between every attempt
            "The preference kept changing under concurrent writes; try again.",
            detail={"retry_after_s": 1},
        )

    def delete(self, username: str, key: str) -> None:
        key = normalise_key(key)

        def remove(tx: Session) -> None:
            row = tx.get(PreferenceRow, (username, key))
            if row is None:
                raise _not_found(key)
            tx.delete(row)

        self._db.write(remove)
