"""Benchmark: `civic311 stats` at city scale.

Fills a database with N reports (a year of them: typed addresses on ~120 streets and
corners, pins only for a third, 70% closed after a few days) and measures, in one run:
- `bot.reporting.stats.report_stats` over all reports and over the last 30 days: median and slowest
  of several runs, and the peak Python memory it allocates (tracemalloc);
- rendering the result as text and as CSV.

SQLite by default; set CIVIC311_BENCH_POSTGRES_URL to run it on PostgreSQL too.
Run by hand: `python benchmarks/stats.py` (10,000 reports); CI runs `--small` (500).
Not a test: it asserts nothing, it prints figures (and writes benchmarks/results/*.json).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from _scratch import scratch_postgres  # benchmarks/ is on the path when run as a script

from bot.bootstrap import prepare
from bot.db import Database
from bot.models import Report
from bot.reporting.reports import CLOSE_REASONS
from bot.reporting.stats import Stats, report_stats
from bot.reporting.stats_format import as_text, write_csv
from bot.timeutil import utcnow
from knowledge.geo import normalise_address

SERVICES = ["pothole", "streetlight", "graffiti", "illegal-dumping", "tree", "sewer", "street-sign", "noise"]
STREETS = [
    *(f"{n}th St" for n in range(4, 30)),
    *(f"{name} St" for name in ("Market", "Mission", "Howard", "Folsom", "Harrison", "Bryant", "Valencia")),
    *(f"{name} Ave" for name in ("Van Ness", "Geary", "Irving", "Judah", "Noriega", "Taraval", "Ocean")),
    *(f"{name} Blvd" for name in ("Sunset", "Lincoln", "Geneva", "Bayshore")),
]
LAT, LON = (37.71, 37.80), (-122.50, -122.39)  # most of the sample city
ZONE = ZoneInfo("America/Los_Angeles")
RUNS = 5


def fake_report(i: int, rng: random.Random, now: datetime) -> Report:
    created = now - timedelta(days=rng.uniform(0, 365))
    roll = rng.random()
    if roll < 0.45:
        place: str | None = f"{rng.randint(1, 3999)} {rng.choice(STREETS)}"
    elif roll < 0.65:
        place = f"{rng.choice(STREETS)} and {rng.choice(STREETS)}"
    else:
        place = None  # a pin only
    closed = rng.random() < 0.7
    closed_at = created + timedelta(days=rng.expovariate(1 / 6)) if closed else None
    return Report(
        number=str(800_000 + i),
        service_code=rng.choice(SERVICES),
        description="benchmark report",
        status="closed" if closed else rng.choice(["open", "acknowledged", "in_progress"]),
        close_reason=rng.choice(CLOSE_REASONS) if closed else None,
        lat=rng.uniform(*LAT),
        lon=rng.uniform(*LON),
        address=place,
        address_key=normalise_address(place) or None if place else None,
        attributes={},
        media=[],
        contact={},
        source="bench",
        created_at=created,
        updated_at=closed_at or created,
        closed_at=closed_at,
    )


async def fill(db: Database, n: int) -> None:
    rng = random.Random(311)
    now = utcnow()
    async with db.transaction() as session:
        session.add_all([fake_report(i, rng, now) for i in range(n)])


async def timed(work: Callable[[], Awaitable[Stats]]) -> tuple[dict[str, float], Stats]:
    times = []
    stats: Stats | None = None
    for _ in range(RUNS):
        started = time.perf_counter()
        stats = await work()
        times.append(time.perf_counter() - started)
    tracemalloc.start()
    await work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert stats is not None
    figures = {
        "median_ms": round(statistics.median(times) * 1000, 1),
        "slowest_ms": round(max(times) * 1000, 1),
        "peak_python_memory_mb": round(peak / 2**20, 2),
    }
    return figures, stats


async def measure(url: str, n: int) -> dict[str, Any]:
    db = Database(url)
    try:
        await prepare(db, auto_upgrade=True)  # migrated, the sample catalogue loaded
        started = time.perf_counter()
        await fill(db, n)
        fill_s = time.perf_counter() - started

        async def everything() -> Stats:
            async with db.reading() as session:
                return await report_stats(session, time_zone=ZONE)

        async def last_30_days() -> Stats:
            async with db.reading() as session:
                return await report_stats(session, since=utcnow() - timedelta(days=30), time_zone=ZONE)

        all_figures, stats = await timed(everything)
        recent_figures, recent = await timed(last_30_days)
    finally:
        await db.dispose()
    started = time.perf_counter()
    as_text(stats)
    text_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    write_csv(stats, io.StringIO())
    csv_ms = (time.perf_counter() - started) * 1000
    return {
        "reports": n,
        "fill_s": round(fill_s, 2),
        "report_stats_all": {**all_figures, "places": len(stats.places)},
        "report_stats_last_30_days": {**recent_figures, "reports": recent.total.total},
        "render_text_ms": round(text_ms, 1),
        "render_csv_ms": round(csv_ms, 1),
    }


async def on_postgres(base_url: str, n: int) -> dict[str, Any]:
    async with scratch_postgres(base_url) as url:
        return await measure(url, n)


async def run(n: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = await measure(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", n)
    if pg := os.environ.get("CIVIC311_BENCH_POSTGRES_URL"):
        results["postgresql"] = await on_postgres(pg, n)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="500 reports (CI)")
    parser.add_argument("--reports", type=int, default=10_000)
    args = parser.parse_args()
    results = asyncio.run(run(500 if args.small else args.reports))
    print(json.dumps(results, indent=2))
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    (out / ("stats-small.json" if args.small else "stats.json")).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
