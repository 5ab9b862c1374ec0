"""Reports: numbers, history, subscribers told once per change, public status."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db import Database
from bot.hub import Hub
from bot.messages import Incoming
from bot.models import OutboxMessage, ReportEvent
from bot.reporting import reports
from bot.timeutil import utcnow


async def test_a_filed_report_gets_a_short_number_history_and_its_filer_subscribed(db: Database) -> None:
    async with db.transaction() as s:
        report = await reports.file_report(
            s, service_code="pothole", description="deep hole", now=utcnow(), channel="webchat", address="w-1"
        )
        number = report.number
    assert number is not None and number.isdigit() and len(number) == 5
    async with db.reading() as s:
        found = await reports.find(s, f"#{number}")
        assert found is not None and found.status == "open"
        assert await reports.followers(s, found) == 1


async def test_a_status_change_tells_every_subscriber_once_and_keeps_history(db: Database) -> None:
    async with db.transaction() as s:
        report = await reports.file_report(
            s, service_code="streetlight", description="dark", now=utcnow(), channel="webchat", address="w-1"
        )
        await reports.subscribe(s, report, "telegram", "42", now=utcnow())
        await reports.subscribe(s, report, "telegram", "42", now=utcnow())  # following twice
        number = report.number
    async with db.transaction() as s:
        change = await reports.set_status(s, number, "in progress", note="crew booked", now=utcnow())
        assert change.notified == 2
    async with db.transaction() as s:
        await reports.set_status(s, number, "closed", now=utcnow())
    async with db.reading() as s:
        rows = (await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        events = (await s.scalars(select(ReportEvent).order_by(ReportEvent.id))).all()
    assert [(r.channel, r.address) for r in rows] == [("webchat", "w-1"), ("telegram", "42")] * 2
    assert "in progress" in rows[0].payload["text"] and "crew booked" in rows[0].payload["text"]
    assert "closed** (fixed)" in rows[2].payload["text"]
    assert [(e.status, e.close_reason) for e in events] == [
        ("open", None),
        ("in_progress", None),
        ("closed", "fixed"),
    ]


@pytest.mark.parametrize(
    ("number", "status", "reason", "says"),
    [
        ("99999", "closed", None, "no report 99999"),
        ("abc", "closed", None, "not a report number"),
        ("10001", "finished", None, "not a status"),
        ("10001", "closed", "bored", "not a closing reason"),
    ],
)
async def test_bad_changes_are_refused_clearly(
    db: Database, number: str, status: str, reason: str | None, says: str
) -> None:
    async with db.transaction() as s:
        await reports.file_report(s, service_code="pothole", description="x", now=utcnow())
    with pytest.raises(reports.ReportError, match=says):
        async with db.transaction() as s:
            await reports.set_status(s, number, status, reason=reason, now=utcnow())


async def test_residents_see_public_status_by_number(hub: Hub) -> None:
    async with hub.db.transaction() as s:
        report = await reports.file_report(
            s, service_code="graffiti", description="tag on my wall, call me 555-0100", now=utcnow()
        )
        number = report.number
    result = await hub.engine.handle(Incoming("console", "r", "s1", text=f"status {number}"))
    text = result.replies[0].text
    assert number in text and "open" in text and "555" not in text  # no personal data
    missing = await hub.engine.handle(Incoming("console", "r", "s2", text="status 99999"))
    assert "couldn't find report **99999**" in missing.replies[0].text
