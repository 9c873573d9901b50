"""The append-only audit log.

Revision ID: 0008
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from querydeck.store.tables import AuditId, UtcDateTime

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qd_audit",
        sa.Column("id", AuditId, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("actor_role", sa.String(16), nullable=True),
        sa.Column("via", sa.String(16), nullable=True),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=True),
        sa.Column("target_id", sa.String(200), nullable=True),
        sa.Column("connection_id", sa.String(36), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_qd_audit_at", "qd_audit", ["at"])
    op.create_index("ix_qd_audit_actor", "qd_audit", ["actor", "id"])
    op.create_index("ix_qd_audit_action", "qd_audit", ["action", "id"])
    op.create_index("ix_qd_audit_outcome", "qd_audit", ["outcome", "id"])
    op.create_index("ix_qd_audit_connection", "qd_audit", ["connection_id", "id"])
    op.create_index("ix_qd_audit_target", "qd_audit", ["target_type", "target_id", "id"])


def downgrade() -> None:
    op.drop_table("qd_audit")
