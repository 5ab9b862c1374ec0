"""training examples, emergency advice and trained models

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kb_training",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_kb_training_label", "kb_training", ["label"])
    op.create_table(
        "kb_emergency_advice",
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("advice", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("kind"),
    )
    op.create_table(
        "kb_models",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )


def downgrade() -> None:
    op.drop_table("kb_models")
    op.drop_table("kb_emergency_advice")
    op.drop_index("ix_kb_training_label", table_name="kb_training")
    op.drop_table("kb_training")
