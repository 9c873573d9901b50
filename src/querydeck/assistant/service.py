"""The assistant service: ``workbench.assistant``.

Constructed by the Workbench with the services it uses (catalog, connections, access,
audit, rate limits, the app database, the sealer, the address policy and a way to start a
run) and calling only their public methods. Access rules:

- model endpoints: anyone signed in lists them; administrators register, change, test and
  remove them; admins and analysts ``invoke`` one;
- asking needs ``browse`` on the connection (only what the user may browse reaches the
  model); ``execute`` starts a normal run, with its own checks (``query``, ad-hoc SQL);
- the inference log: each user their own entries, administrators everyone's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Literal

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from querydeck.assistant import output, prompts
from querydeck.assistant.checks import tables_used
from querydeck.assistant.client import EndpointPolicy, ModelClient, Reply, check_base_url
from querydeck.assistant.curation import KnowledgeService
from querydeck.assistant.endpoints import Endpoint, EndpointRegistry
from querydeck.assistant.engine import Engine, Flavour
from querydeck.assistant.evaluation import Harness
from querydeck.assistant.indexes import IndexCache
from querydeck.assistant.inference import INFERENCE_TABLE, InferenceLog, Models, Purpose
from querydeck.assistant.knowledge import KnowledgeBase
from querydeck.assistant.models import (
    AnswerSummary,
    AskAnswer,
    AskInput,
    AssistantSettings,
    Candidate,
    Capabilities,
    EndpointChanges,
    EndpointInfo,
    EndpointInput,
    EvalQuestion,
    EvalReport,
    Example,
    InferenceEntry,
    InvokeInput,
    InvokeResult,
)
from querydeck.assistant.pipeline import Knowledge, Outcome, Pipeline
from querydeck.assistant.prompts import Shot, Turn
from querydeck.assistant.retrieval import Ranked, SchemaIndex, candidates
from querydeck.audit.log import AuditLog
from querydeck.audit.pruning import Pruner
from querydeck.auth import ratelimit
from querydeck.auth.access import Access, ad_hoc_sql, admin_only
from querydeck.auth.principal import LOCAL, Action, Principal
from querydeck.auth.ratelimit import RateLimiter
from querydeck.catalog.service import CatalogService
from querydeck.errors import (
    AnswerNotFound,
    InvalidInput,
    ModelOutputInvalid,
    QueryDeckError,
)
from querydeck.runs.models import RunRequest
from querydeck.sandbox.addresses import AddressPolicy
from querydeck.settings import Settings
from querydeck.sources.connections import ConnectionService
from querydeck.sources.models import ConnectionInfo
from querydeck.sources.secrets import Sealer
from querydeck.sql.checker import StatementChecker
from querydeck.store.assistant_tables import AnswerRow, AssistantSettingsRow
from querydeck.store.database import AppDatabase
from querydeck.store.pages import Page
from querydeck.store.tables import utcnow

StartRun = Callable[[RunRequest, Principal], str]
#: Earlier turns of a thread carried into a follow-up question.
THREAD_TURNS = 3


class Assistant:
    def __init__(
        self,
        settings: Settings,
        db: AppDatabase,
        *,
        sealer: Sealer,
        addresses: AddressPolicy,
        catalog: CatalogService,
        connections: ConnectionService,
        access: Access,
        audit: AuditLog,
        limiter: RateLimiter,
        start_run: StartRun,
    ) -> None:
        self.settings = settings
        self._db = db
        self._catalog = catalog
        self._connections = connections
        self._access = access
        self._audit = audit
        self._limiter = limiter
        self._start_run = start_run
        self.endpoints = EndpointRegistry(db, sealer)
        self.policy = EndpointPolicy(addresses, allow_loopback=settings.assistant_allow_loopback)
        self.log = InferenceLog(db, max_chars=settings.assistant_log_max_chars)
        self.models = Models(
            ModelClient(self.policy, max_bytes=settings.assistant_max_answer_bytes), self.log
        )
        self.checker = StatementChecker(
            max_bytes=settings.max_sql_bytes, forbidden_functions=settings.forbidden_functions
        )
        self.engine = Engine(
            connections,
            self.checker,
            connect_timeout_s=settings.connect_timeout_s,
            timeout_s=settings.default_timeout_s,
        )
        self.indexes = IndexCache(catalog, self.engine)
        self.kb = KnowledgeBase(db)
        self.knowledge = KnowledgeService(
            self.kb,
            access=access,
            audit=audit,
            engine=self.engine,
            checker=self.checker,
            index_for=lambda info, user: self._index(info, Flavour.of(info.driver), user),
        )
        self._stale_checked: dict[str, tuple[tuple[str, int], ...]] = {}
        self.pruner = Pruner(
            db,
            audit,
            action="assistant.log.prune",
            max_age_days=settings.assistant_log_retention_days,
            table=INFERENCE_TABLE,
            key=INFERENCE_TABLE.c.id,
            age=INFERENCE_TABLE.c.at,
        )
        self.pruner.prune_soon()

    def close(self) -> None:
        self.pruner.close()
        self.models.client.close()

    # --- model endpoints ----------------------------------------------------------

    def list_endpoints(
        self, *, limit: int = 100, offset: int = 0, actor: Principal = LOCAL
    ) -> Page[EndpointInfo]:
        del actor  # every signed-in user may see which endpoints exist
        return self.endpoints.listing(limit=limit, offset=offset)

    def get_endpoint(self, name: str, *, actor: Principal = LOCAL) -> EndpointInfo:
        del actor
        return self.endpoints.get(name)

    def _check_target(self, base_url: str) -> None:
        parts = check_base_url(base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.policy.pin(str(parts.hostname), port)

    def create_endpoint(self, values: EndpointInput, *, actor: Principal = LOCAL) -> EndpointInfo:
        admin_only(actor, "register model endpoints")
        self._check_target(values.base_url)
        info = self.endpoints.create(values)
        self._audit.record(
            "model_endpoint.create",
            actor=actor,
            target_type="model_endpoint",
            target_id=info.id,
            detail={"name": info.name, "kind": info.kind, "model": info.model},
        )
        return info

    def update_endpoint(
        self, name: str, changes: EndpointChanges, *, actor: Principal = LOCAL
    ) -> EndpointInfo:
        admin_only(actor, "change model endpoints")
        if changes.base_url is not None:
            self._check_target(changes.base_url)
        info = self.endpoints.update(name, changes)
        self._audit.record(
            "model_endpoint.update",
            actor=actor,
            target_type="model_endpoint",
            target_id=info.id,
            detail={
                "name": info.name,
                "changed": sorted(changes.model_dump(exclude_unset=True, exclude={"api_key"}))
                + (["api_key"] if changes.api_key is not None else []),
            },
        )
        return info

    def delete_endpoint(self, name: str, *, actor: Principal = LOCAL) -> None:
        admin_only(actor, "remove model endpoints")
        info = self.endpoints.delete(name)
        self._audit.record(
            "model_endpoint.delete",
            actor=actor,
            target_type="model_endpoint",
            target_id=info.id,
            detail={"name": info.name},
        )

    def test_endpoint(self, name: str, *, actor: Principal = LOCAL) -> EndpointInfo:
        """Probe what the endpoint can do (chat, JSON output; embeddings and dimension)
        and keep it."""
        admin_only(actor, "test model endpoints")
        info = self.endpoints.get(name)
        endpoint = self.endpoints.resolve(name, info.kind)
        why = Purpose(actor.username, "probe")
        found = Capabilities(probed_at=utcnow())
        try:
            if info.kind == "embeddings":
                reply = self.models.embed(endpoint, ["querydeck"], why)
                vectors = reply.embeddings or []
                found.embeddings, found.dimension = True, len(vectors[0]) if vectors else None
                found.chat = False
            else:
                self.models.chat(
                    endpoint, [{"role": "user", "content": "Answer with the word: ok"}], why
                )
                found.chat, found.embeddings = True, False
                found.json_output = self._probe_json(endpoint, why)
        except QueryDeckError as exc:
            found.error_code = exc.code
            self.endpoints.save_capabilities(info.id, found)
            raise
        self.endpoints.save_capabilities(info.id, found)
        return self.endpoints.get(name)

    def _probe_json(self, endpoint: Endpoint, why: Purpose) -> bool:
        try:
            reply = self.models.chat(
                endpoint,
                [{"role": "user", "content": 'Answer with this JSON object: {"ok": true}'}],
                why,
                json_output=True,
            )
            return isinstance(orjson.loads(reply.content or ""), dict)
        except (QueryDeckError, orjson.JSONDecodeError):
            return False

    def invoke(self, name: str, values: InvokeInput, *, actor: Principal = LOCAL) -> InvokeResult:
        """One raw call of an endpoint (admins and analysts), logged like any other."""
        ad_hoc_sql(actor)
        self._rate(actor)
        info = self.endpoints.get(name)
        endpoint = self.endpoints.resolve(name, info.kind)
        why = Purpose(actor.username, "invoke")
        if info.kind == "embeddings":
            if not values.input or values.messages:
                raise InvalidInput("An embeddings endpoint takes `input` (a list of texts).")
            reply = self.models.embed(endpoint, values.input, why)
        else:
            if not values.messages or values.input:
                raise InvalidInput("A chat endpoint takes `messages`.")
            reply = self.models.chat(
                endpoint,
                [m.model_dump() for m in values.messages],
                why,
                json_output=values.json_output,
            )
        return InvokeResult(
            endpoint=info.name,
            content=reply.content,
            embeddings=reply.embeddings,
            tokens_in=reply.tokens_in,
            tokens_out=reply.tokens_out,
            latency_ms=reply.latency_ms,
        )

    # --- the inference log --------------------------------------------------------

    def inference_log(
        self,
        *,
        actor: Principal = LOCAL,
        limit: int = 50,
        offset: int = 0,
        everyone: bool = False,
        user: str | None = None,
        purpose: str | None = None,
        answer_id: str | None = None,
    ) -> Page[InferenceEntry]:
        """The caller's own entries; ``everyone`` or another ``user`` only for admins."""
        if everyone or (user is not None and user != actor.username):
            admin_only(actor, "read other users' inference logs")
            who = user
        else:
            who = actor.username
        return self.log.listing(
            user=who, limit=limit, offset=offset, purpose=purpose, answer_id=answer_id
        )

    # --- per-connection settings --------------------------------------------------

    def connection_settings(
        self, connection: str, *, actor: Principal = LOCAL
    ) -> AssistantSettings:
        info = self._access.connection(actor, connection, Action.browse)
        return self._settings_of(info.id)

    def _settings_of(self, connection_id: str) -> AssistantSettings:
        with self._db.read() as session:
            row = session.get(AssistantSettingsRow, connection_id)
        if row is None:
            return AssistantSettings()
        return AssistantSettings(
            allow_sampling=row.allow_sampling, send_sample_values=row.send_sample_values
        )

    def set_connection_settings(
        self, connection: str, values: AssistantSettings, *, actor: Principal = LOCAL
    ) -> AssistantSettings:
        info = self._access.connection(actor, connection, Action.manage)

        def work(session: Session) -> None:
            row = session.get(AssistantSettingsRow, info.id)
            if row is None:
                row = AssistantSettingsRow(connection_id=info.id)
                session.add(row)
            row.allow_sampling = values.allow_sampling
            row.send_sample_values = values.send_sample_values
            row.updated_at = utcnow()

        self._db.write(work)
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

    def _index(self, info: ConnectionInfo, flavour: Flavour, user: str) -> SchemaIndex:
        settings = self._settings_of(info.id)
        embedder = self.endpoints.maybe("embeddings")

        def embed(endpoint: Endpoint, texts: list[str]) -> list[list[float]]:
            reply = self.models.embed(
                endpoint, texts, Purpose(user, "embed.tables", connection_id=info.id)
            )
            return reply.embeddings or []

        index = self.indexes.get(
            info.id,
            info.name,
            flavour,
            sampling=settings.allow_sampling,
            embedder=embedder,
            embed=embed,
        )
        self._mark_stale(info, index)
        return index

    def _mark_stale(self, info: ConnectionInfo, index: SchemaIndex) -> None:
        signature, _ = self.indexes.tables(info.name)
        if self._stale_checked.get(info.id) == signature:
            return
        catalog = {f"{t.schema}.{t.name}": t for t in index.tables}
        self.kb.mark_stale(info.id, catalog)
        self._stale_checked[info.id] = signature

    def _question_embedding(
        self, index: SchemaIndex, text: str, why: Purpose
    ) -> list[float] | None:
        if index.embeddings is None:
            return None
        endpoint = self.endpoints.maybe("embeddings")
        if endpoint is None:
            return None
        try:
            reply = self.models.embed(endpoint, [text], why)
        except QueryDeckError:
            return None  # lexical and value matches still rank
        return (reply.embeddings or [None])[0]  # type: ignore[list-item]

    def retrieve(
        self, connection: str, question: str, *, limit: int = 10, actor: Principal = LOCAL
    ) -> list[Candidate]:
        """The candidate tables for ``question`` (no model call but embeddings)."""
        info = self._access.connection(actor, connection, Action.browse)
        flavour = Flavour.of(info.driver)
        index = self._index(info, flavour, actor.username)
        why = Purpose(actor.username, "embed.question", connection_id=info.id)
        embedding = self._question_embedding(index, question, why)
        return candidates(index.rank(question, limit, question_embedding=embedding))

    # --- asking -------------------------------------------------------------------

    def _rate(self, actor: Principal) -> None:
        if actor.via != "local":
            self._limiter.hit(ratelimit.ASSISTANT_USER, actor.username)

    def _turns(self, actor: Principal, connection_id: str, parent_id: str | None) -> list[Turn]:
        turns: list[Turn] = []
        with self._db.read() as session:
            while parent_id is not None and len(turns) < THREAD_TURNS:
                row = session.get(AnswerRow, parent_id)
                if (
                    row is None
                    or row.user_name != actor.username
                    or row.connection_id != connection_id
                ):
                    raise AnswerNotFound("No such answer.", detail={"answer_id": parent_id})
                turns.insert(0, Turn(row.question, row.sql))
                parent_id = row.parent_id
        return turns

    def _knowledge(self, connection_id: str, question: str, skip: str | None = None) -> Knowledge:
        shots = [
            (row.id, Shot(row.question, row.sql), score)
            for row, score in self.kb.shots(connection_id, question)
            if row.id != skip
        ]
        return Knowledge(shots=shots, glossary=self.kb.terms_for(connection_id, question))

    def _pipeline(
        self,
        info: ConnectionInfo,
        flavour: Flavour,
        index: SchemaIndex,
        endpoint: Endpoint,
        why: Purpose,
        question: str,
        session: Any,
    ) -> Pipeline:
        settings = self._settings_of(info.id)

        def chat(messages: list[dict[str, str]], purpose: str, json_output: bool) -> Reply:
            return self.models.chat(
                endpoint,
                messages,
                Purpose(why.user, purpose, why.connection_id, why.answer_id),
                json_output=json_output,
            )

        embedding = self._question_embedding(
            index, question, Purpose(why.user, "embed.question", why.connection_id, why.answer_id)
        )
        return Pipeline(
            index=index,
            flavour=flavour,
            checker=self.checker,
            chat=chat,
            explain=session.explain,
            candidate_count=self.settings.assistant_candidate_tables,
            rounds=self.settings.assistant_correction_rounds,
            send_samples=settings.send_sample_values and settings.allow_sampling,
            question_embedding=embedding,
        )

    def ask(self, connection: str, values: AskInput, *, actor: Principal = LOCAL) -> AskAnswer:
        """Answer one question with one checked SELECT (and run it when asked)."""
        info = self._access.connection(actor, connection, Action.browse)
        self._rate(actor)
        question = _clean(values.question)
        endpoint = self.endpoints.resolve(values.endpoint, "chat")
        turns = self._turns(actor, info.id, values.follow_up_of)
        answer_id = str(uuid.uuid4())
        why = Purpose(actor.username, "ask", connection_id=info.id, answer_id=answer_id)
        flavour = Flavour.of(info.driver)
        started = time.monotonic()
        try:
            index = self._index(info, flavour, actor.username)
            with self.engine.session(info.name) as session:
                pipeline = self._pipeline(info, flavour, index, endpoint, why, question, session)
                outcome = pipeline.run(question, self._knowledge(info.id, question), turns)
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
        self._save_answer(answer, info.id, actor)
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

    def _save_answer(self, answer: AskAnswer, connection_id: str, actor: Principal) -> None:
        row = AnswerRow(
            id=answer.id,
            user_name=actor.username,
            connection_id=connection_id,
            parent_id=answer.follow_up_of,
            question=answer.question,
            sql=answer.sql,
            detail=answer.model_dump(mode="json", exclude={"question", "sql"}),
            feedback=None,
            created_at=answer.created_at,
        )
        self._db.write(lambda session: session.add(row))

    def _answer_row(self, answer_id: str, actor: Principal) -> AnswerRow:
        with self._db.read() as session:
            row = session.get(AnswerRow, answer_id)
        if row is None or row.user_name != actor.username:
            raise AnswerNotFound("No such answer.", detail={"answer_id": answer_id})
        return row

    def get_answer(self, answer_id: str, *, actor: Principal = LOCAL) -> AskAnswer:
        """One of the caller's answers."""
        row = self._answer_row(answer_id, actor)
        name = self._connections.name_of(row.connection_id)
        self._access.connection(actor, name, Action.browse)
        return AskAnswer.model_validate(
            {**row.detail, "question": row.question, "sql": row.sql, "connection": name}
        )

    def answers(
        self, *, actor: Principal = LOCAL, limit: int = 50, offset: int = 0
    ) -> Page[AnswerSummary]:
        from sqlalchemy import func

        where = [AnswerRow.user_name == actor.username]
        with self._db.read() as session:
            total = session.scalar(select(func.count()).select_from(AnswerRow).where(*where))
            rows = session.scalars(
                select(AnswerRow)
                .where(*where)
                .order_by(AnswerRow.created_at.desc(), AnswerRow.id)
                .limit(limit)
                .offset(offset)
            ).all()
        names = {}
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
        return Page(items=items, total=int(total or 0), limit=limit, offset=offset)

    def feedback(self, answer_id: str, vote: str, *, actor: Principal = LOCAL) -> Example | None:
        """A thumbs-up (``up``) makes the answer a candidate example; ``down`` is kept on
        the answer only."""
        if vote not in ("up", "down"):
            raise InvalidInput("A vote is up or down.", detail={"vote": vote})
        row = self._answer_row(answer_id, actor)
        info = self._access.connection(
            actor, self._connections.name_of(row.connection_id), Action.browse
        )

        def work(session: Session) -> None:
            stored = session.get(AnswerRow, answer_id)
            if stored is not None:
                stored.feedback = vote

        self._db.write(work)
        if vote == "down":
            return None
        return self.knowledge.from_answer(info, row.question, row.sql, actor)

    # --- the accuracy harness -----------------------------------------------------

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
        index = self._index(info, flavour, actor.username)
        skip: dict[str, str] = {}
        if questions is None:
            rows = self.kb.approved(info.id)
            if not rows:
                raise InvalidInput(
                    "The connection has no approved example to evaluate on; give a question file.",
                    code="EVAL_NO_QUESTIONS",
                )
            questions = [EvalQuestion(question=r.question, sql=r.sql, id=r.id) for r in rows]
            skip = {r.question: r.id for r in rows}
        chat_endpoint = None if mode == "retrieval" else self.endpoints.resolve(endpoint, "chat")
        with self.engine.session(info.name) as session:

            def rank(question: str) -> list[Ranked]:
                why = Purpose(actor.username, "eval.embed", connection_id=info.id)
                embedding = self._question_embedding(index, question, why)
                return index.rank(question, 10, question_embedding=embedding)

            def answer(q: EvalQuestion) -> Outcome:
                assert chat_endpoint is not None
                why = Purpose(actor.username, "eval", connection_id=info.id)
                pipeline = self._pipeline(
                    info, flavour, index, chat_endpoint, why, q.question, session
                )
                knowledge = self._knowledge(info.id, q.question, skip=skip.get(q.question))
                return pipeline.run(q.question, knowledge, [])

            def baseline(q: EvalQuestion) -> tuple[str, int, int]:
                assert chat_endpoint is not None
                ddl = [
                    prompts.compact_ddl(
                        t, flavour.dialect, schema_qualified=flavour.style.schema_qualified
                    )
                    for t in index.tables
                ]
                reply = self.models.chat(
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
                execute=session.rows,
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


def _clean(question: str) -> str:
    text = " ".join(question.split())
    if not text or "\x00" in text:
        raise InvalidInput("A question is plain text of 1 to 4,000 characters.")
    return text
