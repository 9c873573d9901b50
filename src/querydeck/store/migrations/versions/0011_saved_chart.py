"""A saved query's chart (a Vega-Lite spec without data).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("qd_saved_queries", sa.Column("chart", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("qd_saved_queries") as batch:
        batch.drop_column("chart")
