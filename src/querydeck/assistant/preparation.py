"""What a question needs before the model writes: the connection's assistant switches, its
retrieval index (examples checked for staleness when the catalog changed), the question's
embedding, the approved examples and glossary entries, and a pipeline bound to an open
tx of the connection."""

from __future__ import annotations

from sqlalchemy.orm import Session

from querydeck.assistant.client import Reply
from querydeck.assistant.endpoints import Endpoint, EndpointRegistry
from querydeck.assistant.indexes import IndexCache
from querydeck.assistant.inference import Models, Purpose
from querydeck.assistant.knowledge import KnowledgeBase
from querydeck.assistant.models import AssistantSettings
from querydeck.assistant.pipeline import Knowledge, Pipeline
from querydeck.assistant.prompts import Shot
from querydeck.assistant.retrieval import SchemaIndex
from querydeck.assistant.sessions import Flavour, GuardedSession
from querydeck.errors import QueryDeckError
from querydeck.settings import Settings
from querydeck.sources.models import ConnectionInfo
from querydeck.sql.checker import StatementChecker
from querydeck.store.assistant_tables import AssistantSettingsRow
from querydeck.store.database import AppDatabase
from querydeck.store.plain import utcnow


class Preparation:
    def __init__(
        self,
        settings: Settings,
        db: AppDatabase,
        *,
        registry: EndpointRegistry,
        models: Models,
        indexes: IndexCache,
        kb: KnowledgeBase,
        checker: StatementChecker,
    ) -> None:
        self._settings = settings
        self._db = db
        self._registry = registry
        self._models = models
        self._indexes = indexes
        self._kb = kb
        self._checker = checker
        self._stale_checked: dict[str, tuple[tuple[str, int], ...]] = {}

    # --- the connection's switches --------------------------------------------------

    def switches(self, connection_id: str) -> AssistantSettings:
        with self._db.read() as tx:
            row = tx.get(AssistantSettingsRow, connection_id)
        if row is None:
            return AssistantSettings()
        return AssistantSettings(
            allow_sampling=row.allow_sampling, send_sample_values=row.send_sample_values
        )

    def set_switches(self, connection_id: str, values: AssistantSettings) -> None:
        def work(tx: Session) -> None:
            row = tx.get(AssistantSettingsRow, connection_id)
            if row is None:
                row = AssistantSettingsRow(connection_id=connection_id)
                tx.add(row)
            row.allow_sampling = values.allow_sampling
            row.send_sample_values = values.send_sample_values
            row.updated_at = utcnow()

        self._db.write(work)

    # --- retrieval ------------------------------------------------------------------

    def index(self, info: ConnectionInfo, flavour: Flavour, user: str) -> SchemaIndex:
        """The connection's retrieval index (built on first use or after a change)."""

        def embed(endpoint: Endpoint, texts: list[str]) -> list[list[float]]:
            reply = self._models.embed(
                endpoint, texts, Purpose(user, "embed.tables", connection_id=info.id)
            )
            return reply.embeddings or []

        index = self._indexes.get(
            info.id,
            info.name,
            flavour,
            sampling=self.switches(info.id).allow_sampling,
            embedder=self._registry.maybe("embeddings"),
            embed=embed,
        )
        self._mark_stale(info, index)
        return index

    def _mark_stale(self, info: ConnectionInfo, index: SchemaIndex) -> None:
        """Once per catalog change: examples using what the catalog no longer has."""
        if self._stale_checked.get(info.id) == index.signature:
            return
        catalog = {f"{t.schema}.{t.name}": t for t in index.tables}
        self._kb.mark_stale(info.id, catalog)
        self._stale_checked[info.id] = index.signature

    def question_embedding(self, index: SchemaIndex, text: str, why: Purpose) -> list[float] | None:
        if index.embeddings is None:
            return None
        endpoint = self._registry.maybe("embeddings")
        if endpoint is None:
            return None
        try:
            reply = self._models.embed(endpoint, [text], why)
        except QueryDeckError:
            return None  # lexical and value matches still rank
        vectors = reply.embeddings or []
        return vectors[0] if vectors else None

    # --- the knowledge base and the pipeline ----------------------------------------

    def knowledge(self, connection_id: str, question: str, skip: str | None = None) -> Knowledge:
        """Approved examples like ``question`` (but ``skip``) and the glossary entries it
        uses."""
        shots = [
            (row.id, Shot(row.question, row.sql), score)
            for row, score in self._kb.shots(connection_id, question)
            if row.id != skip
        ]
        return Knowledge(shots=shots, glossary=self._kb.terms_for(connection_id, question))

    def pipeline(
        self,
        info: ConnectionInfo,
        flavour: Flavour,
        index: SchemaIndex,
        endpoint: Endpoint,
        why: Purpose,
        question: str,
        guarded: GuardedSession,
    ) -> Pipeline:
        switches = self.switches(info.id)

        def chat(messages: list[dict[str, str]], purpose: str, json_output: bool) -> Reply:
            return self._models.chat(
                endpoint,
                messages,
                Purpose(why.user, purpose, why.connection_id, why.answer_id),
                json_output=json_output,
            )

        embedding = self.question_embedding(
            index, question, Purpose(why.user, "embed.question", why.connection_id, why.answer_id)
        )
        return Pipeline(
            index=index,
            flavour=flavour,
            checker=self._checker,
            chat=chat,
            explain=guarded.explain,
            candidate_count=self._settings.assistant_candidate_tables,
            rounds=self._settings.assistant_correction_rounds,
            send_samples=switches.send_sample_values and switches.allow_sampling,
            question_embedding=embedding,
        )
