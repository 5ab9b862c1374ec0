"""Outbox: claimed once, in order per address, retried with backoff, kept when it fails."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select, update

from bot.channel import DeliveryError
from bot.db import Database
from bot.dialog import Later
from bot.engine import outbox_row
from bot.messages import Capabilities, Outgoing
from bot.models import OutboxMessage
from bot.outbox import OutboxWorker, backoff
from bot.timeutil import utcnow


class FlakyChannel:
    """A platform that refuses the first `failures` sends of each message."""

    name = "flaky"
    capabilities = Capabilities()

    def __init__(
        self, failures: int = 0, *, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        self.failures = failures
        self.retry_after = retry_after
        self.permanent = permanent
        self.tries: dict[str, int] = defaultdict(int)
        self.delivered: dict[str, list[str]] = defaultdict(list)

    async def send(self, address: str, message: Outgoing) -> None:
        self.tries[message.text] += 1
        await asyncio.sleep(0.001)
        if self.tries[message.text] <= self.failures:
            raise DeliveryError("platform said no", retry_after=self.retry_after, permanent=self.permanent)
        self.delivered[address].append(message.text)


async def enqueue(db: Database, items: list[tuple[str, str]]) -> None:
    async with db.transaction() as s:
        for address, text in items:
            s.add(outbox_row(Later("flaky", address, Outgoing(text)), utcnow()))


async def make_all_due(db: Database) -> None:
    async with db.transaction() as s:
        await s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "pending")
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


async def drain(db: Database, workers: list[OutboxWorker], rounds: int = 20) -> None:
    for _ in range(rounds):
        await make_all_due(db)
        tried = await asyncio.gather(*(w.run_once() for w in workers))
        if not any(tried):
            break


async def statuses(db: Database) -> list[tuple[str, int, str | None]]:
    async with db.reading() as s:
        rows = await s.execute(
            select(OutboxMessage.status, OutboxMessage.attempts, OutboxMessage.last_error).order_by(
                OutboxMessage.id
            )
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def test_two_workers_deliver_each_message_once_in_order(db: Database) -> None:
    channel = FlakyChannel(failures=2)
    items = [(f"a{n % 3}", f"m{n}") for n in range(15)]
    await enqueue(db, items)
    workers = [OutboxWorker(db, {"flaky": channel}, batch=4) for _ in range(2)]
    await drain(db, workers, rounds=40)
    for address in ("a0", "a1", "a2"):
        expected = [text for a, text in items if a == address]
        assert channel.delivered[address] == expected  # once each, in order
    assert all(tries == 3 for tries in channel.tries.values())  # two refusals, then accepted
    assert {s for s, _, _ in await statuses(db)} == {"sent"}


async def test_a_message_is_kept_as_failed_after_the_last_attempt(db: Database) -> None:
    channel = FlakyChannel(failures=99)
    await enqueue(db, [("a", "never")])
    await drain(db, [OutboxWorker(db, {"flaky": channel}, max_attempts=3)])
    assert await statuses(db) == [("failed", 3, "platform said no")]
    assert channel.tries["never"] == 3


async def test_a_permanent_refusal_is_not_retried(db: Database) -> None:
    channel = FlakyChannel(failures=99, permanent=True)
    await enqueue(db, [("a", "blocked")])
    await drain(db, [OutboxWorker(db, {"flaky": channel})])
    assert await statuses(db) == [("failed", 1, "platform said no")]


async def test_retry_after_from_the_platform_is_honoured(db: Database) -> None:
    channel = FlakyChannel(failures=1, retry_after=120)
    await enqueue(db, [("a", "slow down")])
    worker = OutboxWorker(db, {"flaky": channel})
    before = utcnow()
    await worker.run_once()
    async with db.reading() as s:
        row = (await s.scalars(select(OutboxMessage))).one()
    assert row.status == "pending"
    assert timedelta(seconds=115) < row.next_attempt_at - before < timedelta(seconds=130)
    assert await worker.run_once() == 0  # not due yet


async def test_a_row_left_sending_by_a_dead_worker_is_claimed_again(db: Database) -> None:
    channel = FlakyChannel()
    await enqueue(db, [("a", "orphan")])
    async with db.transaction() as s:  # a worker claimed it, then died
        await s.execute(
            update(OutboxMessage).values(
                status="sending", attempts=1, lease_until=utcnow() - timedelta(seconds=1)
            )
        )
    await OutboxWorker(db, {"flaky": channel}).run_once()
    assert channel.delivered["a"] == ["orphan"]


def test_backoff_grows_and_is_capped() -> None:
    assert 1.5 < backoff(1) < 2.5 and 3 < backoff(2) < 5
    assert backoff(50) <= 3600 * 1.2


async def test_a_claim_whose_lease_ran_out_is_neither_sent_nor_recorded(db: Database) -> None:
    channel = FlakyChannel()
    await enqueue(db, [("a", "once")])
    slow = OutboxWorker(db, {"flaky": channel}, lease=timedelta(milliseconds=50))
    (stale,) = await slow.claim(utcnow())
    await asyncio.sleep(0.1)  # the slow worker stalls past its lease...
    await OutboxWorker(db, {"flaky": channel}).run_once()  # ...and another claims and sends
    await slow._deliver(stale)  # the slow worker wakes up with its old claim
    assert channel.delivered["a"] == ["once"]  # sent once
    assert await statuses(db) == [("sent", 2, None)]


async def test_a_late_outcome_does_not_overwrite_the_new_claim(db: Database) -> None:
    channel = FlakyChannel(failures=1)
    await enqueue(db, [("a", "late")])
    first = OutboxWorker(db, {"flaky": channel}, lease=timedelta(seconds=30))
    (claimed,) = await first.claim(utcnow())
    async with db.transaction() as s:  # meanwhile another worker reclaimed and delivered it
        await s.execute(update(OutboxMessage).values(status="sent", attempts=2, lease_until=None))
    await first._failed(claimed, "platform said no", None, False)  # the first worker's late failure
    assert await statuses(db) == [("sent", 2, None)]
