"""Outbox delivery: claim due messages, send them, retry with backoff.

Claims use `FOR UPDATE SKIP LOCKED` on PostgreSQL so any number of workers
share the queue; a claimed row carries a lease, so a worker that dies while
sending leaves it to be claimed again rather than lost. A conversation's
messages go out in order: a row is due only when no earlier row to the same
address is still waiting. After the last attempt a row is kept as `failed`.

Throughput comes from batches: one statement claims a batch (at most one row per
address, so its rows can be sent at once without reordering anyone's messages),
the sends run concurrently, and one transaction records the whole batch's outcomes.
The hot loop issues Core statements and builds no ORM objects.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import and_, delete, exists, func, or_, select, text, update
from sqlalchemy.orm import aliased

from bot import metrics
from bot.db import Database
from bot.delivery.channel import BatchChannel, Channel, DeliveryError, PayloadChannel
from bot.messages import Outgoing, degrade
from bot.models import OUTBOX_WAITING, OutboxMessage
from bot.settings import Settings
from bot.timeutil import utcnow
from bot.waiting import first_of

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
BATCH = 100  # rows a claim takes: two transactions carry this many messages
CONCURRENCY = 8  # sends in flight at once; well under the database pool, which channels share
KEEP_SENT = timedelta(days=30)  # OUTBOX_KEEP_SENT_DAYS
SWEEP_EVERY = timedelta(hours=1)
COUNT_EVERY_S = 1.0  # how often the pending gauge is refreshed while batches keep coming
WAITING_SQL = f"outbox.{OUTBOX_WAITING}"  # the partial indexes' own words
SWEEP_BATCH = 5000  # rows deleted per statement: short transactions, even after a long pause
BASE_BACKOFF_S = 2.0
MAX_BACKOFF_S = 3600.0


def backoff(attempts: int, base_s: float = BASE_BACKOFF_S) -> float:
    """Exponential backoff with jitter: 2 s, 4 s, 8 s ... capped at an hour."""
    delay = min(MAX_BACKOFF_S, base_s * 2 ** max(0, attempts - 1))
    return float(delay * random.uniform(0.8, 1.2))


def _kind(outcome: _Outcome, max_attempts: int) -> str:
    """What the metrics call an outcome: sent, retry (tried again later) or failed (kept)."""
    if outcome.error is None:
        return "sent"
    if outcome.permanent or outcome.row.attempts >= max_attempts:
        return "failed"
    return "retry"


@dataclass(frozen=True, slots=True)
class Claimed:
    """One row as this worker's claim took it: `attempts` (counting this claim) is the
    claim's token, so an outcome is recorded only while the row is still ours."""

    id: int
    channel: str
    address: str
    payload: dict[str, Any]
    attempts: int
    lease_until: datetime


@dataclass(frozen=True, slots=True)
class _Outcome:
    row: Claimed
    error: str | None = None  # None: sent
    retry_after: float | None = None
    permanent: bool = False
    released: bool = False  # not sent: the lease ran out first; the claim is given back


