"""Benchmark: the report path at city scale.

Measures, with N open and closed reports already in the database:
- `reports.nearby_open` (the "already reported?" check before filing), median and p95;
- one whole report, filed through the engine turn by turn as a resident would
  (description, place, answers, summary, send), time per turn, median and p95;
- `reports.set_status` with subscribers (the outbox rows it writes), median and p95.

SQLite by default; set CIVIC311_BENCH_POSTGRES_URL to run it on PostgreSQL too.
Run by hand: `python benchmarks/reports.py`; CI runs `--small`.
Not a test: it asserts nothing, it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _scratch import scratch_postgres  # benchmarks/ is on the path when run as a script

from bot.bootstrap import prepare
from bot.hub import Hub, build_hub
from bot.messages import Incoming, Location
from bot.models import Report
from bot.reporting import reports
from bot.settings import load_settings
from bot.timeutil import utcnow

# Streetlights are left to the dialog timing below, so its residents never meet a duplicate.
SERVICES = ["pothole", "graffiti", "illegal-dumping", "tree", "sewer", "street-sign"]
# A box inside the sample city (downtown and the Mission), where most reports would fall.
LAT, LON = (37.74, 37.80), (-122.45, -122.39)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def fill(hub: Hub, n: int) -> None:
    rng = random.Random(311)
    now = utcnow()
    async with hub.db.transaction() as session:
        rows = []
        for i in range(n):
            created = now - timedelta(days=rng.uniform(0, 365))
            closed = rng.random() < 0.7
            rows.append(
                Report(
                    number=str(900_000 + i),
                    service_code=rng.choice(SERVICES),
                    description="benchmark report",
                    status="closed" if closed else rng.choice(["open", "acknowledged", "in_progress"]),
                    close_reason="fixed" if closed else None,
                    lat=rng.uniform(*LAT),
                    lon=rng.uniform(*LON),
                    address=None,
                    attributes={},
                    media=[],
                    contact={},
                    source="bench",
                    created_at=created,
                    updated_at=created,
                )
            )
        session.add_all(rows)


async def time_nearby(hub: Hub, samples: int) -> list[float]:
    rng = random.Random(7)
    times = []
    for _ in range(samples):
        lat, lon = rng.uniform(*LAT), rng.uniform(*LON)
        started = time.perf_counter()
        async with hub.db.reading() as session:
            await reports.nearby_open(
                session, rng.choice(SERVICES), lat=lat, lon=lon, place="5th and Market", radius_m=50
            )
        times.append((time.perf_counter() - started) * 1000)
    return times


async def time_dialog(hub: Hub, residents: int) -> list[float]:
    ids = itertools.count()
    times = []
    for n in range(residents):
        script = [
            {"text": "the streetlight on the corner is out and it's really dark"},
            {"text": "yes"},
            {"location": Location(37.7793 + 0.001 * n, -122.4193)},  # 110 m apart: not duplicates
            {"text": "light is out"},
            {"text": "skip"},
            {"text": "send"},
        ]
        for message in script:
            incoming = Incoming("console", f"bench-{n}", f"b{next(ids)}", **message)  # type: ignore[arg-type]
            started = time.perf_counter()
            result = await hub.engine.handle(incoming)
            times.append((time.perf_counter() - started) * 1000)
        assert "report number" in result.replies[-1].text, result.replies[-1].text
    return times


async def time_status(hub: Hub, samples: int) -> list[float]:
    async with hub.db.transaction() as session:
        report = await reports.file_report(
            session, service_code="pothole", description="x", now=utcnow(), channel="console", address="s0"
        )
        for k in range(1, 10):
            await reports.subscribe(session, report, "console", f"s{k}", now=utcnow())
        number = report.number or ""
    times = []
    for i in range(samples):
        started = time.perf_counter()
        async with hub.db.transaction() as session:
            await reports.set_status(session, number, ["acknowledged", "in_progress"][i % 2], now=utcnow())
        times.append((time.perf_counter() - started) * 1000)
    return times


async def run(url: str, n: int, label: str) -> None:
    settings = load_settings(DATABASE_URL=url, _env_file=None)
    hub = build_hub(settings)
    await prepare(hub.db, auto_upgrade=True, knowledge=hub.services.knowledge)
    try:
        await fill(hub, n)
        nearby = await time_nearby(hub, 200)
        turns = await time_dialog(hub, 10)
        status = await time_status(hub, 50)
    finally:
        await hub.close()
    print(f"{label}, {n:,} reports in the database:")
    for name, values in (
        ("already-reported check (nearby_open)", nearby),
        ("one report dialog turn (engine)", turns),
        ("status change, 10 subscribers", status),
    ):
        print(f"  {name:40s} median {statistics.median(values):6.2f} ms   p95 {pct(values, 0.95):6.2f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true", help="CI size: 2,000 reports")
    parser.add_argument("--reports", type=int, default=100_000)
    args = parser.parse_args()
    n = 2_000 if args.small else args.reports
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # media and the database stay in the temporary folder
        await run(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", n, "SQLite")
    pg = os.environ.get("CIVIC311_BENCH_POSTGRES_URL")
    if pg:
        async with scratch_postgres(pg) as url:
            await run(url, n, "PostgreSQL")


if __name__ == "__main__":
    asyncio.run(main())
