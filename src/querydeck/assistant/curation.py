"""The knowledge base through the assistant service: ``workbench.assistant.knowledge``.

Reading needs ``browse`` on the connection; proposing an example (a candidate) needs
``query``; approving, marking stale, editing the glossary and importing need ``manage``
(an editor). An example's SQL is guarded and EXPLAINed before it is saved, and tagged with
the tables and columns it uses.
"""

from __future__ import annotations

from collections.abc import Callable

from querydeck.assistant import markdown
from querydeck.assistant.checks import catalog_problems, guard_problem, tables_used
from querydeck.assistant.knowledge import KnowledgeBase, uses_of
from querydeck.assistant.models import (
    Example,
    ExampleChanges,
    ExampleInput,
    ExampleStatus,
    GlossaryEntry,
    GlossaryInput,
    ImportReport,
)
from querydeck.assistant.retrieval import SchemaIndex
from querydeck.assistant.sessions import Flavour, GuardedSessions
from querydeck.audit.log import AuditLog
from querydeck.auth.access import Access
from querydeck.auth.principal import LOCAL, Action, Principal
from querydeck.errors import ExampleSqlInvalid, QueryDeckError, QueryFailed, QueryRejected
from querydeck.sources.models import ConnectionInfo
from querydeck.sql.checker import StatementChecker
from querydeck.store.pages import Page

#: ``index_for(connection, user)``: the connection's retrieval index
IndexFor = Callable[[ConnectionInfo, str], SchemaIndex]


