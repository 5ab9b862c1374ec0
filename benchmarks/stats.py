"""Benchmark: `civic311 stats` at city scale, up to a million reports.

Fills a database with N reports (benchmarks/_fill.py: a year of them, typed addresses on
~50 streets and their corners, pins only for a third, 70% closed after a few days, in
bulk inserts) and measures, in one run:
- `bot.reporting.stats.report_stats` over all reports and over the last 30 days: median
  and slowest of several runs, and the peak Python memory it allocates (tracemalloc);
- `civic311 stats` as a separate process, as staff run it: its wall time and peak RSS;
- rendering the result as text and as CSV;
- and, beside them, bare baselines of the same machine on the same table: a plain
  `SELECT service_code, count(*) ... GROUP BY service_code`, and a Python process that
  only imports the modules `civic311 stats` uses. A shared or slow machine shows in the
  baselines as much as in the figures.

SQLite by default; set CIVIC311_BENCH_POSTGRES_URL to run it on PostgreSQL too (a fresh
PostgreSQL table is VACUUM ANALYZEd after the fill, as autovacuum would soon do).
Run by hand: `python benchmarks/stats.py` (10,000 reports) or `--reports 1000000`;
CI runs `--small` (500). `--database URL` measures an existing database instead (no fill),
e.g. one of an older revision with that revision's code, to compare before and after.
Not a test: it asserts nothing, it prints figures (and writes benchmarks/results/*.json).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from _fill import fill  # benchmarks/ is on the path when run as a script
from _scratch import scratch_postgres
from sqlalchemy import text

import bot
from bot.bootstrap import prepare
from bot.db import Database
from bot.reporting.stats import Stats, report_stats
from bot.reporting.stats_format import as_text, write_csv
from bot.timeutil import utcnow

ZONE = ZoneInfo("America/Los_Angeles")
RUNS = 5
ROOT = Path(bot.__file__).resolve().parent.parent  # the processes run the code measured here
# What `civic311 stats` imports before it reads anything: the baseline process.
BARE_IMPORTS = (
    "import aiosqlite, bot.cli, bot.db, bot.migrate, bot.reporting.stats, bot.reporting.stats_format"
)


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


# Runs the measured code, then writes the process's own peak RSS (VmHWM, kB) to a file. Not
# getrusage: a child's ru_maxrss starts from its parent's at the fork, so it would report
# this benchmark's memory, not the command's.
MEASURED = """
import atexit, os, runpy, sys
def peak():
    with open("/proc/self/status") as status:
        kb = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["CIVIC311_BENCH_PEAK_FILE"], "w") as out:
        out.write(kb)
atexit.register(peak)
if sys.argv[1] == "--module":
    name = sys.argv[2]
    sys.argv = [name, *sys.argv[3:]]
    runpy.run_module(name, run_name="__main__", alter_sys=True)
else:
    exec(sys.argv[1])
"""


def process(args: list[str], url: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one Python process run to its end."""
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "PYTHONPATH": str(ROOT),
            "CIVIC311_BENCH_PEAK_FILE": str(peak_file),
        }
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", MEASURED, *args],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{args} failed: {done.stderr.decode()}")
        return wall, int(peak_file.read_text()) / 1024


def processes(args: list[str], url: str, runs: int) -> dict[str, float]:
    figures = [process(args, url) for _ in range(runs)]
    return {
        "median_s": round(statistics.median(w for w, _ in figures), 2),
        "peak_rss_mb": round(max(r for _, r in figures), 1),
    }


async def bare_query_ms(db: Database) -> float:
    times = []
    async with db.reading() as session:
        for _ in range(RUNS):
            started = time.perf_counter()
            await session.execute(text("SELECT service_code, count(*) FROM reports GROUP BY service_code"))
            times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


async def measure(url: str, n: int | None, cli_runs: int) -> dict[str, Any]:
    """The figures on `url` after filling it with `n` reports, or as it is (n None)."""
    db = Database(url)
    try:
        fill_s = None
        if n is not None:
            await prepare(db, auto_upgrade=True)  # migrated, the sample catalogue loaded
            started = time.perf_counter()
            await fill(db, n)
            fill_s = round(time.perf_counter() - started, 2)
            if not db.is_sqlite:
                async with db.engine.connect() as conn:
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                    await conn.execute(text("VACUUM ANALYZE reports"))
        async with db.reading() as session:
            reports = int(await session.scalar(text("SELECT count(*) FROM reports")) or 0)

        async def everything() -> Stats:
            async with db.reading() as session:
                return await report_stats(session, time_zone=ZONE)

        async def last_30_days() -> Stats:
            async with db.reading() as session:
                return await report_stats(session, since=utcnow() - timedelta(days=30), time_zone=ZONE)

        all_figures, stats = await timed(everything)
        recent_figures, recent = await timed(last_30_days)
        bare_ms = await bare_query_ms(db)
    finally:
        await db.dispose()
    command = processes(["--module", "bot.cli", "stats"], url, cli_runs)
    bare = processes([BARE_IMPORTS], url, cli_runs)
    started = time.perf_counter()
    as_text(stats)
    text_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    write_csv(stats, io.StringIO())
    csv_ms = (time.perf_counter() - started) * 1000
    return {
        "reports": reports,
        "fill_s": fill_s,
        "report_stats_all": {**all_figures, "places": len(stats.places)},
        "report_stats_last_30_days": {**recent_figures, "reports": recent.total.total},
        "baseline_group_by_service_ms": bare_ms,
        "civic311_stats_process": command,
        "baseline_process_only_imports": bare,
        "render_text_ms": round(text_ms, 1),
        "render_csv_ms": round(csv_ms, 1),
    }


async def on_postgres(base_url: str, n: int, cli_runs: int) -> dict[str, Any]:
    async with scratch_postgres(base_url) as url:
        return await measure(url, n, cli_runs)


async def run(n: int, cli_runs: int, existing: str | None = None) -> dict[str, Any]:
    if existing:
        return {"existing": await measure(existing, None, cli_runs)}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = await measure(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", n, cli_runs)
    if pg := os.environ.get("CIVIC311_BENCH_POSTGRES_URL"):
        results["postgresql"] = await on_postgres(pg, n, cli_runs)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="500 reports (CI)")
    parser.add_argument("--reports", "--size", type=int, default=10_000)
    parser.add_argument(
        "--database", help="measure this existing database, no fill (e.g. an older revision's)"
    )
    args = parser.parse_args()
    results = asyncio.run(run(500 if args.small else args.reports, 1 if args.small else 3, args.database))
    print(json.dumps(results, indent=2))
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    (out / ("stats-small.json" if args.small else "stats.json")).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
