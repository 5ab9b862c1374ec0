"""Outbox: claimed once, in order per address, retried with backoff, kept when it fails.

Workers read the time from a clock the test moves, so nothing here sleeps.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.db import Database
from bot.delivery.channel import DeliveryError
from bot.delivery.outbox import Later, enqueue
from bot.delivery.transcript import TranscriptChannel, messages_after
from bot.delivery.worker import OutboxWorker, backoff
from bot.messages import PLAIN_TEXT, Capabilities, Outgoing
from bot.models import Conversation, OutboxMessage
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
        await asyncio.sleep(0)  # let the other worker run between sends
        if self.tries[message.text] <= self.failures:
            raise DeliveryError("platform said no", retry_after=self.retry_after, permanent=self.permanent)
        self.delivered[address].append(message.text)


class Clock:
    """The time as the workers see it; `advance` is a wait that takes no time."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def queue(db: Database, clock: Clock, items: list[tuple[str, str]]) -> None:
    async with db.transaction() as s:
        for address, text in items:
            enqueue(s, Later("flaky", address, Outgoing(text)), clock())


async def drain(clock: Clock, workers: list[OutboxWorker], rounds: int = 20) -> None:
    """Run the workers until nothing is due even an hour and a half later (past any backoff)."""
    for _ in range(rounds):
        clock.advance(seconds=5400)
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
    channel, clock = FlakyChannel(failures=2), Clock()
    items = [(f"a{n % 3}", f"m{n}") for n in range(15)]
    await queue(db, clock, items)
    workers = [OutboxWorker(db, {"flaky": channel}, batch=4, clock=clock) for _ in range(2)]
    await drain(clock, workers, rounds=40)
    for address in ("a0", "a1", "a2"):
        expected = [text for a, text in items if a == address]
        assert channel.delivered[address] == expected  # once each, in order
    assert all(tries == 3 for tries in channel.tries.values())  # two refusals, then accepted
    assert {s for s, _, _ in await statuses(db)} == {"sent"}


async def test_a_message_is_kept_as_failed_after_the_last_attempt(db: Database) -> None:
    channel, clock = FlakyChannel(failures=99), Clock()
    await queue(db, clock, [("a", "never")])
    await drain(clock, [OutboxWorker(db, {"flaky": channel}, max_attempts=3, clock=clock)])
    assert await statuses(db) == [("failed", 3, "platform said no")]
    assert channel.tries["never"] == 3


async def test_a_permanent_refusal_is_not_retried(db: Database) -> None:
    channel, clock = FlakyChannel(failures=99, permanent=True), Clock()
    await queue(db, clock, [("a", "blocked")])
    await drain(clock, [OutboxWorker(db, {"flaky": channel}, clock=clock)])
    assert await statuses(db) == [("failed", 1, "platform said no")]


async def test_retry_after_from_the_platform_is_honoured(db: Database) -> None:
    channel, clock = FlakyChannel(failures=1, retry_after=120), Clock()
    await queue(db, clock, [("a", "slow down")])
    worker = OutboxWorker(db, {"flaky": channel}, clock=clock)
    before = clock()
    await worker.run_once()
    async with db.reading() as s:
        row = (await s.scalars(select(OutboxMessage))).one()
    assert row.status == "pending"
    assert row.next_attempt_at - before == timedelta(seconds=120)  # the platform's wish, not ours
    clock.advance(seconds=119)
    assert await worker.run_once() == 0  # not due yet
    clock.advance(seconds=1)
    assert await worker.run_once() == 1
    assert channel.delivered["a"] == ["slow down"]


async def test_a_row_left_sending_by_a_dead_worker_is_claimed_again(db: Database) -> None:
    channel, clock = FlakyChannel(), Clock()
    await queue(db, clock, [("a", "orphan")])
    dead = OutboxWorker(db, {"flaky": channel}, clock=clock)
    assert len(await dead.claim()) == 1  # a worker claimed it, then died
    alive = OutboxWorker(db, {"flaky": channel}, clock=clock)
    assert await alive.run_once() == 0  # the lease still holds
    clock.advance(seconds=61)
    assert await alive.run_once() == 1
    assert channel.delivered["a"] == ["orphan"]
    assert await statuses(db) == [("sent", 2, None)]


