"""A platform says an address is gone (updates stop, waiting messages are kept as failed)
or has moved (its conversation, subscriptions and waiting messages follow it)."""

from __future__ import annotations

from sqlalchemy import select

from bot.db import Database
from bot.delivery import recipients
from bot.delivery.outbox import Later, enqueue
from bot.messages import Outgoing
from bot.models import Conversation, OutboxMessage, Subscription
from bot.reporting import reports
from bot.timeutil import utcnow


async def _filed(db: Database, address: str, *, waiting: int = 2) -> str:
    now = utcnow()
    async with db.transaction() as s:
        report = await reports.file_report(
            s, service_code="pothole", description="hole", now=now, channel="tg", address=address
        )
        s.add(Conversation(channel="tg", address=address, state={}, created_at=now, updated_at=now))
        for n in range(waiting):
            enqueue(s, Later("tg", address, Outgoing(f"update {n}")), now)
        enqueue(s, Later("tg", "someone-else", Outgoing("theirs")), now)
        return report.number


async def _rows(db: Database) -> tuple[list[tuple[str, str, bool]], list[tuple[str, str, str | None]]]:
    async with db.reading() as s:
        subs = (
            await s.execute(select(Subscription.channel, Subscription.address, Subscription.active))
        ).all()
        out = (
            await s.execute(
                select(OutboxMessage.address, OutboxMessage.status, OutboxMessage.last_error).order_by(
                    OutboxMessage.id
                )
            )
        ).all()
    return [tuple(r) for r in subs], [tuple(r) for r in out]  # type: ignore[misc]


async def test_a_stopped_address_gets_no_more_updates(db: Database) -> None:
    number = await _filed(db, "42")
    assert await recipients.stopped(db, "tg", "42", "telegram: bot was blocked by the user") == 2
    subs, out = await _rows(db)
    assert subs == [("tg", "42", False)]
    assert out == [
        ("42", "failed", "telegram: bot was blocked by the user"),
        ("42", "failed", "telegram: bot was blocked by the user"),
        ("someone-else", "pending", None),
    ]
    # A later status change queues nothing for it.
    async with db.transaction() as s:
        change = await reports.set_status(s, number, "in_progress", now=utcnow())
    assert change.notified == 0


async def test_a_moved_address_takes_its_conversation_subscriptions_and_queue(db: Database) -> None:
    await _filed(db, "-100", waiting=1)
    await recipients.moved(db, "tg", "-100", "-100777")
    subs, out = await _rows(db)
    assert subs == [("tg", "-100777", True)]
    assert [a for a, _, _ in out] == ["-100777", "someone-else"]
    async with db.reading() as s:
        assert set(await s.scalars(select(Conversation.address))) == {"-100777"}


async def test_moving_onto_an_address_that_has_its_own_keeps_both_whole(db: Database) -> None:
    number = await _filed(db, "-1", waiting=0)
    now = utcnow()
    async with db.transaction() as s:
        s.add(Conversation(channel="tg", address="-2", state={"x": 1}, created_at=now, updated_at=now))
        report = await reports.find(s, number)
        assert report is not None
        await reports.subscribe(s, report, "tg", "-2", role="follower", now=now)
    await recipients.moved(db, "tg", "-1", "-2")
    subs, _ = await _rows(db)
    assert subs == [("tg", "-2", True)]  # one subscription, not a duplicate
    async with db.reading() as s:
        rows = (await s.execute(select(Conversation.address, Conversation.state))).all()
    assert sorted((a, st) for a, st in rows) == [("-1", {}), ("-2", {"x": 1})]
