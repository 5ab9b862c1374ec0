"""Staff events: what a staff desk is told, written to the outbox in the transaction of
the change they report, so a filed report and its notice are stored together or not at all.

Rows go to the outbox channel `DESK`, addressed by subject ("report:12", "handoff:3"):
the outbox sends one subject's events in order, so a report's notice is posted (and its
thread known) before its first change is shown in it. An event carries ids, not copies;
the desk reads the subject as it is when it sends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import OutboxMessage

DESK = "staff"  # the outbox channel of staff events; the enabled staff desk delivers it

REPORT_FILED = "report_filed"
REPORT_CHANGED = "report_changed"
HANDOFF_OPENED = "handoff_opened"
HANDOFF_CHANGED = "handoff_changed"  # held, handed back, closed, expired
RESIDENT_SAID = "resident_said"
STAFF_REPLIED = "staff_replied"
FAQ_SAVED = "faq_saved"


def report_subject(report_id: int) -> str:
    return f"report:{report_id}"


def handoff_subject(handoff_id: int, report_id: int | None) -> str:
    """A handoff about a report is shown in the report's thread: one place for staff."""
    return report_subject(report_id) if report_id is not None else f"handoff:{handoff_id}"


def parse_subject(subject: str) -> tuple[str, int] | None:
    kind, _, number = subject.partition(":")
    if kind in ("report", "handoff") and number.isdecimal():
        return kind, int(number)
    return None


def tell_staff(session: AsyncSession, subject: str, kind: str, now: datetime, **data: Any) -> None:
    session.add(
        OutboxMessage(
            channel=DESK,
            address=subject,
            payload={"kind": kind, **data},
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
