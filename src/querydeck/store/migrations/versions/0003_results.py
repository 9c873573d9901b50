"""Results that scale: where a run's rows are (result_state), saved queries.

Revision ID: 0003
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from querydeck.store.tables import UtcDateTime

revision = "0003"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("qd_runs") as batch:
        batch.add_column(sa.Column("result_state", sa.String(16), nullable=True))
    op.create_index("ix_qd_runs_status_created", "qd_runs", ["status", "created_at"])
    op.create_table(
        "qd_saved_queries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_key", sa.String(400), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("sql", sa.Text(), nullable=False),
        sa.Column(
            "connection_id",
            sa.String(36),
            sa.ForeignKey("qd_connections.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("favourite", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_qd_saved_owner_key", "qd_saved_queries", ["owner", "name_key"], unique=True)
    op.create_index("ix_qd_saved_owner_updated", "qd_saved_queries", ["owner", "updated_at"])


def downgrade() -> None:
    op.drop_table("qd_saved_queries")
    op.drop_index("ix_qd_runs_status_created", table_name="qd_runs")
    with op.batch_alter_table("qd_runs") as batch:
        batch.drop_column("result_state")
