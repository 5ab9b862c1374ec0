"""reports: place key and days to close, kept when written; indexes for stats and Open311

`civic311 stats` read every report into Python to fold its address into a street and
to take medians: 9.6 s and 1 GB at a million reports. The place (bot/reporting/places.py)
and the days from filing to closing are now columns written with the report, so the
statistics are grouped counts in SQL, and each median is found by counting along an
index of one group's closed reports in order of their time to close.

Existing reports are filled in here, in batches of ids, with the same Python functions
the code writes new reports with, so old and new rows agree to the last digit. The
indexes are built after the fill, which is then not slowed by maintaining them.

Open311's list of one service, newest first, gets the index of its filter and sort
(service_code, created_at, id): it was reading the service's reports and sorting them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

import bot.models
from bot.reporting.places import place_key
from bot.reporting.reports import days_to_close

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BATCH = 5000
TIMED = sa.text("days_to_close IS NOT NULL")

_reports = sa.table(
    "reports",
    sa.column("id", sa.Integer),
    sa.column("status", sa.String),
    sa.column("address", sa.Text),
    sa.column("address_key", sa.String),
    sa.column("lat", sa.Float),
    sa.column("lon", sa.Float),
    sa.column("created_at", bot.models.UTCDateTime()),
    sa.column("closed_at", bot.models.UTCDateTime()),
    sa.column("place_key", sa.String),
    sa.column("days_to_close", sa.Float),
)


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("place_key", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("days_to_close", sa.Float(), nullable=True))
    backfill(op.get_bind())
    op.create_index("ix_reports_service_created", "reports", ["service_code", "created_at", "id"])
    op.create_index(
        "ix_reports_stats_service",
        "reports",
        ["service_code", "status", "close_reason", "created_at", "days_to_close"],
    )
    op.create_index(
        "ix_reports_stats_place", "reports", ["place_key", "status", "created_at", "days_to_close"]
    )
    for name, group in (
        ("ix_reports_days", []),
        ("ix_reports_days_service", ["service_code"]),
        ("ix_reports_days_reason", ["close_reason"]),
        ("ix_reports_days_place", ["place_key"]),
    ):
        op.create_index(
            name,
            "reports",
            [*group, "days_to_close", "created_at"],
            sqlite_where=TIMED,
            postgresql_where=TIMED,
        )
    if op.get_bind().dialect.name == "postgresql":
        # The fill rewrote every row: fresh statistics now rather than at autovacuum's leisure.
        # Not on SQLite, whose statistics, once written, stay as they are until the next
        # ANALYZE; the queries there are planned well without any (tests/bot/test_stats_sql.py).
        op.execute("ANALYZE reports")


def backfill(connection: sa.Connection) -> int:
    """Each existing report's place key and, when closed, its days to close. Returns how
    many reports were filled in. A report counts as closed for the medians as the
    statistics counted it before: status 'closed' with a closing time."""
    done = 0
    last = 0
    while True:
        rows = connection.execute(
            sa.select(
                _reports.c.id,
                _reports.c.status,
                _reports.c.address,
                _reports.c.address_key,
                _reports.c.lat,
                _reports.c.lon,
                _reports.c.created_at,
                _reports.c.closed_at,
            )
            .where(_reports.c.id > last)
            .order_by(_reports.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return done
        values: list[dict[str, Any]] = [
            {
                "row_id": row.id,
                "place": place_key(row.address_key, row.address, row.lat, row.lon),
                "days": days_to_close(row.created_at, row.closed_at if row.status == "closed" else None),
            }
            for row in rows
        ]
        connection.execute(
            _reports.update()
            .where(_reports.c.id == sa.bindparam("row_id"))
            .values(place_key=sa.bindparam("place"), days_to_close=sa.bindparam("days")),
            values,
        )
        done += len(rows)
        last = rows[-1].id


def downgrade() -> None:
    for name in (
        "ix_reports_days_place",
        "ix_reports_days_reason",
        "ix_reports_days_service",
        "ix_reports_days",
        "ix_reports_stats_place",
        "ix_reports_stats_service",
        "ix_reports_service_created",
    ):
        op.drop_index(name, table_name="reports")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_column("days_to_close")
        batch_op.drop_column("place_key")
