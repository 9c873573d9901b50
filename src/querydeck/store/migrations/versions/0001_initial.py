"""Initial tables: meta, connections, runs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from querydeck.store.tables import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qd_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "qd_connections",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_key", sa.String(400), nullable=False, unique=True),
        sa.Column("driver", sa.String(64), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("secrets", sa.LargeBinary(), nullable=True),
        sa.Column("secret_names", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("status_ok", sa.Boolean(), nullable=True),
        sa.Column("status_error_code", sa.String(64), nullable=True),
        sa.Column("status_error_message", sa.Text(), nullable=True),
        sa.Column("status_latency_ms", sa.Float(), nullable=True),
        sa.Column("status_server_version", sa.String(400), nullable=True),
        sa.Column("status_checked_at", UtcDateTime(), nullable=True),
    )
    op.create_table(
        "qd_runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_name", sa.String(200), nullable=False),
        sa.Column(
            "connection_id",
            sa.String(36),
            sa.ForeignKey("qd_connections.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("connection_name", sa.String(200), nullable=True),
        sa.Column("driver", sa.String(64), nullable=True),
        sa.Column("sql", sa.Text(), nullable=False),
        sa.Column("executed_sql", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("max_rows", sa.Integer(), nullable=False),
        sa.Column("timeout_s", sa.Float(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=True),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_detail", sa.JSON(), nullable=True),
        sa.Column("error_status", sa.Integer(), nullable=True),
        sa.Column("result_file", sa.String(200), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
    )
    op.create_index("ix_qd_runs_created", "qd_runs", ["created_at", "id"])
    op.create_index("ix_qd_runs_user_created", "qd_runs", ["user_name", "created_at"])
    op.create_index("ix_qd_runs_connection", "qd_runs", ["connection_id"])


def downgrade() -> None:
    op.drop_table("qd_runs")
    op.drop_table("qd_connections")
    op.drop_table("qd_meta")
