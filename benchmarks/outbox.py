"""Benchmark: claiming outbox rows as the history of sent messages grows.

With N sent rows already in the table (spread over 2,000 addresses) and 200 waiting,
measures `OutboxWorker.claim` (which must check that no earlier row to the same address
still waits), median and p95, with the index of waiting rows (migration 0006) and without
it, beside a bare baseline: the plain SELECT of 20 due rows that any claim starts from.
Then the retention sweep of those N rows.

SQLite by default; set CIVIC311_BENCH_POSTGRES_URL to run it on PostgreSQL too.
Run by hand: `python benchmarks/outbox.py`; CI runs `--small`.
Not a test: it asserts nothing, it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _scratch import scratch_postgres  # benchmarks/ is on the path when run as a script
from sqlalchemy import select, text, update

from bot import migrate
from bot.db import Database
from bot.delivery.worker import WAITING_SQL, OutboxWorker
from bot.models import OUTBOX_WAITING, OutboxMessage
from bot.timeutil import utcnow

ADDRESSES = 2000
WAITING = 200
RUNS = 40


async def fill(db: Database, sent: int) -> None:
    now = utcnow()
    rows = [
        {
            "channel": "bench",
            "address": f"a{i % ADDRESSES}",
            "payload": {"text": "update"},
            "status": "sent",
            "attempts": 1,
            "next_attempt_at": now - timedelta(days=60),
            "created_at": now - timedelta(days=60),
            "sent_at": now - timedelta(days=60),
        }
        for i in range(sent)
    ]
    rows += [
        {
            "channel": "bench",
            "address": f"a{i % ADDRESSES}",
            "payload": {"text": "new"},
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "sent_at": None,  # every row names the same columns: one executemany
        }
        for i in range(WAITING)
    ]
    for start in range(0, len(rows), 20_000):
        async with db.transaction() as session:
            await session.execute(OutboxMessage.__table__.insert(), rows[start : start + 20_000])
    async with db.transaction() as session:
        await session.execute(text("ANALYZE"))


async def timed(action, runs: int = RUNS) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await action()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


async def measure(db: Database, label: str) -> None:
    # claims only, sends nothing; 20 a claim, as the bare SELECT below takes
    worker = OutboxWorker(db, {"bench": None}, batch=20)  # type: ignore[dict-item]

    async def claim_and_put_back() -> None:
        claimed = await worker.claim()
        async with db.transaction() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([r.id for r in claimed]))
                .values(status="pending", lease_until=None, attempts=0)
            )

    async def bare() -> None:
        async with db.reading() as session:
            await session.scalars(
                select(OutboxMessage.id)
                .where(
                    text(WAITING_SQL),
                    OutboxMessage.status == "pending",
                    OutboxMessage.next_attempt_at <= utcnow(),
                )
                .order_by(OutboxMessage.id)
                .limit(20)
            )

    base = await timed(bare)
    with_index = await timed(claim_and_put_back)
    async with db.transaction() as session:
        await session.execute(text("DROP INDEX ix_outbox_waiting"))
        await session.execute(text("DROP INDEX ix_outbox_queue"))
    without_index = await timed(claim_and_put_back)
    async with db.transaction() as session:  # as migration 0006 made them
        where = f"WHERE {OUTBOX_WAITING}"
        await session.execute(
            text(f"CREATE INDEX ix_outbox_waiting ON outbox (channel, address, id) {where}")
        )
        await session.execute(text(f"CREATE INDEX ix_outbox_queue ON outbox (id) {where}"))
    print(f"  bare SELECT of 20 due rows (baseline)         median {base[0]:7.2f} ms   p95 {base[1]:7.2f} ms")
    for name, (median, p95) in (("indexes of waiting rows", with_index), ("without them", without_index)):
        print(f"  claim + put back, {name:<27} median {median:7.2f} ms   p95 {p95:7.2f} ms")
    started = time.perf_counter()
    removed = await OutboxWorker(db, {}, keep_sent=timedelta(days=30)).sweep()
    print(
        f"  retention sweep: {removed:,} sent rows deleted in {time.perf_counter() - started:.2f} s ({label})"
    )


async def run(url: str, label: str, sent: int) -> None:
    db = Database(url)
    try:
        await migrate.upgrade(db)
        await fill(db, sent)
        print(f"{label}, {sent:,} sent rows over {ADDRESSES:,} addresses, {WAITING} waiting:")
        await measure(db, label)
    finally:
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true", help="CI size: 10,000 sent rows")
    parser.add_argument("--sent", type=int, default=100_000)
    args = parser.parse_args()
    sent = 10_000 if args.small else args.sent
    with tempfile.TemporaryDirectory() as folder:
        await run(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", "SQLite", sent)
    pg = os.environ.get("CIVIC311_BENCH_POSTGRES_URL")
    if pg:
        async with scratch_postgres(pg) as url:
            await run(url, "PostgreSQL", sent)


if __name__ == "__main__":
    asyncio.run(main())
