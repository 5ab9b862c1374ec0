"""Benchmark: the media sweep of MEDIA_DIR as the folder and the reports grow.

With F photo files (three in four named by one of R reports, the rest orphans, all older
than the grace period) and 200 live drafts, measures `sweep_media` as a dry run (median of
a few runs: it removes nothing, so it can be repeated), the part of it that reads the
references from the database, and one real sweep, beside a bare baseline: a plain
`os.scandir` of the same folder with an `lstat` of every entry, which any sweep must do.
Also the peak memory Python allocated during one dry run (tracemalloc).

SQLite by default; set CIVIC311_BENCH_POSTGRES_URL to run it on PostgreSQL too.
Run by hand: `python benchmarks/media_sweep.py`; CI runs `--small`.
Not a test: it asserts nothing, it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

from _scratch import scratch_postgres  # benchmarks/ is on the path when run as a script
from sqlalchemy import text

from bot import migrate
from bot.db import Database
from bot.dialog import State
from bot.media_sweep import GRACE, referenced, sweep_media
from bot.models import Conversation, Report
from bot.timeutil import utcnow
from dialogs import names
from dialogs.report_draft import Draft

RUNS = 5
DRAFTS = 200


def make_files(folder: Path, count: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    when = time.time() - 2 * GRACE.total_seconds()
    keys = []
    body = b"\xff\xd8\xff" + b"\0" * 1021  # 1 kB: the sweep reads names and sizes, not contents
    for _ in range(count):
        key = f"{secrets.token_urlsafe(24)}.jpg"
        path = folder / key
        path.write_bytes(body)
        os.utime(path, (when, when))
        keys.append(key)
    return keys


async def fill(db: Database, reports: int, keys: list[str]) -> None:
    now = utcnow()
    used = keys[: len(keys) * 3 // 4]  # the rest are orphans
    drafted, filed = used[:DRAFTS], used[DRAFTS:]
    rows = []
    for i in range(reports):
        media = filed[i::reports][:3]  # the filed photos spread over the reports, most have none
        rows.append(
            {
                "number": str(10_000 + i),
                "service_code": "pothole",
                "description": "a pothole",
                "status": "open",
                "attributes": {},
                "media": media,
                "contact": {},
                "source": "chat",
                "created_at": now,
                "updated_at": now,
            }
        )
    for start in range(0, len(rows), 20_000):
        async with db.transaction() as session:
            await session.execute(Report.__table__.insert(), rows[start : start + 20_000])
    conversations = [
        {
            "channel": "webchat",
            "address": f"d{i}",
            "state": State(
                names.REPORT, "photos", Draft(photos=[{"key": key, "content_type": "image/jpeg"}]).to_json()
            ).to_json(),
            "expires_at": now + timedelta(minutes=20),
            "created_at": now,
            "updated_at": now,
        }
        for i, key in enumerate(drafted)
    ]
    async with db.transaction() as session:
        await session.execute(Conversation.__table__.insert(), conversations)
        await session.execute(text("ANALYZE"))


def bare_scan(folder: Path) -> int:
    count = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            entry.stat(follow_symlinks=False)
            count += 1
    return count


def median_ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:8.1f} ms"


async def measure(db: Database, folder: Path, label: str) -> None:
    scans, refs, dry = [], [], []
    for _ in range(RUNS):
        started = time.perf_counter()
        bare_scan(folder)
        scans.append(time.perf_counter() - started)
        started = time.perf_counter()
        await referenced(db, live_since=utcnow() - GRACE)
        refs.append(time.perf_counter() - started)
        started = time.perf_counter()
        result = await sweep_media(db, folder, dry_run=True)
        dry.append(time.perf_counter() - started)
    tracemalloc.start()
    await sweep_media(db, folder, dry_run=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    started = time.perf_counter()
    real = await sweep_media(db, folder)
    once = time.perf_counter() - started
    rows = [
        ("bare os.scandir + lstat of the folder (baseline)", f"median {median_ms(scans)}"),
        ("references read from the database", f"median {median_ms(refs)}"),
        (
            f"sweep, dry run ({result.in_use:,} in use, {result.photos:,} orphans)",
            f"median {median_ms(dry)}   peak Python memory {peak / 1024 / 1024:.1f} MB",
        ),
        (f"sweep removing {real.photos:,} orphans, once", f"       {once * 1000:8.1f} ms"),
    ]
    for name, figure in rows:
        print(f"  {name:<52} {figure}")


async def run(url: str, label: str, files: int, reports: int) -> None:
    db = Database(url)
    try:
        with tempfile.TemporaryDirectory() as media:
            folder = Path(media)
            await migrate.upgrade(db)
            keys = make_files(folder, files)
            await fill(db, reports, keys)
            print(f"{label}, {files:,} photo files, {reports:,} reports, {DRAFTS} live drafts:")
            await measure(db, folder, label)
    finally:
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true", help="CI size: 2,000 files, 10,000 reports")
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--reports", type=int, default=100_000)
    args = parser.parse_args()
    files, reports = (2_000, 10_000) if args.small else (args.files, args.reports)
    with tempfile.TemporaryDirectory() as folder:
        await run(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", "SQLite", files, reports)
    pg = os.environ.get("CIVIC311_BENCH_POSTGRES_URL")
    if pg:
        async with scratch_postgres(pg) as url:
            await run(url, "PostgreSQL", files, reports)


if __name__ == "__main__":
    asyncio.run(main())
