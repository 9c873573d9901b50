"""Groups, per-connection grants, and shared saved queries.

Revision ID: 0009
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from querydeck.store.tables import UtcDateTime

revision = "0009"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qd_groups",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_key", sa.String(400), nullable=False, unique=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "qd_group_members",
        sa.Column(
            "group_id",
            sa.String(36),
            sa.ForeignKey("qd_groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("username", sa.String(200), primary_key=True),
    )
    op.create_index("ix_qd_group_members_username", "qd_group_members", ["username"])
    op.create_table(
        "qd_grants",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "connection_id",
            sa.String(36),
            sa.ForeignKey("qd_connections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("subject_kind", sa.String(8), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint(
            "connection_id", "subject_kind", "subject", name="uq_qd_grants_subject"
        ),
    )
    op.create_index("ix_qd_grants_subject", "qd_grants", ["subject_kind", "subject"])
    with op.batch_alter_table("qd_saved_queries") as batch:
        batch.add_column(
            sa.Column("shared", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("qd_saved_queries") as batch:
        batch.drop_column("shared")
    op.drop_index("ix_qd_grants_subject", "qd_grants")
    op.drop_table("qd_grants")
    op.drop_index("ix_qd_group_members_username", "qd_group_members")
    op.drop_table("qd_group_members")
    op.drop_table("qd_groups")
