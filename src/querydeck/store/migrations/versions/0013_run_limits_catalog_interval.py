"""The limits a run's server lowered; a connection's own background refresh interval.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("qd_runs") as batch:
        batch.add_column(sa.Column("limits", sa.JSON(), nullable=True))
    with op.batch_alter_table("qd_catalog_state") as batch:
        batch.add_column(sa.Column("refresh_interval_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("qd_catalog_state") as batch:
        batch.drop_column("refresh_interval_s")
    with op.batch_alter_table("qd_runs") as batch:
        batch.drop_column("limits")
