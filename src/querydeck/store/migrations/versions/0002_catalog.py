"""Catalog cache: per-connection state, schema snapshots and their tables.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from querydeck.store.tables import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qd_catalog_state",
        sa.Column(
            "connection_id",
            sa.String(36),
            sa.ForeignKey("qd_connections.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("include", sa.JSON(), nullable=False),
        sa.Column("exclude", sa.JSON(), nullable=False),
        sa.Column("timeout_s", sa.Float(), nullable=True),
        sa.Column("refreshed_at", UtcDateTime(), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_at", UtcDateTime(), nullable=True),
    )
    op.create_table(
        "qd_catalog_schemas",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "connection_id",
            sa.String(36),
            sa.ForeignKey("qd_connections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("schema_key", sa.String(64), nullable=False),
        sa.Column("schema_name", sa.Text(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", UtcDateTime(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("table_count", sa.Integer(), nullable=False),
        sa.Column("column_count", sa.Integer(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_at", UtcDateTime(), nullable=True),
        sa.UniqueConstraint("connection_id", "schema_key"),
    )
    op.create_table(
        "qd_catalog_tables",
        sa.Column(
            "schema_id",
            sa.String(36),
            sa.ForeignKey("qd_catalog_schemas.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name_key", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("column_count", sa.Integer(), nullable=False),
        sa.Column("row_estimate", sa.BigInteger(), nullable=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("qd_catalog_tables")
    op.drop_table("qd_catalog_schemas")
    op.drop_table("qd_catalog_state")
