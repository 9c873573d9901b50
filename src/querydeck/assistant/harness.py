"""The accuracy harness as the shells see it: ``workbench.assistant.harness``.

Binds :class:`querydeck.assistant.evaluation.Harness` to one connection: its retrieval
index, the pipeline the ask route uses (leave-one-out over approved examples when no
question file is given), a "whole schema + question" baseline, and a session that runs the
gold and generated SQL through the guard. Needs ``query`` on the connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from querydeck.assistant import output, prompts
from querydeck.assistant.checks import tables_used
from querydeck.assistant.endpoints import EndpointRegistry
from querydeck.assistant.evaluation import Harness
from querydeck.assistant.inference import Models, Purpose
from querydeck.assistant.knowledge import KnowledgeBase
from querydeck.assistant.models import EvalQuestion, EvalReport
from querydeck.assistant.pipeline import Outcome
from querydeck.assistant.preparation import Preparation
from querydeck.assistant.retrieval import Ranked
from querydeck.assistant.sessions import Flavour, GuardedSessions
from querydeck.audit.log import AuditLog
from querydeck.auth.access import Access
from querydeck.auth.principal import LOCAL, Action, Principal
from querydeck.errors import EvalNoQuestions, ModelOutputInvalid


class HarnessService:
    def __init__(
        self,
        preparation: Preparation,
        *,
        access: Access,
        audit: AuditLog,
        registry: EndpointRegistry,
        models: Models,
        sessions: GuardedSessions,
        kb: KnowledgeBase,
    ) -> None:
        self._preparation = preparation
        self._access = access
        self._audit = audit
        self._registry = registry
        self._models = models
        self._sessions = sessions
        self._kb = kb

    def evaluate(
        self,
        connection: str,
        questions: Sequence[EvalQuestion] | None,
        *,
        mode: Literal["pipeline", "baseline", "retrieval"] = "pipeline",
        endpoint: str | None = None,
        actor: Principal = LOCAL,
    ) -> EvalReport:
        """Score the assistant on ``questions`` (gold SQL), or leave-one-out over the
        connection's approved examples. Executes gold and generated SQL (``query``)."""
        info = self._access.connection(actor, connection, Action.query)
        flavour = Flavour.of(info.driver)
        index = self._preparation.index(info, flavour, actor.username)
        skip: dict[str, str] = {}
        if questions is None:
            rows = self._kb.approved(info.id)
            if not rows:
                raise EvalNoQuestions(
                    "The connection has no approved example to evaluate on; give a question file."
                )
            questions = [EvalQuestion(question=r.question, sql=r.sql, id=r.id) for r in rows]
            skip = {r.question: r.id for r in rows}
        chat_endpoint = None if mode == "retrieval" else self._registry.resolve(endpoint, "chat")
        with self._sessions.open(info.name) as guarded:

            def rank(question: str) -> list[Ranked]:
                why = Purpose(actor.username, "eval.embed", connection_id=info.id)
                embedding = self._preparation.question_embedding(index, question, why)
                return index.rank(question, 10, question_embedding=embedding)

            def answer(q: EvalQuestion) -> Outcome:
                assert chat_endpoint is not None
                why = Purpose(actor.username, "eval", connection_id=info.id)
                pipeline = self._preparation.pipeline(
                    info, flavour, index, chat_endpoint, why, q.question, guarded
                )
                knowledge = self._preparation.knowledge(
                    info.id, q.question, skip=skip.get(q.question)
                )
                return pipeline.run(q.question, knowledge, [])

            def baseline(q: EvalQuestion) -> tuple[str, int, int]:
                assert chat_endpoint is not None
                ddl = [
                    prompts.compact_ddl(
                        t, flavour.dialect, schema_qualified=flavour.style.schema_qualified
                    )
                    for t in index.tables
                ]
                reply = self._models.chat(
                    chat_endpoint,
                    prompts.baseline(q.question, flavour.dialect, ddl),
                    Purpose(actor.username, "eval.baseline", connection_id=info.id),
                )
                try:
                    sql = output.sql_of(reply.content)
                except output.NoSql as exc:
                    raise ModelOutputInvalid(
                        f"The model did not answer with SQL ({exc})."
                    ) from None
                return sql, reply.tokens_in or 0, reply.tokens_out or 0

            harness = Harness(
                dialect=flavour.dialect,
                rank=rank,
                tables_of=lambda sql: tables_used(sql, flavour.dialect, index),
                execute=guarded.rows,
                answer=answer,
                baseline=baseline,
            )
            report = harness.run(
                info.name,
                questions,
                mode=mode,
                endpoint=None if chat_endpoint is None else chat_endpoint.info.name,
            )
        self._audit.record(
            "assistant.eval",
            actor=actor,
            target_type="connection",
            target_id=info.id,
            connection_id=info.id,
            detail=report.summary(),
        )
        return report
