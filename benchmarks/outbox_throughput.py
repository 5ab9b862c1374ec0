"""Benchmark: how many outbox messages a second one worker delivers.

N messages wait over A addresses (10 each at full size, interleaved, as status updates to
many followers arrive). One `OutboxWorker` drains them, timed from the first claim to the
last outcome recorded, twice: to a channel whose send does nothing (what the outbox itself
costs) and to the `TranscriptChannel` (each message a transcript row, as the web chat's).

Beside each, in the same run, a BARE BASELINE: the same transactions, batch for batch (claim,
for the transcript also the transcript write, then mark sent), issued on the raw driver
(asyncpg or sqlite3) with the same SQL written by hand, so the worker's figure reads against
what the database alone allows on this machine at that moment.

SQLite by default; set CIVIC311_BENCH_POSTGRES_URL to run it on PostgreSQL too.
Run by hand: `python benchmarks/outbox_throughput.py`; CI runs `--small`.
Not a test: it asserts nothing, it prints figures (and writes benchmarks/results/*.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from _scratch import scratch_postgres  # benchmarks/ is on the path when run as a script
from sqlalchemy import delete, text
from sqlalchemy.engine import make_url

from bot import migrate
from bot.db import Database
from bot.delivery.transcript import TranscriptChannel
from bot.delivery.worker import BATCH, LEASE, OutboxWorker
from bot.messages import PLAIN_TEXT, Capabilities, Outgoing
from bot.models import OUTBOX_WAITING, Conversation, OutboxMessage, TranscriptMessage
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
    """Seconds to deliver everything due, and how many claims it took (the empty last one too)."""
    started = time.perf_counter()
    claims = 1
    while await worker.run_once():
        claims += 1
    return time.perf_counter() - started, claims


# The worker's statements written out by hand for the raw drivers ($n: asyncpg's placeholders).
CLAIM = f"""
UPDATE outbox SET status = 'sending', lease_until = $1, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM outbox
    WHERE outbox.{OUTBOX_WAITING}
      AND ((status = 'pending' AND next_attempt_at <= $2) OR (status = 'sending' AND lease_until <= $2))
      AND channel = $3
      AND NOT EXISTS (
          SELECT 1 FROM outbox AS earlier
          WHERE earlier.channel = outbox.channel AND earlier.address = outbox.address
            AND earlier.id < outbox.id AND earlier.{OUTBOX_WAITING}
      )
    ORDER BY id LIMIT $4 {{lock}}
)
RETURNING id, channel, address, payload, attempts
"""
MARK = """
UPDATE outbox SET status = 'sent', sent_at = $1, lease_until = NULL, last_error = NULL
WHERE id IN ({ids}) AND status = 'sending' AND attempts = $2
"""
CONVERSATIONS = "SELECT address, id FROM conversations WHERE channel = $1 AND address IN ({addresses})"
TRANSCRIPT = (
    "INSERT INTO transcript (conversation_id, direction, payload, created_at) VALUES ($1, 'out', $2, $3)"
)


def shown_later(payload: Any) -> str:
    """The transcript row's payload, as `TranscriptChannel` writes it."""
    message = Outgoing.from_json(json.loads(payload) if isinstance(payload, str) else payload)
    return json.dumps({"from": "bot", "later": True, **message.to_json()})


async def raw_postgres(url: str, channel: str, batch: int, transcript: bool) -> int:
    """Claim, (write the transcript,) mark sent: the worker's transactions on bare asyncpg.
    Returns how many claims it took."""
    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    claim = CLAIM.format(lock="FOR UPDATE OF outbox SKIP LOCKED")
    mark = MARK.format(ids="SELECT unnest($3::int[])")
    find = CONVERSATIONS.format(addresses="SELECT unnest($2::text[])")
    write = TRANSCRIPT.replace("$2", "$2::jsonb")
    claims = 0
    try:
        while True:
            now = datetime.now(UTC)
            async with conn.transaction():
                rows = await conn.fetch(claim, now + LEASE, now, channel, batch)
            claims += 1
            if not rows:
                return claims
            if transcript:
                async with conn.transaction():
                    found = await conn.fetch(find, channel, [r["address"] for r in rows])
                    ids = {f["address"]: f["id"] for f in found}
                    await conn.executemany(
                        write, [(ids[r["address"]], shown_later(r["payload"]), now) for r in rows]
                    )
            async with conn.transaction():
                await conn.execute(mark, datetime.now(UTC), 1, [r["id"] for r in rows])
    finally:
        await conn.close()


def raw_sqlite(path: str, channel: str, batch: int, transcript: bool) -> int:
    """The same on bare sqlite3: BEGIN IMMEDIATE as `bot.db` does, UTC times as naive text."""

    def stamp(value: datetime) -> str:
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")

    def qmarks(sql: str) -> str:
        for n in range(1, 5):
            sql = sql.replace(f"${n}", f"?{n}")
        return sql

    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    claim = qmarks(CLAIM.format(lock=""))
    claims = 0
    try:
        while True:
            now = datetime.now(UTC)
            conn.execute("BEGIN IMMEDIATE")
            rows = conn.execute(claim, (stamp(now + LEASE), stamp(now), channel, batch)).fetchall()
            conn.execute("COMMIT")
            claims += 1
            if not rows:
                return claims
            if transcript:
                addresses = [r[2] for r in rows]
                conn.execute("BEGIN IMMEDIATE")
                find = qmarks(
                    CONVERSATIONS.format(addresses=", ".join(f"?{n + 2}" for n in range(len(rows))))
                )
                ids = dict(conn.execute(find, (channel, *addresses)).fetchall())
                conn.executemany(
                    qmarks(TRANSCRIPT), [(ids[r[2]], shown_later(r[3]), stamp(now)) for r in rows]
                )
                conn.execute("COMMIT")
            conn.execute("BEGIN IMMEDIATE")
            mark = qmarks(MARK.format(ids=", ".join(f"?{n + 3}" for n in range(len(rows)))))
            conn.execute(mark, (stamp(datetime.now(UTC)), 1, *[r[0] for r in rows]))
            conn.execute("COMMIT")
    finally:
        conn.close()


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
            seconds, claims = await drain(OutboxWorker(db, {name: channel}, batch=batch))
            rate = messages / seconds
            await fill(db, name, messages, addresses)
            started = time.perf_counter()
            if db.is_sqlite:
                path = make_url(url).database or ""
                raw_claims = await asyncio.to_thread(raw_sqlite, path, name, batch, name == "transcript")
            else:
                raw_claims = await raw_postgres(url, name, batch, name == "transcript")
            raw_rate = messages / (time.perf_counter() - started)
            figures[name] = {
                "worker_per_s": round(rate),
                "raw_driver_per_s": round(raw_rate),
                "claims": claims,
                "raw_claims": raw_claims,
            }
            what = "claim, write transcript, mark" if name == "transcript" else "claim, mark"
            print(f"  worker, {name + ' channel':<20} {rate:8,.0f} messages/s   ({claims:,} claims)")
            print(
                f"  BARE BASELINE, raw driver, {what:<30} {raw_rate:8,.0f} messages/s"
                f"   ({raw_claims:,} claims; worker at {rate / raw_rate:.0%} of it)"
            )
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
    parser.add_argument("--batch", type=int, default=BATCH, help="rows a claim takes")
    args = parser.parse_args()
    messages, addresses = (2_000, 200) if args.small else (args.messages, args.addresses)
    results = asyncio.run(run(messages, addresses, args.batch))
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    name = "outbox_throughput-small.json" if args.small else "outbox_throughput.json"
    (out / name).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
