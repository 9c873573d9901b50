"""The knowledge base of a connection: question/SQL examples and glossary entries.

An example is ``candidate`` when made (by hand or by a thumbs-up on an answer), ``approved``
only when an editor (``manage`` on the connection) approves it, and ``stale`` when a catalog
refresh dropped or changed a table or column it uses (recorded in ``uses`` when it was saved
after the guard and EXPLAIN passed). Only approved examples are shown to the model.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlglot import exp
from sqlglot.errors import SqlglotError

from querydeck.assistant.models import (
    Example,
    ExampleChanges,
    ExampleInput,
    ExampleStatus,
    GlossaryEntry,
    GlossaryInput,
)
from querydeck.assistant.text import words
from querydeck.drivers.catalog_model import TableMeta
from querydeck.errors import (
    ExampleNotFound,
    GlossaryEntryExists,
    GlossaryEntryNotFound,
    InvalidInput,
)
from querydeck.store.assistant_tables import ExampleRow, GlossaryRow
from querydeck.store.database import AppDatabase
from querydeck.store.pages import Page
from querydeck.store.plain import utcnow

STATUSES: tuple[ExampleStatus, ...] = ("candidate", "approved", "stale")
#: Examples shown to the model per question at most, and the least similarity to be shown.
SHOTS = 3
MIN_SIMILARITY = 0.2


def uses_of(sql: str, dialect: str, tables: Sequence[TableMeta]) -> dict[str, Any]:
    """``schema.table`` -> {column: native type} of the columns ``sql`` names, for each
    table it reads."""
    try:
        tree: exp.Expr = exp.maybe_parse(sql, dialect=dialect)
        named = {c.name.casefold() for c in tree.find_all(exp.Column)}
        star = any(True for _ in tree.find_all(exp.Star))
    except SqlglotError:
        named, star = set(), False
    uses: dict[str, Any] = {}
    for table in tables:
        uses[f"{table.schema}.{table.name}"] = {
            c.name: c.native_type for c in table.columns if star or c.name.casefold() in named
        }
    return uses


def staleness(uses: dict[str, Any], catalog: dict[str, TableMeta]) -> str | None:
    """Why an example with these ``uses`` no longer fits ``catalog``, or None."""
    for key, columns in uses.items():
        table = catalog.get(key)
        if table is None:
            return f"The table {key} is no longer in the catalog."
        now = {c.name: c.native_type for c in table.columns}
        for column, native_type in dict(columns).items():
            if column not in now:
                return f"The column {key}.{column} is no longer in the catalog."
            if now[column] != native_type:
                return f"The type of {key}.{column} changed ({native_type} → {now[column]})."
    return None


def similarity(a: Sequence[str], b: Sequence[str]) -> float:
    left, right = set(a), set(b)
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


class KnowledgeBase:
    def __init__(self, db: AppDatabase) -> None:
        self._db = db

    # --- examples -----------------------------------------------------------------

    @staticmethod
    def _example(row: ExampleRow, connection: str) -> Example:
        return Example(
            id=row.id,
            connection=connection,
            question=row.question,
            sql=row.sql,
            notes=row.notes,
            tags=list(row.tags),
            tables=sorted(row.uses),
            author=row.author,
            reviewer=row.reviewer,
            status=row.status,
            stale_reason=row.stale_reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @staticmethod
    def _row(tx: Session, connection_id: str, example_id: str) -> ExampleRow:
        row = tx.get(ExampleRow, example_id)
        if row is None or row.connection_id != connection_id:
            raise ExampleNotFound("No such example.", detail={"example_id": example_id})
        return row

    def add_example(
        self,
        connection_id: str,
        connection: str,
        values: ExampleInput,
        *,
        author: str,
        uses: dict[str, Any],
        status: ExampleStatus = "candidate",
        reviewer: str | None = None,
    ) -> Example:
        now = utcnow()
        row = ExampleRow(
            id=str(uuid.uuid4()),
            connection_id=connection_id,
            question=values.question.strip(),
            sql=values.sql.strip(),
            notes=values.notes,
            tags=_tags(values.tags),
            uses=uses,
            author=author,
            reviewer=reviewer,
            status=status,
            stale_reason=None,
            created_at=now,
            updated_at=now,
        )
        self._db.write(lambda tx: tx.add(row))
        return self._example(row, connection)

    def get_example(self, connection_id: str, connection: str, example_id: str) -> Example:
        with self._db.read() as tx:
            return self._example(self._row(tx, connection_id, example_id), connection)

    def find_example(self, connection_id: str, question: str) -> ExampleRow | None:
        with self._db.read() as tx:
            return tx.scalar(
                select(ExampleRow).where(
                    ExampleRow.connection_id == connection_id,
                    ExampleRow.question == question.strip(),
                )
            )

    def examples(
        self,
        connection_id: str,
        connection: str,
        *,
        status: str | None,
        limit: int,
        offset: int,
    ) -> Page[Example]:
        if status is not None and status not in STATUSES:
            raise InvalidInput(
                f"An example's status is one of {', '.join(STATUSES)}.",
                detail={"status": status},
            )
        where = [ExampleRow.connection_id == connection_id]
        if status is not None:
            where.append(ExampleRow.status == status)
        with self._db.read() as tx:
            total = tx.scalar(select(func.count()).select_from(ExampleRow).where(*where))
            rows = tx.scalars(
                select(ExampleRow)
                .where(*where)
                .order_by(ExampleRow.created_at, ExampleRow.id)
                .limit(limit)
                .offset(offset)
            ).all()
            items = [self._example(r, connection) for r in rows]
        return Page(items=items, total=int(total or 0), limit=limit, offset=offset)

    def update_example(
        self,
        connection_id: str,
        connection: str,
        example_id: str,
        changes: ExampleChanges,
        *,
        uses: dict[str, Any] | None,
    ) -> Example:
        """Change an example; a changed question or SQL makes it a candidate again."""

        def work(tx: Session) -> Example:
            row = self._row(tx, connection_id, example_id)
            if changes.question is not None or changes.sql is not None:
                row.question = (changes.question or row.question).strip()
                row.sql = (changes.sql or row.sql).strip()
                row.status, row.reviewer, row.stale_reason = "candidate", None, None
            if uses is not None:
                row.uses = uses
            if changes.notes is not None:
                row.notes = changes.notes
            if changes.tags is not None:
                row.tags = _tags(changes.tags)
            row.updated_at = utcnow()
            return self._example(row, connection)

        return self._db.write(work)

    def set_status(
        self,
        connection_id: str,
        connection: str,
        example_id: str,
        status: ExampleStatus,
        *,
        reviewer: str,
    ) -> Example:
        def work(tx: Session) -> Example:
            row = self._row(tx, connection_id, example_id)
            row.status = status
            row.reviewer = reviewer
            if status != "stale":
                row.stale_reason = None
            row.updated_at = utcnow()
            return self._example(row, connection)

        return self._db.write(work)

    def delete_example(self, connection_id: str, example_id: str) -> None:
        def work(tx: Session) -> None:
            tx.delete(self._row(tx, connection_id, example_id))

        self._db.write(work)

    def mark_stale(self, connection_id: str, catalog: dict[str, TableMeta]) -> int:
        """Mark stale every candidate or approved example that no longer fits."""

        def work(tx: Session) -> int:
            count = 0
            rows = tx.scalars(
                select(ExampleRow).where(
                    ExampleRow.connection_id == connection_id, ExampleRow.status != "stale"
                )
            ).all()
            for row in rows:
                why = staleness(row.uses, catalog)
                if why is not None:
                    row.status, row.stale_reason, row.updated_at = "stale", why, utcnow()
                    count += 1
            return count

        return self._db.write(work)

    def shots(self, connection_id: str, question: str) -> list[tuple[ExampleRow, float]]:
        """The approved examples most like ``question``, best first."""
        asked = words(question, drop_stopwords=True)
        with self._db.read() as tx:
            rows = tx.scalars(
                select(ExampleRow).where(
                    ExampleRow.connection_id == connection_id, ExampleRow.status == "approved"
                )
            ).all()
        scored = [(r, similarity(asked, words(r.question, drop_stopwords=True))) for r in rows]
        scored = [(r, s) for r, s in scored if s >= MIN_SIMILARITY]
        scored.sort(key=lambda rs: (-rs[1], rs[0].id))
        return scored[:SHOTS]

    def approved(self, connection_id: str) -> list[ExampleRow]:
        with self._db.read() as tx:
            return list(
                tx.scalars(
                    select(ExampleRow)
                    .where(
                        ExampleRow.connection_id == connection_id,
                        ExampleRow.status == "approved",
                    )
                    .order_by(ExampleRow.created_at, ExampleRow.id)
                ).all()
            )

    # --- glossary -----------------------------------------------------------------

    @staticmethod
    def _entry(row: GlossaryRow, connection: str) -> GlossaryEntry:
        return GlossaryEntry(
            id=row.id,
            connection=connection,
            term=row.term,
            definition=row.definition,
            author=row.author,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def put_term(
        self, connection_id: str, connection: str, values: GlossaryInput, *, author: str
    ) -> tuple[GlossaryEntry, bool]:
        """Create or replace the entry of ``values.term``; True when created."""
        term = " ".join(values.term.split())
        key = term.casefold()

        def work(tx: Session) -> tuple[GlossaryEntry, bool]:
            row = tx.scalar(
                select(GlossaryRow).where(
                    GlossaryRow.connection_id == connection_id, GlossaryRow.term_key == key
                )
            )
            now = utcnow()
            created = row is None
            if row is None:
                row = GlossaryRow(
                    id=str(uuid.uuid4()),
                    connection_id=connection_id,
                    term=term,
                    term_key=key,
                    definition=values.definition,
                    author=author,
                    created_at=now,
                    updated_at=now,
                )
                tx.add(row)
            else:
                row.term, row.definition, row.updated_at = term, values.definition, now
            tx.flush()
            return self._entry(row, connection), created

        try:
            return self._db.write(work)
        except IntegrityError:
            raise GlossaryEntryExists(
                f"The glossary has the term {term!r} already.", detail={"term": term}
            ) from None

    def glossary(
        self, connection_id: str, connection: str, *, limit: int, offset: int
    ) -> Page[GlossaryEntry]:
        where = [GlossaryRow.connection_id == connection_id]
        with self._db.read() as tx:
            total = tx.scalar(select(func.count()).select_from(GlossaryRow).where(*where))
            rows = tx.scalars(
                select(GlossaryRow)
                .where(*where)
                .order_by(GlossaryRow.term_key)
                .limit(limit)
                .offset(offset)
            ).all()
            items = [self._entry(r, connection) for r in rows]
        return Page(items=items, total=int(total or 0), limit=limit, offset=offset)

    def delete_term(self, connection_id: str, term: str) -> None:
        key = " ".join(term.split()).casefold()

        def work(tx: Session) -> None:
            row = tx.scalar(
                select(GlossaryRow).where(
                    GlossaryRow.connection_id == connection_id, GlossaryRow.term_key == key
                )
            )
            if row is None:
                raise GlossaryEntryNotFound(
                    f"The glossary has no term {term!r}.", detail={"term": term}
                )
            tx.delete(row)

        self._db.write(work)

    def terms_for(self, connection_id: str, question: str) -> list[tuple[str, str]]:
        """Glossary entries whose every word is in the question."""
        asked = set(words(question))
        with self._db.read() as tx:
            rows = tx.scalars(
                select(GlossaryRow).where(GlossaryRow.connection_id == connection_id)
            ).all()
        return [
            (r.term, r.definition)
            for r in sorted(rows, key=lambda r: r.term_key)
            if (needed := set(words(r.term))) and needed <= asked
        ]


def _tags(tags: Sequence[str]) -> list[str]:
    out: list[str] = []
    for tag in tags:
        tag = " ".join(tag.split())
        if not tag or len(tag) > 64:
            raise InvalidInput("A tag has 1 to 64 characters.", detail={"tag": tag[:64]})
        if tag not in out:
            out.append(tag)
    return out
