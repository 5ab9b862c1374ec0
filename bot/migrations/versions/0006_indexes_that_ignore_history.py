"""indexes that stay small as history grows: waiting outbox rows, open reports

An index of open reports by service and place answers "has this been reported here?"
from the open reports alone, not from every report ever closed at that latitude.

A claim asks, for each due row, whether an earlier row to the same address is still
waiting. With the plain (channel, address, id) index that walks every row ever sent
to the address; an index of waiting rows only stays as small as the queue, and the
queue itself in id order (a claim's ORDER BY id) is read from one, not from every
row ever written. The
sent_at index lets retention delete old sent rows without a scan.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

WAITING = sa.text("status IN ('pending', 'sending')")
OPEN = sa.text("status != 'closed'")


def upgrade() -> None:
    op.create_index(
        "ix_outbox_waiting",
        "outbox",
        ["channel", "address", "id"],
        sqlite_where=WAITING,
        postgresql_where=WAITING,
    )
    op.create_index("ix_outbox_queue", "outbox", ["id"], sqlite_where=WAITING, postgresql_where=WAITING)
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"])
    op.create_index(
        "ix_reports_open_place",
        "reports",
        ["service_code", "lat", "lon"],
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_reports_open_place", table_name="reports")
    op.drop_index("ix_outbox_sent_at", table_name="outbox")
    op.drop_index("ix_outbox_queue", table_name="outbox")
    op.drop_index("ix_outbox_waiting", table_name="outbox")
