"""Benchmark: Open311's `GET requests` list at city scale.

Fills a database with N reports (benchmarks/_fill.py: a year of them, 8 services) and
times what the handler asks the database for a page of 50 (`find_requests`, then the
latest staff notes of the page) under the endpoint's common filters: one service
(`service_code=X`), one status, a 30-day window, and none. Median and p99 of many
calls, beside a bare baseline on the same table and connection: one report read by its
primary key, which no index can make cheaper.

SQLite by default; set CIVIC311_BENCH_POSTGRES_URL to run it on PostgreSQL too (a fresh
PostgreSQL table is VACUUM ANALYZEd after the fill, as autovacuum would soon do).
`--database URL` measures an existing database instead (no fill), e.g. one of an older
revision, to compare before and after a change.
Run by hand: `python benchmarks/open311_list.py --reports 1000000`; CI runs `--small`.
Not a test: it asserts nothing, it prints figures (and writes benchmarks/results/*.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from _fill import SERVICES, fill  # benchmarks/ is on the path when run as a script
from _scratch import scratch_postgres
from sqlalchemy import func, select, text

from bot import migrate
from bot.db import Database
from bot.models import Report
from bot.reporting import queries
from bot.timeutil import utcnow

PAGE = 50


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed(
    db: Database, samples: int, call: Callable[[Any, random.Random], Awaitable[object]]
) -> dict[str, float]:
    rng = random.Random(5)
    times = []
    async with db.reading() as session:
        await call(session, rng)  # warm: the page cache, the prepared statement
        for _ in range(samples):
            started = time.perf_counter()
            await call(session, rng)
            times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(times), 3), "p99_ms": round(pct(times, 0.99), 3)}


def listing(
    make: Callable[[random.Random], queries.ReportQuery],
) -> Callable[[Any, random.Random], Awaitable[object]]:
    async def call(session: Any, rng: random.Random) -> object:
        found = await queries.find_requests(session, make(rng))
        return await queries.latest_notes(session, [r.id for r in found])

    return call


async def measure(db: Database, samples: int) -> dict[str, Any]:
    async with db.reading() as session:
        n = int(await session.scalar(select(func.count()).select_from(Report)) or 0)
        newest = await session.scalar(select(func.max(Report.created_at)))
    newest = newest or utcnow()

    async def by_id(session: Any, rng: random.Random) -> object:
        return await session.get(Report, rng.randint(1, max(1, n)), populate_existing=True)

    def window(rng: random.Random) -> queries.ReportQuery:
        end = newest - timedelta(days=rng.uniform(0, 300))
        return queries.ReportQuery(start=end - timedelta(days=30), end=end, limit=PAGE)

    cases: dict[str, Callable[[Any, random.Random], Awaitable[object]]] = {
        "baseline: one report by primary key": by_id,
        "service_code=X": listing(
            lambda rng: queries.ReportQuery(service_codes=(rng.choice(SERVICES),), limit=PAGE)
        ),
        "status=open": listing(lambda rng: queries.ReportQuery(statuses=("open",), limit=PAGE)),
        "30-day window": listing(window),
        "no filter": listing(lambda rng: queries.ReportQuery(limit=PAGE)),
        "service_code=X&status=open": listing(
            lambda rng: queries.ReportQuery(
                service_codes=(rng.choice(SERVICES),), statuses=("open",), limit=PAGE
            )
        ),
    }
    return {"reports": n, **{name: await timed(db, samples, call) for name, call in cases.items()}}


async def filled(url: str, n: int) -> Database:
    db = Database(url)
    await migrate.upgrade(db)
    await fill(db, n)
    if not db.is_sqlite:
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE reports"))
    return db


async def run(n: int, samples: int, existing: str | None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    if existing:
        db = Database(existing)
        try:
            return {"existing": await measure(db, samples)}
        finally:
            await db.dispose()
    with tempfile.TemporaryDirectory() as tmp:
        db = await filled(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", n)
        try:
            results["sqlite"] = await measure(db, samples)
        finally:
            await db.dispose()
    if pg := os.environ.get("CIVIC311_BENCH_POSTGRES_URL"):
        async with scratch_postgres(pg) as url:
            db = await filled(url, n)
            try:
                results["postgresql"] = await measure(db, samples)
            finally:
                await db.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="2,000 reports, 50 calls each (CI)")
    parser.add_argument("--reports", "--size", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--database", help="measure this existing database, no fill")
    args = parser.parse_args()
    n, samples = (2_000, 50) if args.small else (args.reports, args.samples)
    results = asyncio.run(run(n, samples, args.database))
    for backend, figures in results.items():
        print(f"{backend}, {figures['reports']:,} reports, a page of {PAGE}:")
        for name, value in figures.items():
            if isinstance(value, dict):
                print(f"  {name:38s} median {value['median_ms']:8.2f} ms   p99 {value['p99_ms']:8.2f} ms")
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    name = "open311-list-small.json" if args.small else "open311-list.json"
    (out / name).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
