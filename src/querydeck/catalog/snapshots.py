"""The catalog cache in querydeck's database: one snapshot per connection and schema.

A good refresh replaces a schema's snapshot (only the tables whose description changed are
rewritten) and reports the difference; a failed one records its error on the schema and
keeps the last good snapshot.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from querydeck.catalog.models import ColumnChange, SchemaDiff, TableChange
from querydeck.drivers.catalog_model import SchemaMeta, TableMeta
from querydeck.store.database import AppDatabase
from querydeck.store.tables import (
    CatalogSchemaRow,
    CatalogStateRow,
    CatalogTableRow,
    ConnectionRow,
    utcnow,
)


def key(name: str) -> str:
    """The indexed key of a (possibly very long) name."""
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class TableEntry:
    """A cached relation without its full description."""

    name: str
    kind: str
    comment: str | None
    column_count: int
    row_estimate: int | None


def _encode(table: TableMeta) -> bytes:
    return orjson.dumps(table)  # orjson writes dataclasses natively (much faster than asdict)


def decode(content: bytes) -> TableMeta:
    return TableMeta.from_dict(orjson.loads(content))


def diff_tables(old: TableMeta, new: TableMeta) -> TableChange:
    before = {c.name: c for c in old.columns}
    after = {c.name: c for c in new.columns}
    change = TableChange(table=new.name)
    for name, column in after.items():
        if name not in before:
            change.columns.append(
                ColumnChange(column=name, change="added", new_type=column.native_type)
            )
        elif before[name].native_type != column.native_type:
            change.columns.append(
                ColumnChange(
                    column=name,
                    change="type_changed",
                    old_type=before[name].native_type,
                    new_type=column.native_type,
                )
            )
        elif before[name] != column:
            change.columns.append(ColumnChange(column=name, change="changed"))
    for name, column in before.items():
        if name not in after:
            change.columns.append(
                ColumnChange(column=name, change="removed", old_type=column.native_type)
            )
    for part in (
        "kind",
        "primary_key",
        "unique",
        "foreign_keys",
        "indexes",
        "comment",
        "definition",
    ):
        if getattr(old, part) != getattr(new, part):
            change.other.append(part)
    if old.row_estimate != new.row_estimate and not change.columns and not change.other:
        change.other.append("row_estimate")
    return change


class CatalogCache:
    """Reads and writes snapshots."""

    def __init__(self, db: AppDatabase) -> None:
        self._db = db

    # --- state --------------------------------------------------------------------

    @staticmethod
    def _state(tx: Session, connection_id: str) -> CatalogStateRow:
        row = tx.get(CatalogStateRow, connection_id)
        if row is None:
            row = CatalogStateRow(connection_id=connection_id, include=[], exclude=[])
            tx.add(row)
        return row

    def state(self, connection_id: str) -> CatalogStateRow | None:
        with self._db.read() as tx:
            return tx.get(CatalogStateRow, connection_id)

    def save_settings(
        self,
        connection_id: str,
        include: list[str],
        exclude: list[str],
        timeout_s: float | None,
        refresh_interval_s: float | None = None,
    ) -> None:
        def work(tx: Session) -> None:
            row = self._state(tx, connection_id)
            row.include, row.exclude, row.timeout_s = include, exclude, timeout_s
            row.refresh_interval_s = refresh_interval_s

        self._db.write(work)

    def record_connection(
        self, connection_id: str, error: tuple[str, str] | None, at: datetime
    ) -> None:
        """The outcome of a refresh of the whole connection."""

        def work(tx: Session) -> None:
            row = self._state(tx, connection_id)
            if error is None:
                row.refreshed_at, row.error_code, row.error_message, row.error_at = (
                    at,
                    None,
                    None,
                    None,
                )
            else:
                row.error_code, row.error_message, row.error_at = error[0], error[1], at

        self._db.write(work)

    # --- schemas ------------------------------------------------------------------

    def schemas(self, connection_id: str) -> list[CatalogSchemaRow]:
        with self._db.read() as tx:
            return list(
                tx.scalars(
                    select(CatalogSchemaRow)
                    .where(CatalogSchemaRow.connection_id == connection_id)
                    .order_by(CatalogSchemaRow.schema_name)
                )
            )

    def schema(self, connection_id: str, name: str) -> CatalogSchemaRow | None:
        with self._db.read() as tx:
            return tx.scalar(
                select(CatalogSchemaRow).where(
                    CatalogSchemaRow.connection_id == connection_id,
                    CatalogSchemaRow.schema_key == key(name),
                )
            )

    def signature(self) -> tuple[tuple[str, str, int], ...]:
        """What the search index depends on: every snapshot and its generation."""
        with self._db.read() as tx:
            rows = tx.execute(
                select(
                    CatalogSchemaRow.connection_id,
                    CatalogSchemaRow.id,
                    CatalogSchemaRow.generation,
                ).order_by(CatalogSchemaRow.id)
            ).all()
        return tuple((str(a), str(b), int(c)) for a, b, c in rows)

    def store(
        self, connection_id: str, meta: SchemaMeta, duration_ms: float, at: datetime
    ) -> SchemaDiff:
        """Replace the snapshot of ``meta.name``; returns what changed."""
        new = {key(t.name): (t, _encode(t)) for t in meta.tables}
        digests = {k: hashlib.sha256(content).hexdigest() for k, (_, content) in new.items()}

        def work(tx: Session) -> SchemaDiff:
            row = tx.scalar(
                select(CatalogSchemaRow).where(
                    CatalogSchemaRow.connection_id == connection_id,
                    CatalogSchemaRow.schema_key == key(meta.name),
                )
            )
            diff = SchemaDiff()
            if row is None:
                row = CatalogSchemaRow(
                    id=str(uuid.uuid4()),
                    connection_id=connection_id,
                    schema_key=key(meta.name),
                    schema_name=meta.name,
                    generation=0,
                    table_count=0,
                    column_count=0,
                    problems=[],
                )
                tx.add(row)
                tx.flush()
                old: dict[str, tuple[str, str]] = {}
            else:
                old = {
                    k: (n, d)
                    for k, n, d in tx.execute(
                        select(
                            CatalogTableRow.name_key, CatalogTableRow.name, CatalogTableRow.digest
                        ).where(CatalogTableRow.schema_id == row.id)
                    )
                }
            removed = [k for k in old if k not in new]
            changed = [k for k in new if k in old and old[k][1] != digests[k]]
            added = [k for k in new if k not in old]
            if row.refreshed_at is not None:
                diff.added_tables = sorted(new[k][0].name for k in added)
                diff.removed_tables = sorted(old[k][0] for k in removed)
            for k in changed:
                previous = tx.get(CatalogTableRow, (row.id, k))
                if previous is not None and row.refreshed_at is not None:
                    diff.changed_tables.append(diff_tables(decode(previous.content), new[k][0]))
            diff.changed_tables.sort(key=lambda c: c.table)
            if removed or changed:
                tx.execute(
                    delete(CatalogTableRow).where(
                        CatalogTableRow.schema_id == row.id,
                        CatalogTableRow.name_key.in_(removed + changed),
                    )
                )
            inserts: list[dict[str, Any]] = [
                {
                    "schema_id": row.id,
                    "name_key": k,
                    "name": new[k][0].name,
                    "kind": new[k][0].kind,
                    "comment": new[k][0].comment,
                    "column_count": len(new[k][0].columns),
                    "row_estimate": new[k][0].row_estimate,
                    "digest": digests[k],
                    "content": new[k][1],
                }
                for k in added + changed
            ]
            if inserts:
                tx.execute(insert(CatalogTableRow), inserts)
            if removed or changed or added or row.problems != meta.problems:
                row.generation += 1
            row.refreshed_at, row.duration_ms = at, duration_ms
            row.table_count = len(meta.tables)
            row.column_count = sum(len(t.columns) for t in meta.tables)
            row.problems = list(meta.problems)
            row.error_code = row.error_message = None
            row.error_at = None
            return diff

        return self._db.write(work)

    def record_error(self, connection_id: str, schema: str, code: str, message: str) -> None:
        """Note a failed refresh of ``schema``; its snapshot (if any) stays."""
        at = utcnow()

        def work(tx: Session) -> None:
            row = tx.scalar(
                select(CatalogSchemaRow).where(
                    CatalogSchemaRow.connection_id == connection_id,
                    CatalogSchemaRow.schema_key == key(schema),
                )
            )
            if row is None:
                row = CatalogSchemaRow(
                    id=str(uuid.uuid4()),
                    connection_id=connection_id,
                    schema_key=key(schema),
                    schema_name=schema,
                    generation=0,
                    table_count=0,
                    column_count=0,
                    problems=[],
                )
                tx.add(row)
            row.error_code, row.error_message, row.error_at = code, message, at

        self._db.write(work)

    def remove(self, connection_id: str, schema: str) -> int:
        """Drop a schema's snapshot; returns how many tables it held."""

        def work(tx: Session) -> int:
            row = tx.scalar(
                select(CatalogSchemaRow).where(
                    CatalogSchemaRow.connection_id == connection_id,
                    CatalogSchemaRow.schema_key == key(schema),
                )
            )
            if row is None:
                return 0
            count = row.table_count
            tx.execute(delete(CatalogTableRow).where(CatalogTableRow.schema_id == row.id))
            tx.delete(row)
            return count

        return self._db.write(work)

    # --- tables -------------------------------------------------------------------

    def tables(self, schema_id: str, *, limit: int, offset: int) -> tuple[list[TableEntry], int]:
        """One page of a schema's relations by name, and how many there are."""
        with self._db.read() as tx:
            total = tx.scalar(select(func.count()).where(CatalogTableRow.schema_id == schema_id))
            rows = tx.execute(
                select(
                    CatalogTableRow.name,
                    CatalogTableRow.kind,
                    CatalogTableRow.comment,
                    CatalogTableRow.column_count,
                    CatalogTableRow.row_estimate,
                )
                .where(CatalogTableRow.schema_id == schema_id)
                .order_by(CatalogTableRow.name, CatalogTableRow.name_key)
                .limit(limit)
                .offset(offset)
            ).all()
        return [TableEntry(*r) for r in rows], int(total or 0)

    def table(self, schema_id: str, name: str) -> TableMeta | None:
        with self._db.read() as tx:
            content = tx.scalar(
                select(CatalogTableRow.content).where(
                    CatalogTableRow.schema_id == schema_id, CatalogTableRow.name_key == key(name)
                )
            )
        return None if content is None else decode(content)

    def all_tables(self) -> list[tuple[str, str, bytes]]:
        """(connection id, schema name, content) of every cached relation."""
        with self._db.read() as tx:
            rows = tx.execute(
                select(
                    CatalogSchemaRow.connection_id,
                    CatalogSchemaRow.schema_name,
                    CatalogTableRow.content,
                ).join(CatalogSchemaRow, CatalogSchemaRow.id == CatalogTableRow.schema_id)
            ).all()
        return [(str(a), str(b), bytes(c)) for a, b, c in rows]

    def connection_signature(self, connection_id: str) -> tuple[tuple[str, int], ...]:
        """The snapshots of one connection and their generations: it changes when a
        refresh changes any of its relations."""
        with self._db.read() as session:
            schemas = session.execute(
                select(CatalogSchemaRow.id, CatalogSchemaRow.generation)
                .where(CatalogSchemaRow.connection_id == connection_id)
                .order_by(CatalogSchemaRow.id)
            ).all()
        return tuple((str(a), int(b)) for a, b in schemas)

    def connection_tables(self, connection_id: str) -> list[TableMeta]:
        """Every cached relation of one connection."""
        with self._db.read() as session:
            contents = session.scalars(
                select(CatalogTableRow.content)
                .join(CatalogSchemaRow, CatalogSchemaRow.id == CatalogTableRow.schema_id)
                .where(CatalogSchemaRow.connection_id == connection_id)
            ).all()
        return [decode(bytes(c)) for c in contents]

    def connection_names(self) -> dict[str, str]:
        with self._db.read() as tx:
            rows = tx.execute(select(ConnectionRow.id, ConnectionRow.name)).all()
        return {str(a): str(b) for a, b in rows}
