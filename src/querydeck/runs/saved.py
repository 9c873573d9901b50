"""Saved queries: a name, a description, SQL, a default connection, tags and a favourite flag.

Each saved query has an owner (a user name) and its name is unique per owner (NFC +
case-insensitive). A query its owner marks ``shared`` (it needs a default connection) is
visible to every user who may query that connection, read-only; any other user's query
answers 404, never 403, so ids leak nothing. Administrators see all. The default connection
is kept by id, so a renamed connection still fits; a deleted one leaves the query without a
default (and unshared in effect).
"""

from __future__ import annotations

import dataclasses
import unicodedata
import uuid
from typing import TYPE_CHECKING

from querydeck.errors import (
    Conflict,
    SavedQueryAmbiguous,
    SavedQueryNameInvalid,
    SavedQueryNameTaken,
    SavedQueryNotFound,
    SavedQueryNotOwner,
    SavedQueryShareInvalid,
    SavedQueryTagInvalid,
)
from querydeck.runs.charts import checked_chart
from querydeck.runs.models import SavedQuery, SavedQueryChanges, SavedQueryInput
from querydeck.sources.connections import ConnectionStore, name_key
from querydeck.store.database import AppDatabase
from querydeck.store.pages import Page
from querydeck.store.plain import utcnow
from querydeck.text import bidi_controls, code_points

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.orm import Session

    from querydeck.store.tables import SavedQueryRow

MAX_TAG_CHARS = 64


@dataclasses.dataclass(frozen=True)
class Reader:
    """Who is looking: their own queries, shared ones on ``shared_on`` connection ids, or
    (``admin``) all."""

    username: str
    admin: bool = False
    shared_on: frozenset[str] = frozenset()

    def sees(self) -> ColumnElement[bool]:
        from sqlalchemy import false, true

        from querydeck.store.tables import SavedQueryRow

        if self.admin:
            return true()
        shared = (
            (SavedQueryRow.shared.is_(True)) & SavedQueryRow.connection_id.in_(self.shared_on)
            if self.shared_on
            else false()
        )
        return (SavedQueryRow.owner == self.username) | shared


def _name(value: str) -> str:
    name = unicodedata.normalize("NFC", value).strip()
    if not name or any(unicodedata.category(c) in ("Cc", "Cs", "Co") for c in name):
        raise SavedQueryNameInvalid(
            "A saved query's name must not be empty or contain control characters.",
        )
    if bidi_controls(name):
        raise SavedQueryNameInvalid(
            "A saved query's name must not contain bidirectional overrides; found "
            f"{code_points(bidi_controls(name))}.",
        )
    return name


def _tags(values: list[str]) -> list[str]:
    tags: list[str] = []
    for value in values:
        tag = unicodedata.normalize("NFC", value).strip()
        if (
            not tag
            or len(tag) > MAX_TAG_CHARS
            or any(c.isspace() or c == "," or unicodedata.category(c)[0] == "C" for c in tag)
            or bidi_controls(tag)
        ):
            raise SavedQueryTagInvalid(
                f"Tags are 1 to {MAX_TAG_CHARS} characters without spaces, commas, control "
                "characters or bidirectional overrides.",
                detail={"tag": tag[:MAX_TAG_CHARS]},
            )
        if tag not in tags:
            tags.append(tag)
    return tags


