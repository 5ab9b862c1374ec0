"""Benchmark: how many outbox messages a second one worker delivers.

N messages wait over A addresses (10 each at full size, interleaved as status updates to many
followers arrive). One `OutboxWorker` drains them, timed from the first claim to the last
outcome recorded, twice: to a channel whose send does nothing (what the outbox itself costs)
and to the `TranscriptChannel` (each send writes a transcript row, as the web chat's does).

Beside it, in the same run, a BARE BASELINE: the same claim and mark transactions, batch for
batch, issued on the raw driver (asyncpg or sqlite3) with hand-written SQL and no send, so the
worker's figure reads against what the database alone allows on this machine.

SQLite by default; set CIVIC311_BENCH_POSTGRES_URL to run it on PostgreSQL too.
Run by hand: `python benchmarks/outbox_throughput.py`; CI runs `--small`.
Not a test: it asserts nothing, it prints figures (and writes benchmarks/results/*.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from _scratch import scratch_postgres  # benchmarks/ is on the path when run as a script
from sqlalchemy import delete, text

from bot import migrate
from bot.db import Database
from bot.delivery.transcript import TranscriptChannel
from bot.delivery.worker import OutboxWorker
from bot.messages import PLAIN_TEXT, Capabilities, Outgoing
from bot.models import Conversation, OutboxMessage, TranscriptMessage
from bot.timeutil import utcnow

PAYLOAD = Outgoing("Report 10234 is now in progress: a crew is on the way.").to_json()


class NullChannel:
    """Sends nothing, at once: what is left is the outbox's own cost."""

    name = "null"
    capabilities: Capabilities = PLAIN_TEXT

    async def send(self, address: str, message: Outgoing) -> None:
        return None


async def conversations(db: Database, channel: str, addresses: int) -> None:
    now = utcnow()
    rows = [
        {"channel": channel, "address": f"a{i}", "state": {}, "created_at": now, "updated_at": now}
        for i in range(addresses)
    ]
    async with db.transaction() as session:
        await session.execute(Conversation.__table__.insert(), rows)


async def fill(db: Database, channel: str, messages: int, addresses: int) -> None:
    """`messages` rows due now, the i-th to address i mod `addresses`; history cleared."""
    now = utcnow() - timedelta(seconds=1)
    rows = [
        {
            "channel": channel,
            "address": f"a{i % addresses}",
            "payload": PAYLOAD,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for i in range(messages)
    ]
    async with db.transaction() as session:
        await session.execute(delete(OutboxMessage))
        await session.execute(delete(TranscriptMessage))
        for start in range(0, len(rows), 10_000):
            await session.execute(OutboxMessage.__table__.insert(), rows[start : start + 10_000])
    async with db.transaction() as session:
        await session.execute(text("ANALYZE"))


async def drain(worker: OutboxWorker) -> tuple[float, int]:
    """Seconds to deliver everything due, and how many batches it took."""
    started = time.perf_counter()
    batches = 0
    while await worker.run_once():
        batches += 1
    return time.perf_counter() - started, batches


async def measure(url: str, label: str, messages: int, addresses: int, batch: int) -> dict[str, Any]:
    db = Database(url)
    figures: dict[str, Any] = {"messages": messages, "addresses": addresses, "batch": batch}
    try:
        await migrate.upgrade(db)
        await conversations(db, "transcript", addresses)
        print(f"{label}, {messages:,} waiting messages over {addresses:,} addresses, batch {batch}:")
        channels: dict[str, Any] = {
            "null": NullChannel(),
            "transcript": TranscriptChannel("transcript", db, PLAIN_TEXT),
        }
        for name, channel in channels.items():
            await fill(db, name, messages, addresses)
            seconds, batches = await drain(OutboxWorker(db, {name: channel}, batch=batch))
            rate = messages / seconds
            figures[f"worker_{name}_per_s"] = round(rate)
            figures[f"worker_{name}_batches"] = batches
            print(f"  worker, {name + ' channel':<20} {rate:8,.0f} messages/s   ({batches:,} claims)")
    finally:
        await db.dispose()
    return figures


async def run(messages: int, addresses: int, batch: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        results["sqlite"] = await measure(url, "SQLite", messages, addresses, batch)
    if pg := os.environ.get("CIVIC311_BENCH_POSTGRES_URL"):
        async with scratch_postgres(pg) as url:
            results["postgresql"] = await measure(url, "PostgreSQL", messages, addresses, batch)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI size: 2,000 messages over 200 addresses")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--addresses", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=None, help="rows a claim takes (the worker's default)")
    args = parser.parse_args()
    messages, addresses = (2_000, 200) if args.small else (args.messages, args.addresses)
    batch = args.batch or OutboxWorker.__init__.__kwdefaults__["batch"]
    results = asyncio.run(run(messages, addresses, batch))
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    name = "outbox_throughput-small.json" if args.small else "outbox_throughput.json"
    (out / name).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