def test_backoff_grows_and_is_capped() -> None:
    assert 1.5 < backoff(1) < 2.5 and 3 < backoff(2) < 5
    assert backoff(50) <= 3600 * 1.2


async def test_a_claim_whose_lease_ran_out_is_neither_sent_nor_recorded(db: Database) -> None:
    channel, clock = FlakyChannel(), Clock()
    await queue(db, clock, [("a", "once")])
    slow = OutboxWorker(db, {"flaky": channel}, clock=clock)
    (stale,) = await slow.claim()
    clock.advance(seconds=61)  # the slow worker stalls past its lease...
    await OutboxWorker(db, {"flaky": channel}, clock=clock).run_once()  # ...another claims and sends
    await slow.deliver(stale)  # the slow worker wakes up with its old claim
    assert channel.delivered["a"] == ["once"]  # sent once
    assert await statuses(db) == [("sent", 2, None)]


async def test_a_late_outcome_does_not_overwrite_the_new_claim(db: Database) -> None:
    channel, clock = FlakyChannel(failures=1), Clock()
    await queue(db, clock, [("a", "late")])
    first = OutboxWorker(db, {"flaky": channel}, clock=clock)
    (claimed,) = await first.claim()
    async with db.transaction() as s:  # meanwhile another worker reclaimed and delivered it
        await s.execute(update(OutboxMessage).values(status="sent", attempts=2, lease_until=None))
    await first.deliver(claimed)  # the platform refuses the first worker's send...
    assert channel.tries["late"] == 1
    assert await statuses(db) == [("sent", 2, None)]  # ...and its failure does not undo the other's


async def test_sent_messages_are_kept_for_the_retention_period_then_deleted(db: Database) -> None:
    channel, clock = FlakyChannel(), Clock()
    worker = OutboxWorker(db, {"flaky": channel}, clock=clock, keep_sent=timedelta(days=30))
    await queue(db, clock, [("a", "old news")])
    await worker.run_once()  # sent now
    clock.advance(days=20)
    await queue(db, clock, [("b", "recent")])
    await worker.run_once()
    failing = OutboxWorker(db, {"flaky": FlakyChannel(failures=99)}, max_attempts=1, clock=clock)
    await queue(db, clock, [("c", "refused")])
    await failing.run_once()  # kept as failed
    await queue(db, clock, [("d", "waiting")])  # pending: no worker has tried it
    clock.advance(days=11)  # "old news" is 31 days old, "recent" 11
    assert await worker.sweep() == 1
    async with db.reading() as s:
        left = (
            await s.execute(select(OutboxMessage.address, OutboxMessage.status).order_by(OutboxMessage.id))
        ).all()
    assert [tuple(r) for r in left] == [("b", "sent"), ("c", "failed"), ("d", "pending")]
    assert await worker.sweep() == 0  # nothing more to do


async def test_the_worker_takes_its_retention_from_the_settings(db: Database) -> None:
    from bot.settings import load_settings

    settings = load_settings(OUTBOX_KEEP_SENT_DAYS=7, OUTBOX_MAX_ATTEMPTS=3, _env_file=None)
    worker = OutboxWorker.from_settings(db, {}, settings)
    assert worker.keep_sent == timedelta(days=7) and worker.max_attempts == 3


class PickyChannel:
    """A platform that always refuses some addresses and watches how it is called: which
    sends overlap, and whether two to one address ever do."""

    name = "flaky"
    capabilities = Capabilities()

    def __init__(self, refused: set[str] | None = None, *, steps: int = 1) -> None:
        self.refused = refused or set()
        self.steps = steps  # how many times a send yields to the loop before it answers
        self.delivered: dict[str, list[str]] = defaultdict(list)
        self.in_flight: set[str] = set()
        self.most_in_flight = 0
        self.overlaps_on_one_address = 0

    async def send(self, address: str, message: Outgoing) -> None:
        if address in self.in_flight:
            self.overlaps_on_one_address += 1
        self.in_flight.add(address)
        self.most_in_flight = max(self.most_in_flight, len(self.in_flight))
        try:
            for _ in range(self.steps):
                await asyncio.sleep(0)
            if address in self.refused:
                raise DeliveryError("no such chat")
            self.delivered[address].append(message.text)
        finally:
            self.in_flight.discard(address)