class SavedQueryStore:
    """CRUD of saved queries, per owner."""

    def __init__(self, db: AppDatabase, connections: ConnectionStore) -> None:
        self._db = db
        self._connections = connections

    def _row(self, tx: Session, reader: Reader, ref: str) -> SavedQueryRow:
        """A saved query ``reader`` sees, by id, else by name (their own first, then a
        shared one of that name)."""
        from sqlalchemy import select

        from querydeck.store.tables import SavedQueryRow

        row = tx.scalar(select(SavedQueryRow).where(SavedQueryRow.id == ref, reader.sees()))
        if row is None:
            key = name_key(_safe(ref))
            row = tx.scalar(
                select(SavedQueryRow).where(
                    SavedQueryRow.owner == reader.username, SavedQueryRow.name_key == key
                )
            )
            if row is None:
                found = tx.scalars(
                    select(SavedQueryRow)
                    .where(SavedQueryRow.name_key == key, reader.sees())
                    .limit(2)
                ).all()
                if len(found) > 1:
                    raise SavedQueryAmbiguous(
                        f"Several shared saved queries are named {ref!r}; use the id.",
                        detail={"saved_query": ref[:200]},
                    )
                row = found[0] if found else None
        if row is None:
            raise SavedQueryNotFound(f"No saved query {ref!r}.", detail={"saved_query": ref[:200]})
        return row

    def _owned(self, tx: Session, reader: Reader, ref: str) -> SavedQueryRow:
        row = self._row(tx, reader, ref)
        if row.owner != reader.username and not reader.admin:
            raise SavedQueryNotOwner(
                "Only its owner can change a shared saved query.",
                detail={"saved_query": row.id},
            )
        return row

    def _info(self, tx: Session, row: SavedQueryRow) -> SavedQuery:
        from querydeck.store.tables import ConnectionRow

        connection = None
        if row.connection_id is not None:
            found = tx.get(ConnectionRow, row.connection_id)
            connection = found.name if found is not None else None
        return SavedQuery(
            id=row.id,
            owner=row.owner,
            name=row.name,
            description=row.description,
            sql=row.sql,
            connection=connection,
            tags=list(row.tags),
            favourite=row.favourite,
            shared=row.shared,
            chart=row.chart,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def _connection_id(self, name: str | None) -> str | None:
        return None if name is None else self._connections.get(name).id

    def create(self, owner: str, data: SavedQueryInput) -> SavedQuery:
        from sqlalchemy.exc import IntegrityError

        from querydeck.store.tables import SavedQueryRow

        name = _name(data.name)
        tags = _tags(data.tags)
        chart = checked_chart(data.chart)
        connection_id = self._connection_id(data.connection)
        _check_shared(data.shared, connection_id)
        now = utcnow()
        row_id = str(uuid.uuid4())

        def insert(tx: Session) -> SavedQuery:
            row = SavedQueryRow(
                id=row_id,
                owner=owner,
                name=name,
                name_key=name_key(name),
                description=data.description,
                sql=data.sql,
                connection_id=connection_id,
                tags=tags,
                favourite=data.favourite,
                shared=data.shared,
                chart=chart,
                created_at=now,
                updated_at=now,
            )
            tx.add(row)
            try:
                tx.flush()
            except IntegrityError:
                raise _taken(name) from None
            return self._info(tx, row)

        return self._db.write(insert)

    def get(self, reader: Reader, ref: str) -> SavedQuery:
        with self._db.read() as tx:
            return self._info(tx, self._row(tx, reader, ref))

    def update(self, reader: Reader, ref: str, changes: SavedQueryChanges) -> SavedQuery:
        from sqlalchemy.exc import IntegrityError

        given = changes.model_fields_set
        name = _name(changes.name) if changes.name is not None else None
        tags = _tags(changes.tags) if changes.tags is not None else None
        chart = checked_chart(changes.chart)
        connection_id = self._connection_id(changes.connection) if "connection" in given else None

        def change(tx: Session) -> SavedQuery:
            row = self._owned(tx, reader, ref)
            if name is not None:
                row.name, row.name_key = name, name_key(name)
            if changes.sql is not None:
                row.sql = changes.sql
            if changes.description is not None:
                row.description = changes.description
            if tags is not None:
                row.tags = tags
            if changes.favourite is not None:
                row.favourite = changes.favourite
            if "connection" in given:
                row.connection_id = connection_id
            if changes.shared is not None:
                row.shared = changes.shared
            if "chart" in given:
                row.chart = chart
            _check_shared(row.shared, row.connection_id)
            row.updated_at = utcnow()
            try:
                tx.flush()
            except IntegrityError:
                raise _taken(name or row.name) from None
            return self._info(tx, row)

        return self._db.write(change)

    def shares(self, connection_id: str, sql: str, shared_on: frozenset[str]) -> bool:
        """Whether a query shared on ``connection_id`` (one of ``shared_on``, the
        connections the reader may query) holds exactly ``sql``: what a viewer may run."""
        from sqlalchemy import select

        from querydeck.store.tables import SavedQueryRow

        if connection_id not in shared_on:
            return False
        with self._db.read() as tx:
            found = tx.scalar(
                select(SavedQueryRow.id)
                .where(
                    SavedQueryRow.shared.is_(True),
                    SavedQueryRow.connection_id == connection_id,
                    SavedQueryRow.sql == sql,
                )
                .limit(1)
            )
        return found is not None

    def delete(self, reader: Reader, ref: str) -> None:
        self._db.write(lambda s: s.delete(self._owned(s, reader, ref)))

    def listing(
        self,
        reader: Reader,
        *,
        limit: int,
        offset: int,
        tag: str | None = None,
        favourite: bool | None = None,
        text: str | None = None,
    ) -> Page[SavedQuery]:
        """Favourites first, then by name; ``text`` matches name, description or SQL."""
        from sqlalchemy import func, select

        from querydeck.store.tables import SavedQueryRow

        query = select(SavedQueryRow).where(reader.sees())
        if favourite is not None:
            query = query.where(SavedQueryRow.favourite == favourite)
        if text:
            pattern = (
                "%"
                + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                + "%"
            )
            query = query.where(
                func.lower(SavedQueryRow.name).like(pattern, escape="\\")
                | func.lower(SavedQueryRow.description).like(pattern, escape="\\")
                | func.lower(SavedQueryRow.sql).like(pattern, escape="\\")
            )
        with self._db.read() as tx:
            rows = tx.scalars(
                query.order_by(
                    SavedQueryRow.favourite.desc(), SavedQueryRow.name_key, SavedQueryRow.id
                )
            ).all()
            if tag is not None:
                rows = [r for r in rows if tag in r.tags]
            items = [self._info(tx, r) for r in rows[offset : offset + limit]]
        return Page(items=items, total=len(rows), limit=limit, offset=offset)


def _check_shared(shared: bool, connection_id: str | None) -> None:
    if shared and connection_id is None:
        raise SavedQueryShareInvalid(
            "A shared saved query needs a default connection: it is shared with the users "
            "who may query that connection.",
        )


def _safe(ref: str) -> str:
    return unicodedata.normalize("NFC", ref).strip()


def _taken(name: str) -> Conflict:
    return SavedQueryNameTaken(
        f"A saved query named {name!r} already exists.",
        detail={"saved_query": name},
    )
