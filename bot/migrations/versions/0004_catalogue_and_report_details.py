"""service catalogue in the database; report address key, contact and department

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 07:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bot.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "services",
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("group_name", sa.String(length=200), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=False),
        sa.Column("keywords", JSON, nullable=False),
        sa.Column("typical_days", sa.Integer(), nullable=True),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("updated_at", bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "departments",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slack_channel", sa.String(length=100), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address_key", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("contact", JSON, nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("department", sa.String(length=200), nullable=True))
        batch_op.create_index("ix_reports_address_key", ["address_key", "service_code"], unique=False)
        batch_op.create_index("ix_reports_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_reports_service_lat", ["service_code", "lat"], unique=False)
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index("ix_subscriptions_address", ["channel", "address"], unique=False)
    with op.batch_alter_table("report_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=200), nullable=True))
        batch_op.create_index("ix_report_events_created_at", ["created_at"], unique=False)
        batch_op.create_index("uq_report_events_external", ["actor", "external_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("report_events", schema=None) as batch_op:
        batch_op.drop_index("uq_report_events_external")
        batch_op.drop_index("ix_report_events_created_at")
        batch_op.drop_column("external_id")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriptions_address")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_service_lat")
        batch_op.drop_index("ix_reports_created_at")
        batch_op.drop_index("ix_reports_address_key")
        batch_op.drop_column("department")
        batch_op.drop_column("contact")
        batch_op.drop_column("address_key")
    op.drop_table("departments")
    op.drop_table("services")