async def test_a_claim_takes_the_oldest_waiting_message_of_each_address(db: Database) -> None:
    clock = Clock()
    # a has three messages, b two, c one, queued out of address order
    items = [("a", "a1"), ("b", "b1"), ("a", "a2"), ("c", "c1"), ("a", "a3"), ("b", "b2")]
    await queue(db, clock, items)
    worker = OutboxWorker(db, {"flaky": PickyChannel()}, batch=10, clock=clock)
    rounds = []
    while claimed := await worker.claim():
        rounds.append([Outgoing.from_json(r.payload).text for r in claimed])
        await worker.deliver_batch(claimed)
    assert rounds == [["a1", "b1", "c1"], ["a2", "b2"], ["a3"]]  # one per address, oldest first


async def test_a_batch_is_sent_at_once_but_never_two_to_one_address(db: Database) -> None:
    channel, clock = PickyChannel(steps=3), Clock()
    items = [(f"r{n % 6}", f"m{n}") for n in range(30)]
    await queue(db, clock, items)
    await drain(clock, [OutboxWorker(db, {"flaky": channel}, batch=6, concurrency=4, clock=clock)])
    for n in range(6):
        assert channel.delivered[f"r{n}"] == [text for a, text in items if a == f"r{n}"]
    assert channel.most_in_flight == 4  # the sends of a batch overlap, up to `concurrency`
    assert channel.overlaps_on_one_address == 0
    assert {s for s, _, _ in await statuses(db)} == {"sent"}


async def test_a_failing_address_in_a_batch_does_not_hold_up_the_others(db: Database) -> None:
    channel, clock = PickyChannel(refused={"gone"}), Clock()
    items = [(a, f"{a}{n}") for n in range(3) for a in ("ok1", "gone", "ok2")]
    await queue(db, clock, items)
    worker = OutboxWorker(db, {"flaky": channel}, max_attempts=2, batch=10, clock=clock)
    assert await worker.run_once() == 3  # one batch: ok1, gone and ok2's first messages
    async with db.reading() as s:
        rows = (await s.execute(select(OutboxMessage.address, OutboxMessage.status))).all()
    assert sorted(set(rows)) == [
        ("gone", "pending"),
        ("ok1", "pending"),
        ("ok1", "sent"),
        ("ok2", "pending"),
        ("ok2", "sent"),
    ]
    assert await worker.run_once() == 2  # the others go on while gone's first one waits out its backoff
    await drain(clock, [worker])
    assert channel.delivered == {"ok1": ["ok10", "ok11", "ok12"], "ok2": ["ok20", "ok21", "ok22"]}
    # gone's messages failed one after the other, in order, each after its last attempt
    async with db.reading() as s:
        gone = (
            await s.execute(
                select(OutboxMessage.status, OutboxMessage.attempts)
                .where(OutboxMessage.address == "gone")
                .order_by(OutboxMessage.id)
            )
        ).all()
    assert [tuple(r) for r in gone] == [("failed", 2)] * 3


async def test_a_batch_records_sent_and_failed_rows_of_different_attempts(db: Database) -> None:
    channel, clock = FlakyChannel(failures=1), Clock()
    await queue(db, clock, [("a", "first")])
    worker = OutboxWorker(db, {"flaky": channel}, batch=10, clock=clock)
    await worker.run_once()  # "first" refused once: its next claim is its second attempt
    await queue(db, clock, [("b", "second")])
    clock.advance(seconds=10)
    claimed = await worker.claim()
    assert [(r.address, r.attempts) for r in claimed] == [("a", 2), ("b", 1)]
    await worker.deliver_batch(claimed)  # "first" goes out now, "second" is refused once
    assert await statuses(db) == [("sent", 2, None), ("pending", 1, "platform said no")]


async def test_a_batch_with_two_messages_to_one_address_is_refused(db: Database) -> None:
    clock = Clock()
    await queue(db, clock, [("a", "one")])
    worker = OutboxWorker(db, {"flaky": PickyChannel()}, clock=clock)
    (row,) = await worker.claim()
    with pytest.raises(ValueError, match="one message per address"):
        await worker.deliver_batch([row, row])


