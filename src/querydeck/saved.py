"""Saved queries: a name, a description, SQL, a default connection, tags and a favourite flag.

Each saved query has an owner (the user name; the fixed local user until accounts exist) and
its name is unique per owner (NFC + case-insensitive). Another owner's query answers 404,
never 403, so ids leak nothing. The default connection is kept by id, so a renamed
connection still fits; a deleted one leaves the query without a default.
"""

from __future__ import annotations

import unicodedata
import uuid

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from querydeck.connections import ConnectionService, name_key
from querydeck.errors import Conflict, InvalidInput, SavedQueryNotFound
from querydeck.models import Page, SavedQuery, SavedQueryChanges, SavedQueryInput
from querydeck.store.database import AppDatabase
from querydeck.store.tables import ConnectionRow, SavedQueryRow, utcnow

MAX_TAG_CHARS = 64


def _name(value: str) -> str:
    name = unicodedata.normalize("NFC", value).strip()
    if not name or any(unicodedata.category(c) in ("Cc", "Cs", "Co") for c in name):
        raise InvalidInput(
            "A saved query's name must not be empty or contain control characters.",
            code="SAVED_QUERY_NAME_INVALID",
        )
    return name


def _tags(values: list[str]) -> list[str]:
    tags: list[str] = []
    for value in values:
        tag = unicodedata.normalize("NFC", value).strip()
        if not tag or len(tag) > MAX_TAG_CHARS or any(c.isspace() or c == "," for c in tag):
            raise InvalidInput(
                f"Tags are 1 to {MAX_TAG_CHARS} characters without spaces or commas.",
                code="SAVED_QUERY_TAG_INVALID",
                detail={"tag": tag[:MAX_TAG_CHARS]},
            )
        if tag not in tags:
            tags.append(tag)
    return tags


class SavedQueries:
    """CRUD of saved queries, per owner."""

    def __init__(self, db: AppDatabase, connections: ConnectionService) -> None:
        self._db = db
        self._connections = connections

    def _row(self, session: Session, owner: str, ref: str) -> SavedQueryRow:
        """A saved query of ``owner`` by id, else by name."""
        row = session.get(SavedQueryRow, ref)
        if row is None or row.owner != owner:
            row = session.scalar(
                select(SavedQueryRow).where(
                    SavedQueryRow.owner == owner, SavedQueryRow.name_key == name_key(_safe(ref))
                )
            )
        if row is None:
            raise SavedQueryNotFound(f"No saved query {ref!r}.", detail={"saved_query": ref[:200]})
        return row

    def _info(self, session: Session, row: SavedQueryRow) -> SavedQuery:
        connection = None
        if row.connection_id is not None:
            found = session.get(ConnectionRow, row.connection_id)
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
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def _connection_id(self, name: str | None) -> str | None:
        return None if name is None else self._connections.get(name).id

    def create(self, owner: str, data: SavedQueryInput) -> SavedQuery:
        name = _name(data.name)
        tags = _tags(data.tags)
        connection_id = self._connection_id(data.connection)
        now = utcnow()
        row_id = str(uuid.uuid4())

        def insert(session: Session) -> SavedQuery:
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
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                raise _taken(name) from None
            return self._info(session, row)

        return self._db.write(insert)

    def get(self, owner: str, ref: str) -> SavedQuery:
        with self._db.read() as session:
            return self._info(session, self._row(session, owner, ref))

    def update(self, owner: str, ref: str, changes: SavedQueryChanges) -> SavedQuery:
        given = changes.model_fields_set
        name = _name(changes.name) if changes.name is not None else None
        tags = _tags(changes.tags) if changes.tags is not None else None
        connection_id = self._connection_id(changes.connection) if "connection" in given else None

        def change(session: Session) -> SavedQuery:
            row = self._row(session, owner, ref)
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
            row.updated_at = utcnow()
            try:
                session.flush()
            except IntegrityError:
                raise _taken(name or row.name) from None
            return self._info(session, row)

        return self._db.write(change)

    def delete(self, owner: str, ref: str) -> None:
        self._db.write(lambda s: s.delete(self._row(s, owner, ref)))

    def listing(
        self,
        owner: str,
        *,
        limit: int,
        offset: int,
        tag: str | None = None,
        favourite: bool | None = None,
        text: str | None = None,
    ) -> Page[SavedQuery]:
        """Favourites first, then by name; ``text`` matches name, description or SQL."""
        query = select(SavedQueryRow).where(SavedQueryRow.owner == owner)
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
        with self._db.read() as session:
            rows = session.scalars(
                query.order_by(
                    SavedQueryRow.favourite.desc(), SavedQueryRow.name_key, SavedQueryRow.id
                )
            ).all()
            if tag is not None:
                rows = [r for r in rows if tag in r.tags]
            items = [self._info(session, r) for r in rows[offset : offset + limit]]
        return Page(items=items, total=len(rows), limit=limit, offset=offset)


def _safe(ref: str) -> str:
    return unicodedata.normalize("NFC", ref).strip()


def _taken(name: str) -> Conflict:
    return Conflict(
        f"A saved query named {name!r} already exists.",
        code="SAVED_QUERY_NAME_TAKEN",
        detail={"saved_query": name},
    )