class OutboxWorker:
    """`batch` is how many rows (each to a different address) one claim takes; `concurrency`
    how many of them are being sent at once. `lease` is how long a claimed row is this
    worker's before another may take it (it must outlast sending one batch); `base_backoff_s`
    is the first retry's delay when the platform names none. All are for operators and tests;
    the defaults suit production. `clock` is where the worker reads the time, so tests move it
    instead of sleeping."""

    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Channel],
        *,
        max_attempts: int = 8,
        batch: int = BATCH,
        concurrency: int = CONCURRENCY,
        lease: timedelta = LEASE,
        base_backoff_s: float = BASE_BACKOFF_S,
        clock: Callable[[], datetime] = utcnow,
        keep_sent: timedelta = KEEP_SENT,
        wake: asyncio.Event | None = None,
    ) -> None:
        self.db = db
        self.channels = channels
        self.max_attempts = max_attempts
        self.batch = batch
        self.concurrency = max(1, concurrency)
        self.lease = lease
        self.base_backoff_s = base_backoff_s
        self.clock = clock
        self.keep_sent = keep_sent
        # Set when this process queued a message: the idle loop claims at once instead of
        # at its next poll (other processes' messages wait for the poll).
        self.wake = wake if wake is not None else asyncio.Event()
        self._swept_at: datetime | None = None
        self._counted_at: float | None = None

    @classmethod
    def from_settings(
        cls,
        db: Database,
        channels: Mapping[str, Channel],
        settings: Settings,
        *,
        wake: asyncio.Event | None = None,
    ) -> OutboxWorker:
        return cls(
            db,
            channels,
            max_attempts=settings.OUTBOX_MAX_ATTEMPTS,
            keep_sent=timedelta(days=settings.OUTBOX_KEEP_SENT_DAYS),
            wake=wake,
        )

    async def claim(self) -> list[Claimed]:
        """Take up to a batch of due rows for this worker, each for one lease, in one
        statement. A row is due only when no earlier row to its address still waits, so a
        claim holds at most one row per address: the oldest one waiting."""
        if not self.channels:
            return []
        now = self.clock()
        lease_until = now + self.lease
        # The waiting test is literal, not bound: SQLite uses a partial index only when the
        # query says the very same thing as the index's WHERE.
        earlier = aliased(OutboxMessage, name="earlier")
        blocked = exists().where(
            earlier.channel == OutboxMessage.channel,
            earlier.address == OutboxMessage.address,
            earlier.id < OutboxMessage.id,
            text(WAITING_SQL.replace("outbox.", "earlier.")),
        )
        due = or_(
            and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
            and_(OutboxMessage.status == "sending", OutboxMessage.lease_until <= now),
        )
        candidates = (
            select(OutboxMessage.id)
            # `waiting` repeats what `due` implies, in the words of the partial indexes of
            # waiting rows, so the database reads the queue rather than the history.
            .where(text(WAITING_SQL), due, OutboxMessage.channel.in_(list(self.channels)), ~blocked)
            .order_by(OutboxMessage.id)
            .limit(self.batch)
        )
        if self.db.supports_row_locks:
            # Rows another worker's claim is taking right now are skipped, not waited for;
            # once that claim commits they are `sending` under its lease, so not due.
            candidates = candidates.with_for_update(skip_locked=True, of=OutboxMessage)
        take = (
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(candidates))
            .values(status="sending", lease_until=lease_until, attempts=OutboxMessage.attempts + 1)
            .returning(
                OutboxMessage.id,
                OutboxMessage.channel,
                OutboxMessage.address,
                OutboxMessage.payload,
                OutboxMessage.attempts,
            )
        )
        async with self.db.transaction() as conn:
            result = await conn.execute(take)
            rows = [
                Claimed(r.id, r.channel, r.address, r.payload, r.attempts, lease_until) for r in result.all()
            ]
        rows.sort(key=lambda r: r.id)  # RETURNING promises no order
        return rows

    async def run_once(self) -> int:
        """Deliver what is due now; returns how many rows were tried."""
        rows = await self.claim()
        if rows:
            await self.deliver_batch(rows)
        return len(rows)

    async def deliver(self, row: Claimed) -> None:
        """Send one claimed row and record the outcome of that claim."""
        await self.deliver_batch([row])

    async def deliver_batch(self, rows: Sequence[Claimed]) -> None:
        """Send claimed rows, up to `concurrency` sends at a time (a channel that takes a
        batch gets its rows in one call), then record every outcome in one transaction.
        The rows must be to different addresses (as a claim gives them): that is what lets
        them go out at once without reordering anyone's messages."""
        if len({(r.channel, r.address) for r in rows}) < len(rows):
            raise ValueError("one batch holds at most one message per address")
        limit = asyncio.Semaphore(self.concurrency)
        singles: list[Claimed] = []
        together: dict[str, tuple[BatchChannel, list[Claimed]]] = {}
        takes_batches: dict[str, bool] = {}  # a Protocol isinstance check is slow: once a channel
        for row in rows:
            channel = self.channels[row.channel]
            if row.channel not in takes_batches:
                takes_batches[row.channel] = isinstance(channel, BatchChannel)
            if takes_batches[row.channel]:
                together.setdefault(row.channel, (cast(BatchChannel, channel), []))[1].append(row)
            else:
                singles.append(row)

        async def one(row: Claimed) -> list[_Outcome]:
            async with limit:
                if not self._still_ours(row):
                    return [_Outcome(row, released=True)]
                return [await self._send(row)]

        async def many(channel: BatchChannel, batch: list[Claimed]) -> list[_Outcome]:
            async with limit:
                ours = [row for row in batch if self._still_ours(row)]
                late = [_Outcome(row, released=True) for row in batch if row not in ours]
                return late + (await self._send_batch(channel, ours) if ours else [])

        sends = [one(row) for row in singles]
        sends += [many(channel, batch) for channel, batch in together.values()]
        if len(sends) == 1:
            outcomes = await sends[0]
        else:
            outcomes = [o for done in await asyncio.gather(*sends) for o in done]
        await self._record(outcomes)

    def _still_ours(self, row: Claimed) -> bool:
        """Whether the claim surely still holds, checked just before sending: a batch that
        took longer than its lease may have been claimed again by another worker, and a
        send after that could go out twice."""
        margin = min(timedelta(seconds=5), self.lease / 10)
        if self.clock() < row.lease_until - margin:
            return True
        log.info("outbox %s: lease ran out before sending; put back for the next claim", row.id)
        return False

    async def _send(self, row: Claimed) -> _Outcome:
        channel = self.channels[row.channel]
        try:
            if isinstance(channel, PayloadChannel):
                await channel.send_payload(row.address, row.payload)
            else:
                message = degrade(Outgoing.from_json(row.payload), channel.capabilities)
                await channel.send(row.address, message)
        except DeliveryError as exc:
            return _Outcome(row, str(exc), exc.retry_after, exc.permanent)
        except Exception as exc:  # a bug or an unexpected library error: retry, keep the reason
            log.exception("outbox %s: unexpected error sending to %s", row.id, row.channel)
            return _Outcome(row, f"{type(exc).__name__}: {exc}")
        return _Outcome(row)

    async def _send_batch(self, channel: BatchChannel, rows: list[Claimed]) -> list[_Outcome]:
        try:
            messages = [
                (row.address, degrade(Outgoing.from_json(row.payload), channel.capabilities)) for row in rows
            ]
            errors = await channel.send_batch(messages)
            if len(errors) != len(rows):
                raise RuntimeError(f"{len(errors)} outcomes for {len(rows)} messages")
        except DeliveryError as exc:
            return [_Outcome(row, str(exc), exc.retry_after, exc.permanent) for row in rows]
        except Exception as exc:  # as for one message: retry them all, keep the reason
            log.exception("outbox: unexpected error sending %d messages to %s", len(rows), channel.name)
            return [_Outcome(row, f"{type(exc).__name__}: {exc}") for row in rows]
        return [
            _Outcome(row) if error is None else _Outcome(row, str(error), error.retry_after, error.permanent)
            for row, error in zip(rows, errors, strict=True)
        ]

    async def _record(self, outcomes: Sequence[_Outcome]) -> None:
        """Record the outcomes of our claims only: each claim counts one attempt, so a row
        whose attempts moved on was claimed again, and the other worker's outcome stands.
        The sent rows of a batch are one statement per attempt count (usually one)."""
        if not outcomes:
            return
        now = self.clock()
        sent: dict[int, list[int]] = defaultdict(list)
        released: dict[int, list[int]] = defaultdict(list)
        failed: list[tuple[_Outcome, dict[str, object]]] = []
        for outcome in outcomes:
            if outcome.released:
                released[outcome.row.attempts].append(outcome.row.id)
            elif outcome.error is None:
                sent[outcome.row.attempts].append(outcome.row.id)
            else:
                failed.append((outcome, self._failure(outcome, now)))
        done = {"status": "sent", "sent_at": now, "lease_until": None, "last_error": None}
        # Given back as it was before the claim: it was not an attempt, and it is due at once.
        back = {"status": "pending", "lease_until": None, "attempts": OutboxMessage.attempts - 1}
        lost = 0
        async with self.db.transaction() as conn:
            for values, groups in ((done, sent), (back, released)):
                for attempts, ids in groups.items():
                    result = await conn.execute(
                        update(OutboxMessage)
                        .where(
                            OutboxMessage.id.in_(ids),
                            OutboxMessage.status == "sending",
                            OutboxMessage.attempts == attempts,
                        )
                        .values(**values)
                    )
                    lost += len(ids) - _rowcount(result)
            for outcome, values in failed:
                result = await conn.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id == outcome.row.id,
                        OutboxMessage.status == "sending",
                        OutboxMessage.attempts == outcome.row.attempts,
                    )
                    .values(**values)
                )
                lost += 1 - _rowcount(result)
        if lost:
            log.warning(
                "outbox: %d rows were claimed again by another worker while this one was sending", lost
            )
        counts: Counter[tuple[str, str]] = Counter()
        for outcome in outcomes:
            if outcome.released:
                continue
            counts[(outcome.row.channel, _kind(outcome, self.max_attempts))] += 1
        for (channel, kind), n in counts.items():
            metrics.OUTBOX.labels(channel, kind).inc(n)

    def _failure(self, outcome: _Outcome, now: datetime) -> dict[str, object]:
        row, reason = outcome.row, (outcome.error or "")[:2000]
        if _kind(outcome, self.max_attempts) == "failed":
            log.warning("outbox %s to %s failed for good: %s", row.id, row.channel, reason)
            return {"status": "failed", "lease_until": None, "last_error": reason}
        retry_after = outcome.retry_after
        delay = retry_after if retry_after is not None else backoff(row.attempts, self.base_backoff_s)
        return {
            "status": "pending",
            "lease_until": None,
            "last_error": reason,
            "next_attempt_at": now + timedelta(seconds=delay),
        }

    async def sweep(self) -> int:
        """Delete sent rows older than `keep_sent`; returns how many. Failed rows stay, for
        whoever looks into why; pending and sending rows are never touched."""
        cutoff = self.clock() - self.keep_sent
        removed = 0
        while True:
            old = (
                select(OutboxMessage.id)
                .where(OutboxMessage.status == "sent", OutboxMessage.sent_at < cutoff)
                .limit(SWEEP_BATCH)
            )
            async with self.db.transaction() as session:
                ids = list((await session.scalars(old)).all())
                if ids:
                    await session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))
            removed += len(ids)
            if len(ids) < SWEEP_BATCH:
                return removed

    async def _sweep_when_due(self) -> None:
        now = self.clock()
        if self._swept_at is None or now - self._swept_at >= SWEEP_EVERY:
            self._swept_at = now
            removed = await self.sweep()
            if removed:
                log.info("outbox: deleted %d sent messages older than %s", removed, self.keep_sent)

    async def pending_count(self) -> int:
        # In the partial indexes' words, so the count reads the queue, not the history.
        async with self.db.reading() as session:
            count = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(text(WAITING_SQL))
            )
        return int(count or 0)

    async def _count_when_due(self) -> None:
        """The pending gauge at most once a second: counting the queue after every batch
        would cost a scan of it per batch while a backlog drains."""
        now = time.monotonic()
        if self._counted_at is None or now - self._counted_at >= COUNT_EVERY_S:
            self._counted_at = now
            metrics.OUTBOX_PENDING.set(await self.pending_count())

    async def run_forever(self, stop: asyncio.Event, *, idle_s: float = 1.0) -> None:
        """Poll until `stop` is set; a message being sent when it is set is finished."""
        while not stop.is_set():
            self.wake.clear()  # before the claim: a message queued during it wakes the next
            try:
                tried = await self.run_once()
                await self._count_when_due()
                await self._sweep_when_due()
            except Exception:
                log.exception("outbox loop error; retrying shortly")
                tried = 0
            if tried == 0:  # a full or partial batch: claim again at once, the queue may hold more
                await first_of(stop, self.wake, within_s=idle_s)


def _rowcount(result: Any) -> int:
    """Rows an UPDATE matched (a CursorResult's, which AsyncSession.execute types as Result)."""
    return int(result.rowcount)