async def test_the_loop_claims_again_at_once_while_batches_are_full(db: Database) -> None:
    stop = asyncio.Event()
    clock = Clock()
    items = [(f"r{n}", f"m{n}") for n in range(7)]

    class Stopping(PickyChannel):
        async def send(self, address: str, message: Outgoing) -> None:
            await super().send(address, message)
            if sum(len(texts) for texts in self.delivered.values()) == len(items):
                stop.set()

    channel = Stopping()
    await queue(db, clock, items)
    worker = OutboxWorker(db, {"flaky": channel}, batch=2, clock=clock)
    # A loop that rested `idle_s` after a non-empty batch would not end here for an hour;
    # the timeout only keeps a broken loop from hanging the run.
    await asyncio.wait_for(worker.run_forever(stop, idle_s=3600), timeout=120)
    assert sorted(channel.delivered) == sorted(a for a, _ in items)
    assert {s for s, _, _ in await statuses(db)} == {"sent"}


async def test_two_workers_on_separate_connections_deliver_each_row_exactly_once(db: Database) -> None:
    """On PostgreSQL the workers' claims race for real (each has its own engine and pool,
    as two processes would); on SQLite they take turns on the write lock."""
    channel, clock = PickyChannel(steps=2), Clock()
    items = [(f"r{n % 25}", f"m{n}") for n in range(400)]
    await queue(db, clock, items)
    other = Database(db.url)
    try:
        workers = [
            OutboxWorker(db, {"flaky": channel}, batch=7, concurrency=3, clock=clock),
            OutboxWorker(other, {"flaky": channel}, batch=7, concurrency=3, clock=clock),
        ]

        async def work(worker: OutboxWorker) -> int:
            batches = 0
            while await worker.run_once():
                batches += 1
            return batches

        batches = await asyncio.gather(*(work(w) for w in workers))
    finally:
        await other.dispose()
    for n in range(25):
        assert channel.delivered[f"r{n}"] == [text for a, text in items if a == f"r{n}"]  # once, in order
    assert channel.overlaps_on_one_address == 0
    assert {(s, attempts) for s, attempts, _ in await statuses(db)} == {("sent", 1)}
    if db.supports_row_locks:
        assert all(batches)  # both took part


async def test_a_transcript_channel_takes_a_batch_in_one_call_and_refuses_unknown_addresses(
    db: Database,
) -> None:
    clock = Clock()
    async with db.transaction() as s:
        s.add_all([Conversation(channel="web", address=a, state={}) for a in ("x1", "x2")])
    async with db.transaction() as s:
        for address, text in [("x1", "one"), ("nobody", "lost"), ("x2", "two"), ("x1", "three")]:
            enqueue(s, Later("web", address, Outgoing(text)), clock())
    channel = TranscriptChannel("web", db, PLAIN_TEXT)
    worker = OutboxWorker(db, {"web": channel}, clock=clock)
    assert await worker.run_once() == 3  # x1's first, nobody's and x2's, in one send_batch
    assert await worker.run_once() == 1  # x1's second, once its first was written
    assert [e.payload["text"] for e in await messages_after(db, "web", "x1")] == ["one", "three"]
    assert [e.payload for e in await messages_after(db, "web", "x2")] == [
        {"from": "bot", "later": True, **Outgoing("two").to_json()}
    ]
    assert await statuses(db) == [
        ("sent", 1, None),
        ("failed", 1, "no web conversation nobody"),  # refused for good, not retried
        ("sent", 1, None),
        ("sent", 1, None),
    ]
    with pytest.raises(DeliveryError) as refused:  # one message at a time says the same
        await channel.send("nobody", Outgoing("again"))
    assert refused.value.permanent


async def test_rows_whose_lease_runs_out_mid_batch_are_put_back_unsent(db: Database) -> None:
    clock = Clock()

    class Slow(PickyChannel):
        async def send(self, address: str, message: Outgoing) -> None:
            await super().send(address, message)
            clock.advance(seconds=30)  # each send takes half the lease

    channel = Slow()
    await queue(db, clock, [("a", "first"), ("b", "second"), ("c", "third")])
    worker = OutboxWorker(db, {"flaky": channel}, concurrency=1, lease=timedelta(seconds=60), clock=clock)
    assert await worker.run_once() == 3
    assert sorted(channel.delivered) == ["a", "b"]  # c's turn came too close to the lease's end
    assert await statuses(db) == [("sent", 1, None), ("sent", 1, None), ("pending", 0, None)]
    assert await worker.run_once() == 1  # given back as it was: due at once, no attempt spent
    assert channel.delivered["c"] == ["third"]
    assert await statuses(db) == [("sent", 1, None)] * 3
