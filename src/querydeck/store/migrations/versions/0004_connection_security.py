"""Connections remember their privilege probe and the admin override.

Revision ID: 0004
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from querydeck.store.tables import UtcDateTime

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("qd_connections") as batch:
        batch.add_column(
            sa.Column("allow_privileged", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("can_write", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("privilege_reasons", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("privileges_checked_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("qd_connections") as batch:
        batch.drop_column("privileges_checked_at")
        batch.drop_column("privilege_reasons")
        batch.drop_column("can_write")
        batch.drop_column("allow_privileged")
