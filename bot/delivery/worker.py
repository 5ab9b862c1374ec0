"""Outbox delivery: claim due messages, send them, retry with backoff.

Claims use `FOR UPDATE SKIP LOCKED` on PostgreSQL so any number of workers
share the queue; a claimed row carries a lease, so a worker that dies while
sending leaves it to be claimed again rather than lost. A conversation's
messages go out in order: a row is due only when no earlier row to the same
address is still waiting. After the last attempt a row is kept as `failed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, func, or_, select, text, update
from sqlalchemy.orm import aliased

from bot import metrics
from bot.db import Database
from bot.delivery.channel import Channel, DeliveryError
from bot.messages import Outgoing, degrade
from bot.models import OUTBOX_WAITING, OutboxMessage
from bot.settings import Settings
from bot.timeutil import utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
KEEP_SENT = timedelta(days=30)  # OUTBOX_KEEP_SENT_DAYS
SWEEP_EVERY = timedelta(hours=1)
WAITING_SQL = f"outbox.{OUTBOX_WAITING}"  # the partial indexes' own words
SWEEP_BATCH = 5000  # rows deleted per statement: short transactions, even after a long pause
BASE_BACKOFF_S = 2.0
MAX_BACKOFF_S = 3600.0


def backoff(attempts: int, base_s: float = BASE_BACKOFF_S) -> float:
    """Exponential backoff with jitter: 2 s, 4 s, 8 s ... capped at an hour."""
    delay = min(MAX_BACKOFF_S, base_s * 2 ** max(0, attempts - 1))
    return float(delay * random.uniform(0.8, 1.2))


class OutboxWorker:
    """`lease` is how long a claimed row is this worker's before another may take it
    (it must outlast sending one batch); `base_backoff_s` is the first retry's delay when
    the platform names none. Both are for operators and tests; the defaults suit production.
    `clock` is where the worker reads the time, so tests move it instead of sleeping."""

    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Channel],
        *,
        max_attempts: int = 8,
        batch: int = 20,
        lease: timedelta = LEASE,
        base_backoff_s: float = BASE_BACKOFF_S,
        clock: Callable[[], datetime] = utcnow,
        keep_sent: timedelta = KEEP_SENT,
    ) -> None:
        self.db = db
        self.channels = channels
        self.max_attempts = max_attempts
        self.batch = batch
        self.lease = lease
        self.base_backoff_s = base_backoff_s
        self.clock = clock
        self.keep_sent = keep_sent
        self._swept_at: datetime | None = None

    @classmethod
    def from_settings(cls, db: Database, channels: Mapping[str, Channel], settings: Settings) -> OutboxWorker:
        return cls(
            db,
            channels,
            max_attempts=settings.OUTBOX_MAX_ATTEMPTS,
            keep_sent=timedelta(days=settings.OUTBOX_KEEP_SENT_DAYS),
        )

    async def claim(self) -> list[OutboxMessage]:
        """Take up to a batch of due rows for this worker, each for one lease."""
        now = self.clock()
        # The waiting test is literal, not bound: SQLite uses a partial index only when the
        # query says the very same thing as the index's WHERE.
        earlier = aliased(OutboxMessage, name="earlier")
        blocked = exists().where(
            earlier.channel == OutboxMessage.channel,
            earlier.address == OutboxMessage.address,
            earlier.id < OutboxMessage.id,
            text(WAITING_SQL.replace("outbox.", "earlier.")),
        )
        waiting = text(WAITING_SQL)
        due = or_(
            and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
            and_(OutboxMessage.status == "sending", OutboxMessage.lease_until <= now),
        )
        query = (
            select(OutboxMessage)
            # `waiting` repeats what `due` implies, in the words of the partial indexes of
            # waiting rows, so the database reads the queue rather than the history.
            .where(waiting, due, OutboxMessage.channel.in_(list(self.channels)), ~blocked)
            .order_by(OutboxMessage.id)
            .limit(self.batch)
        )
        if self.db.supports_row_locks:
            query = query.with_for_update(skip_locked=True, of=OutboxMessage)
        async with self.db.transaction() as session:
            rows = list((await session.scalars(query)).all())
            for row in rows:
                row.status = "sending"
                row.lease_until = now + self.lease
                row.attempts += 1
        return rows

    async def run_once(self) -> int:
        """Deliver what is due now; returns how many rows were tried."""
        rows = await self.claim()
        for row in rows:
            await self.deliver(row)
        return len(rows)

    async def deliver(self, row: OutboxMessage) -> None:
        """Send one claimed row and record the outcome of that claim."""
        # A batch that took longer than its lease may have been claimed again by another
        # worker: send only while the claim is surely ours, or the message goes out twice.
        margin = min(timedelta(seconds=5), self.lease / 10)
        if row.lease_until is None or self.clock() >= row.lease_until - margin:
            log.info("outbox %s: lease ran out before sending; left for the next claim", row.id)
            return
        channel = self.channels[row.channel]
        message = degrade(Outgoing.from_json(row.payload), channel.capabilities)
        try:
            await channel.send(row.address, message)
        except DeliveryError as exc:
            await self._failed(row, str(exc), exc.retry_after, exc.permanent)
        except Exception as exc:  # a bug or an unexpected library error: retry, keep the reason
            log.exception("outbox %s: unexpected error sending to %s", row.id, row.channel)
            await self._failed(row, f"{type(exc).__name__}: {exc}", None, False)
        else:
            await self._set(row, status="sent", sent_at=self.clock(), lease_until=None, last_error=None)
            metrics.OUTBOX.labels(row.channel, "sent").inc()

    async def _failed(
        self, row: OutboxMessage, reason: str, retry_after: float | None, permanent: bool
    ) -> None:
        if permanent or row.attempts >= self.max_attempts:
            log.warning("outbox %s to %s failed for good: %s", row.id, row.channel, reason)
            await self._set(row, status="failed", lease_until=None, last_error=reason[:2000])
            metrics.OUTBOX.labels(row.channel, "failed").inc()
            return
        delay = retry_after if retry_after is not None else backoff(row.attempts, self.base_backoff_s)
        await self._set(
            row,
            status="pending",
            lease_until=None,
            last_error=reason[:2000],
            next_attempt_at=self.clock() + timedelta(seconds=delay),
        )
        metrics.OUTBOX.labels(row.channel, "retry").inc()

    async def _set(self, row: OutboxMessage, **values: object) -> None:
        """Record the outcome of our claim only: each claim counts one attempt, so a row
        whose attempts moved on was claimed again, and the other worker's outcome stands."""
        async with self.db.transaction() as session:
            result = await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == row.id,
                    OutboxMessage.status == "sending",
                    OutboxMessage.attempts == row.attempts,
                )
                .values(**values)
            )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            log.warning("outbox %s: claimed again by another worker while this one was sending", row.id)

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
        async with self.db.reading() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status.in_(("pending", "sending")))
            )
        return int(count or 0)

    async def run_forever(self, stop: asyncio.Event, *, idle_s: float = 1.0) -> None:
        """Poll until `stop` is set; a message being sent when it is set is finished."""
        while not stop.is_set():
            try:
                tried = await self.run_once()
                metrics.OUTBOX_PENDING.set(await self.pending_count())
                await self._sweep_when_due()
            except Exception:
                log.exception("outbox loop error; retrying shortly")
                tried = 0
            if tried == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=idle_s)
