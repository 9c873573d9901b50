"""The assistant service: ``workbench.assistant``.

Constructed by the Workbench with the services it uses (catalog, connections, access,
audit, rate limits, the app database, the address policy and a way to start a run) and
calling only their public methods; ``open`` hands it the sealer of API keys. It asks
questions, keeps answers and their feedback, and holds the assistant's other faces:
``endpoints`` (model endpoints and the inference log), ``knowledge`` (examples and
glossary) and ``harness`` (the accuracy harness).

Asking needs ``browse`` on the connection (only catalogs the user may browse reach the
model); ``execute`` starts a normal run with its own checks (``query``, ad-hoc SQL).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from querydeck.assistant import prompts
from querydeck.assistant.answers import AnswerStore
from querydeck.assistant.client import EndpointPolicy, ModelClient
from querydeck.assistant.curation import KnowledgeService
from querydeck.assistant.endpoint_service import EndpointService
from querydeck.assistant.endpoints import Endpoint, EndpointRegistry
from querydeck.assistant.harness import HarnessService
from querydeck.assistant.indexes import IndexCache
from querydeck.assistant.inference import INFERENCE_TABLE, InferenceLog, Models, Purpose
from querydeck.assistant.knowledge import KnowledgeBase
from querydeck.assistant.models import (
    AnswerSummary,
    AskAnswer,
    AskInput,
    AssistantSettings,
    Candidate,
    Example,
)
from querydeck.assistant.preparation import Preparation
from querydeck.assistant.retrieval import candidates
from querydeck.assistant.sessions import Flavour, GuardedSessions
from querydeck.audit.log import AuditLog
from querydeck.audit.pruning import Pruner, PruneTarget
from querydeck.auth import ratelimit
from querydeck.auth.access import Access, ad_hoc_sql
from querydeck.auth.principal import LOCAL, Action, Principal
from querydeck.auth.ratelimit import RateLimiter
from querydeck.catalog.service import Catalogs
from querydeck.errors import (
    InvalidInput,
    ModelEndpointNotFound,
    ModelOutputInvalid,
    QueryDeckError,
)
from querydeck.runs.models import RunRequest
from querydeck.sandbox.addresses import AddressPolicy
from querydeck.settings import Settings
from querydeck.sources.connections import ConnectionStore
from querydeck.sources.secrets import Sealer
from querydeck.sql.checker import StatementChecker
from querydeck.store.database import AppDatabase
from querydeck.store.pages import Page
from querydeck.store.plain import utcnow

StartRun = Callable[[RunRequest, Principal], str]


class Assistant:
    def __init__(
        self,
        settings: Settings,
        db: AppDatabase,
        *,
        addresses: AddressPolicy,
        catalog: Catalogs,
        connections: ConnectionStore,
        access: Access,
        audit: AuditLog,
        limiter: RateLimiter,
        start_run: StartRun,
    ) -> None:
        self.settings = settings
        self._connections = connections
        self._access = access
        self._audit = audit
        self._limiter = limiter
        self._start_run = start_run
        self.registry = EndpointRegistry(db)
        policy = EndpointPolicy(addresses, allow_loopback=settings.assistant_allow_loopback)
        self.models = Models(
            ModelClient(policy, max_bytes=settings.assistant_max_answer_bytes),
            InferenceLog(db, max_chars=settings.assistant_log_max_chars),
        )
        self.endpoints = EndpointService(
            self.registry, self.models, policy, audit=audit, rate=self._rate
        )
        self.checker = StatementChecker(
            max_bytes=settings.max_sql_bytes,
            forbidden_functions=settings.forbidden_functions,
            max_tokens=settings.max_sql_tokens,
        )
        self.sessions = GuardedSessions(
            connections,
            self.checker,
            connect_timeout_s=settings.connect_timeout_s,
            timeout_s=settings.default_timeout_s,
        )
        self.indexes = IndexCache(catalog, self.sessions)
        self.kb = KnowledgeBase(db)
        self.answers = AnswerStore(db)
        self.preparation = Preparation(
            settings,
            db,
            registry=self.registry,
            models=self.models,
            indexes=self.indexes,
            kb=self.kb,
            checker=self.checker,
        )
        self.harness = HarnessService(
            self.preparation,
            access=access,
            audit=audit,
            registry=self.registry,
            models=self.models,
            sessions=self.sessions,
            kb=self.kb,
        )
        self.knowledge = KnowledgeService(
            self.kb,
            access=access,
            audit=audit,
            sessions=self.sessions,
            checker=self.checker,
            index_for=lambda info, user: self.preparation.index(
                info, Flavour.of(info.driver), user
            ),
        )
        self.pruner = Pruner(
            db,
            audit,
            action="assistant.log.prune",
            max_age_days=settings.assistant_log_retention_days,
            target=PruneTarget(table=INFERENCE_TABLE.name, key="id", age="at"),
        )

    def open(self, sealer: Sealer) -> None:
        """Start-up (the Workbench's open): the installation's sealer for API keys, and
        the inference log's retention."""
        self.registry.use_sealer(sealer)
        self.pruner.prune_soon()

    def close(self) -> None:
        self.pruner.close()
        self.models.client.close()

    # --- per-connection settings --------------------------------------------------

    def connection_settings(
        self, connection: str, *, actor: Principal = LOCAL
    ) -> AssistantSettings:
        info = self._access.connection(actor, connection, Action.browse)
        return self.preparation.switches(info.id)

    def set_connection_settings(
        self, connection: str, values: AssistantSettings, *, actor: Principal = LOCAL
    ) -> AssistantSettings:
        info = self._access.connection(actor, connection, Action.manage)

        self.preparation.set_switches(info.id, values)
        self._audit.record(
            "assistant.settings",
            actor=actor,
            target_type="connection",
            target_id=info.id,
            connection_id=info.id,
            detail=values.model_dump(),
        )
        return values

    # --- retrieval ----------------------------------------------------------------

    def retrieve(
        self, connection: str, question: str, *, limit: int = 10, actor: Principal = LOCAL
    ) -> list[Candidate]:
        """The candidate tables for ``question`` (no model call but embeddings)."""
        info = self._access.connection(actor, connection, Action.browse)
        flavour = Flavour.of(info.driver)
        index = self.preparation.index(info, flavour, actor.username)
        why = Purpose(actor.username, "embed.question", connection_id=info.id)
        embedding = self.preparation.question_embedding(index, question, why)
        return candidates(index.rank(question, limit, question_embedding=embedding))

    # --- asking -------------------------------------------------------------------

    def _rate(self, actor: Principal) -> None:
        if actor.via != "local":
            self._limiter.hit(ratelimit.ASSISTANT_USER, actor.username)

    def ask(self, connection: str, values: AskInput, *, actor: Principal = LOCAL) -> AskAnswer:
        """Answer one question with one checked SELECT (and run it when asked)."""
        info = self._access.connection(actor, connection, Action.browse)
        if values.execute:
            # The run would refuse: no model call is spent on an answer it cannot run
            # (the run checks again when it starts).
            ad_hoc_sql(actor)
            self._access.require(actor, info.id, info.name, Action.query)
        self._rate(actor)
        question = _clean(values.question)
        endpoint = self.registry.resolve(values.endpoint, "chat")
        turns = self.answers.turns(actor.username, info.id, values.follow_up_of)
        answer_id = str(uuid.uuid4())
        why = Purpose(actor.username, "ask", connection_id=info.id, answer_id=answer_id)
        flavour = Flavour.of(info.driver)
        started = time.monotonic()
        try:
            index = self.preparation.index(info, flavour, actor.username)
            with self.sessions.open(info.name) as guarded:
                pipeline = self.preparation.pipeline(
                    info, flavour, index, endpoint, why, question, guarded
                )
                outcome = pipeline.run(
                    question, self.preparation.knowledge(info.id, question), turns
                )
        except QueryDeckError as exc:
            self._audit.record(
                "assistant.ask",
                actor=actor,
                outcome="error",
                target_type="connection",
                target_id=info.id,
                connection_id=info.id,
                detail={"answer_id": answer_id, "error_code": exc.code},
            )
            raise
        explanation = None
        if values.explain:
            explanation = self._explain(endpoint, why, outcome.sql, question)
        latency = round((time.monotonic() - started) * 1000, 3)
        answer = AskAnswer(
            id=answer_id,
            connection=info.name,
            question=question,
            sql=outcome.sql,
            candidates=outcome.candidates,
            tables=outcome.tables,
            examples=outcome.examples,
            sent=outcome.sent,
            rounds=outcome.rounds,
            endpoint=endpoint.info.name,
            tokens_in=outcome.tokens_in,
            tokens_out=outcome.tokens_out,
            latency_ms=latency,
            explanation=explanation,
            follow_up_of=values.follow_up_of,
            created_at=utcnow(),
        )
        self.answers.save(answer, info.id, actor.username)
        self._audit.record(
            "assistant.ask",
            actor=actor,
            target_type="connection",
            target_id=info.id,
            connection_id=info.id,
            detail={
                "answer_id": answer_id,
                "tables": outcome.tables,
                "rounds": len(outcome.rounds),
            },
        )
        if values.execute:
            answer.run_id = self._start_run(
                RunRequest(connection=info.name, sql=outcome.sql, max_rows=values.max_rows), actor
            )
        return answer

    def _explain(self, endpoint: Endpoint, why: Purpose, sql: str, question: str) -> str:
        reply = self.models.chat(
            endpoint,
            prompts.explanation(sql, question),
            Purpose(why.user, "explain", why.connection_id, why.answer_id),
        )
        if not reply.content or not reply.content.strip():
            raise ModelOutputInvalid("The model gave no explanation.")
        return reply.content.strip()

    def explain_answer(self, answer_id: str, *, actor: Principal = LOCAL) -> AskAnswer:
        """The SQL of one of the caller's answers in plain words: one model call (counted
        like a question), kept with the answer, so asking again calls no model."""
        answer = self.get_answer(answer_id, actor=actor)
        if answer.explanation:
            return answer
        self._rate(actor)
        row = self.answers.row(answer_id, actor.username)
        try:
            endpoint = self.registry.resolve(answer.endpoint, "chat")
        except ModelEndpointNotFound:
            # The endpoint that answered is gone: the default one explains.
            endpoint = self.registry.resolve(None, "chat")
        why = Purpose(actor.username, "explain", row.connection_id, answer_id)
        answer.explanation = self._explain(endpoint, why, answer.sql, answer.question)
        self.answers.set_explanation(answer_id, answer.explanation)
        return answer

    def get_answer(self, answer_id: str, *, actor: Principal = LOCAL) -> AskAnswer:
        """One of the caller's answers (while they may still browse its connection)."""
        row = self.answers.row(answer_id, actor.username)
        name = self._connections.name_of(row.connection_id)
        self._access.connection(actor, name, Action.browse)
        return AskAnswer.model_validate(
            {**row.detail, "question": row.question, "sql": row.sql, "connection": name}
        )

    def list_answers(
        self, *, actor: Principal = LOCAL, limit: int = 50, offset: int = 0
    ) -> Page[AnswerSummary]:
        """The caller's answers, newest first."""
        rows, total = self.answers.listing(actor.username, limit=limit, offset=offset)
        names: dict[str, str] = {}
        items = []
        for r in rows:
            if r.connection_id not in names:
                names[r.connection_id] = self._connections.name_of(r.connection_id)
            items.append(
                AnswerSummary(
                    id=r.id,
                    connection=names[r.connection_id],
                    question=r.question,
                    sql=r.sql,
                    follow_up_of=r.parent_id,
                    feedback=r.feedback,
                    created_at=r.created_at,
                )
            )
        return Page(items=items, total=total, limit=limit, offset=offset)

    def feedback(self, answer_id: str, vote: str, *, actor: Principal = LOCAL) -> Example | None:
        """A thumbs-up (``up``) makes the answer a candidate example; ``down`` is kept on
        the answer only."""
        if vote not in ("up", "down"):
            raise InvalidInput("A vote is up or down.", detail={"vote": vote})
        row = self.answers.row(answer_id, actor.username)
        info = self._access.connection(
            actor, self._connections.name_of(row.connection_id), Action.browse
        )
        self.answers.vote(answer_id, vote)
        if vote == "down":
            return None
        return self.knowledge.from_answer(info, row.question, row.sql, actor)


def _clean(question: str) -> str:
    text = " ".join(question.split())
    if not text or "\x00" in text:
        raise InvalidInput("A question is plain text of 1 to 4,000 characters.")
    return text
