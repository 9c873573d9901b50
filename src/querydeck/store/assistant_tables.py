"""Tables of the assistant in querydeck's own database: model endpoints, the inference log,
answers (for follow-ups and feedback) and the knowledge base (examples, glossary)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from querydeck.store.tables import Base, UtcDateTime


class ModelEndpointRow(Base):
    """A registered OpenAI-compatible model server (chat or embeddings)."""

    __tablename__ = "qd_model_endpoints"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(400), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    base_url: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(400))
    #: AES-GCM ciphertext of the API key, bound to ``endpoint/<id>``; None without a key.
    api_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    timeout_s: Mapped[float] = mapped_column(Float)
    max_tokens: Mapped[int] = mapped_column(Integer)
    rate_limit: Mapped[str] = mapped_column(String(200))
    is_default: Mapped[bool] = mapped_column(Boolean)
    capabilities: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class InferenceRow(Base):
    """One call to a model: who, which endpoint, why, how long, tokens, outcome, and the
    prompt and response (capped, redacted)."""

    __tablename__ = "qd_inference_log"
    __table_args__ = (
        Index("ix_qd_inference_log_user_at", "user_name", "at"),
        Index("ix_qd_inference_log_at", "at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    user_name: Mapped[str] = mapped_column(String(200))
    endpoint_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    endpoint_name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(32))
    connection_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    answer_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    tokens_in: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tokens_out: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prompt: Mapped[str] = mapped_column(Text)
    response: Mapped[str] = mapped_column(Text)


class AnswerRow(Base):
    """An answer of the assistant: the question, the SQL and what was used (the thread of
    a follow-up is its ``parent_id`` chain)."""

    __tablename__ = "qd_assistant_answers"
    __table_args__ = (Index("ix_qd_assistant_answers_user", "user_name", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(200))
    connection_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("qd_connections.id", ondelete="CASCADE")
    )
    parent_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    question: Mapped[str] = mapped_column(Text)
    sql: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    feedback: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ExampleRow(Base):
    """A question/SQL pair of a connection's knowledge base."""

    __tablename__ = "qd_kb_examples"
    __table_args__ = (Index("ix_qd_kb_examples_connection", "connection_id", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    connection_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("qd_connections.id", ondelete="CASCADE")
    )
    question: Mapped[str] = mapped_column(Text)
    sql: Mapped[str] = mapped_column(Text)
    notes: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON)
    #: ``schema.table`` -> {column: native type} of what the SQL reads (staleness check).
    uses: Mapped[dict[str, Any]] = mapped_column(JSON)
    author: Mapped[str] = mapped_column(String(200))
    reviewer: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    stale_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class GlossaryRow(Base):
    """A term of a connection's vocabulary and what it means in its data."""

    __tablename__ = "qd_kb_glossary"
    __table_args__ = (UniqueConstraint("connection_id", "term_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    connection_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("qd_connections.id", ondelete="CASCADE")
    )
    term: Mapped[str] = mapped_column(String(200))
    term_key: Mapped[str] = mapped_column(String(400))
    definition: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AssistantSettingsRow(Base):
    """A connection's assistant switches (both off by default): profile low-cardinality
    text values into the value index, and send sample values to the model."""

    __tablename__ = "qd_assistant_settings"

    connection_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("qd_connections.id", ondelete="CASCADE"), primary_key=True
    )
    allow_sampling: Mapped[bool] = mapped_column(Boolean)
    send_sample_values: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