class KnowledgeService:
    def __init__(
        self,
        kb: KnowledgeBase,
        *,
        access: Access,
        audit: AuditLog,
        sessions: GuardedSessions,
        checker: StatementChecker,
        index_for: IndexFor,
    ) -> None:
        self.kb = kb
        self._access = access
        self._audit = audit
        self._sessions = sessions
        self._checker = checker
        self._index_for = index_for

    def _checked_uses(self, info: ConnectionInfo, sql: str, user: str) -> dict[str, object]:
        """Guard, catalog names and EXPLAIN; the tables and columns the SQL uses."""
        flavour = Flavour.of(info.driver)
        dialect = flavour.dialect
        index = self._index_for(info, user)
        guarded, refusal = guard_problem(self._checker, sql, flavour.rules)
        if refusal is not None or guarded is None:
            raise ExampleSqlInvalid(
                f"The example's SQL is refused: {refusal.message if refusal else ''}",
                detail={"problems": [refusal.model_dump()] if refusal else []},
            )
        problems = catalog_problems(sql, dialect, index)
        if problems:
            raise ExampleSqlInvalid(
                "The example's SQL names what the catalog does not have: "
                + "; ".join(p.message for p in problems),
                detail={"problems": [p.model_dump() for p in problems]},
            )
        try:
            with self._sessions.open(info.name) as opened:
                opened.explain(guarded)
        except (QueryFailed, QueryRejected) as exc:
            raise ExampleSqlInvalid(
                f"EXPLAIN of the example's SQL failed: {exc.message}",
                detail={"engine_code": exc.code},
            ) from None
        return uses_of(sql, dialect, tables_used(sql, dialect, index))

    # --- examples -----------------------------------------------------------------

    def list_examples(
        self,
        connection: str,
        *,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
        actor: Principal = LOCAL,
    ) -> Page[Example]:
        info = self._access.connection(actor, connection, Action.browse)
        self._index_for(info, actor.username)  # marks examples stale after a refresh
        return self.kb.examples(info.id, info.name, status=status, limit=limit, offset=offset)

    def get_example(self, connection: str, example_id: str, *, actor: Principal = LOCAL) -> Example:
        info = self._access.connection(actor, connection, Action.browse)
        return self.kb.get_example(info.id, info.name, example_id)

    def add_example(
        self, connection: str, values: ExampleInput, *, actor: Principal = LOCAL
    ) -> Example:
        """A candidate example (checked before it is saved)."""
        info = self._access.connection(actor, connection, Action.query)
        uses = self._checked_uses(info, values.sql, actor.username)
        example = self.kb.add_example(info.id, info.name, values, author=actor.username, uses=uses)
        self._record("assistant.example.create", actor, info, example)
        return example

    def update_example(
        self, connection: str, example_id: str, changes: ExampleChanges, *, actor: Principal = LOCAL
    ) -> Example:
        info = self._access.connection(actor, connection, Action.manage)
        uses = None
        if changes.sql is not None:
            uses = self._checked_uses(info, changes.sql, actor.username)
        example = self.kb.update_example(info.id, info.name, example_id, changes, uses=uses)
        self._record("assistant.example.update", actor, info, example)
        return example

    def review_example(
        self,
        connection: str,
        example_id: str,
        status: ExampleStatus,
        *,
        actor: Principal = LOCAL,
    ) -> Example:
        """An editor approves an example (checked again first), or sets it back."""
        info = self._access.connection(actor, connection, Action.manage)
        if status == "approved":
            current = self.kb.get_example(info.id, info.name, example_id)
            uses = self._checked_uses(info, current.sql, actor.username)
            self.kb.update_example(info.id, info.name, example_id, ExampleChanges(), uses=uses)
        example = self.kb.set_status(
            info.id, info.name, example_id, status, reviewer=actor.username
        )
        self._record(f"assistant.example.{status}", actor, info, example)
        return example

    def delete_example(self, connection: str, example_id: str, *, actor: Principal = LOCAL) -> None:
        info = self._access.connection(actor, connection, Action.manage)
        self.kb.delete_example(info.id, example_id)
        self._audit.record(
            "assistant.example.delete",
            actor=actor,
            target_type="example",
            target_id=example_id,
            connection_id=info.id,
        )

    def from_answer(
        self, info: ConnectionInfo, question: str, sql: str, actor: Principal
    ) -> Example:
        """A thumbs-up: the answer becomes a candidate (once per question)."""
        self._access.require(actor, info.id, info.name, Action.browse)
        known = self.kb.find_example(info.id, question)
        if known is not None:
            return self.kb.get_example(info.id, info.name, known.id)
        uses = self._checked_uses(info, sql, actor.username)
        example = self.kb.add_example(
            info.id,
            info.name,
            ExampleInput(question=question, sql=sql, tags=["thumbs-up"]),
            author=actor.username,
            uses=uses,
        )
        self._record("assistant.example.create", actor, info, example)
        return example

    def _record(
        self, action: str, actor: Principal, info: ConnectionInfo, example: Example
    ) -> None:
        self._audit.record(
            action,
            actor=actor,
            target_type="example",
            target_id=example.id,
            connection_id=info.id,
            detail={"connection": info.name, "status": example.status},
        )

    # --- glossary -----------------------------------------------------------------

    def list_glossary(
        self, connection: str, *, limit: int = 100, offset: int = 0, actor: Principal = LOCAL
    ) -> Page[GlossaryEntry]:
        info = self._access.connection(actor, connection, Action.browse)
        return self.kb.glossary(info.id, info.name, limit=limit, offset=offset)

    def put_term(
        self, connection: str, values: GlossaryInput, *, actor: Principal = LOCAL
    ) -> tuple[GlossaryEntry, bool]:
        info = self._access.connection(actor, connection, Action.manage)
        entry, created = self.kb.put_term(info.id, info.name, values, author=actor.username)
        self._audit.record(
            "assistant.glossary.put",
            actor=actor,
            target_type="glossary",
            target_id=entry.id,
            connection_id=info.id,
            detail={"term": entry.term, "created": created},
        )
        return entry, created

    def delete_term(self, connection: str, term: str, *, actor: Principal = LOCAL) -> None:
        info = self._access.connection(actor, connection, Action.manage)
        self.kb.delete_term(info.id, term)
        self._audit.record(
            "assistant.glossary.delete",
            actor=actor,
            target_type="glossary",
            connection_id=info.id,
            detail={"term": term},
        )

    # --- Markdown -----------------------------------------------------------------

    def export_markdown(self, connection: str, *, actor: Principal = LOCAL) -> str:
        info = self._access.connection(actor, connection, Action.browse)
        examples: list[Example] = []
        while True:
            page = self.kb.examples(
                info.id, info.name, status=None, limit=1000, offset=len(examples)
            )
            examples.extend(page.items)
            if not page.items or len(examples) >= page.total:
                break
        terms: list[GlossaryEntry] = []
        while True:
            glossary = self.kb.glossary(info.id, info.name, limit=1000, offset=len(terms))
            terms.extend(glossary.items)
            if not glossary.items or len(terms) >= glossary.total:
                break
        return markdown.export(info.name, examples, terms)

    def import_markdown(
        self, connection: str, text: str, *, actor: Principal = LOCAL
    ) -> ImportReport:
        """Add or update examples (by question) and glossary entries (by term). Each
        example is checked like one made by hand; ``approved`` is kept from the file (the
        importer is an editor, and is recorded as the reviewer)."""
        info = self._access.connection(actor, connection, Action.manage)
        examples, terms = markdown.parse(text)
        report = ImportReport(
            examples_added=0, examples_updated=0, glossary_added=0, glossary_updated=0
        )
        for item in examples:
            try:
                uses = self._checked_uses(info, item.sql, actor.username)
            except QueryDeckError as exc:
                exc.detail["line"] = item.line
                raise
            known = self.kb.find_example(info.id, item.question)
            status: ExampleStatus = item.status  # type: ignore[assignment]  # parsed
            values = ExampleInput(
                question=item.question, sql=item.sql, notes=item.notes, tags=item.tags
            )
            if known is None:
                self.kb.add_example(
                    info.id,
                    info.name,
                    values,
                    author=actor.username,
                    uses=uses,
                    status=status,
                    reviewer=actor.username if status == "approved" else None,
                )
                report.examples_added += 1
            else:
                self.kb.update_example(
                    info.id,
                    info.name,
                    known.id,
                    ExampleChanges(sql=item.sql, notes=item.notes, tags=item.tags),
                    uses=uses,
                )
                self.kb.set_status(info.id, info.name, known.id, status, reviewer=actor.username)
                report.examples_updated += 1
        for term in terms:
            _, created = self.kb.put_term(
                info.id,
                info.name,
                GlossaryInput(term=term.term, definition=term.definition),
                author=actor.username,
            )
            if created:
                report.glossary_added += 1
            else:
                report.glossary_updated += 1
        self._audit.record(
            "assistant.knowledge.import",
            actor=actor,
            target_type="connection",
            target_id=info.id,
            connection_id=info.id,
            detail=report.model_dump(),
        )
        return report
