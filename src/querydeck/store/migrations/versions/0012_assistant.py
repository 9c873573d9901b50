"""The assistant: model endpoints, the inference log, answers, knowledge base, settings.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from querydeck.store.tables import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _connection() -> sa.ForeignKey:
    return sa.ForeignKey("qd_connections.id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "qd_model_endpoints",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_key", sa.String(400), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("base_url", sa.Text(), nullable=False),
        sa.Column("model", sa.String(400), nullable=False),
        sa.Column("api_key", sa.LargeBinary(), nullable=True),
        sa.Column("timeout_s", sa.Float(), nullable=False),
        sa.Column("max_tokens", sa.Integer(), nullable=False),
        sa.Column("rate_limit", sa.String(200), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "qd_inference_log",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("user_name", sa.String(200), nullable=False),
        sa.Column("endpoint_id", sa.String(36), nullable=True),
        sa.Column("endpoint_name", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("connection_id", sa.String(36), nullable=True),
        sa.Column("answer_id", sa.String(36), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=True),
        sa.Column("tokens_out", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
    )
    op.create_index("ix_qd_inference_log_user_at", "qd_inference_log", ["user_name", "at"])
    op.create_index("ix_qd_inference_log_at", "qd_inference_log", ["at", "id"])
    op.create_table(
        "qd_assistant_answers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_name", sa.String(200), nullable=False),
        sa.Column("connection_id", sa.String(36), _connection(), nullable=False),
        sa.Column("parent_id", sa.String(36), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("sql", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("feedback", sa.String(16), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index(
        "ix_qd_assistant_answers_user", "qd_assistant_answers", ["user_name", "created_at"]
    )
    op.create_table(
        "qd_kb_examples",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("connection_id", sa.String(36), _connection(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("sql", sa.Text(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("uses", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("reviewer", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stale_reason", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_qd_kb_examples_connection", "qd_kb_examples", ["connection_id", "status"])
    op.create_table(
        "qd_kb_glossary",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("connection_id", sa.String(36), _connection(), nullable=False),
        sa.Column("term", sa.String(200), nullable=False),
        sa.Column("term_key", sa.String(400), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("connection_id", "term_key"),
    )
    op.create_table(
        "qd_assistant_settings",
        sa.Column("connection_id", sa.String(36), _connection(), primary_key=True),
        sa.Column("allow_sampling", sa.Boolean(), nullable=False),
        sa.Column("send_sample_values", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "qd_assistant_settings",
        "qd_kb_glossary",
        "qd_kb_examples",
        "qd_assistant_answers",
        "qd_inference_log",
        "qd_model_endpoints",
    ):
        op.drop_table(table)
