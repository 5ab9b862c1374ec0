"""Statistics counted in SQL: the same figures as reading every report into Python, the
stored place and days to close (and their backfill by migration 0007), and query plans
that read indexes in order instead of sorting."""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, insert, select

from bot import migrate
from bot.db import Database
from bot.models import Report
from bot.reporting import queries, reports
from bot.reporting.places import place_key
from bot.reporting.stats import (
    UNSPECIFIED_REASON,
    PlaceStats,
    ReasonStats,
    ServiceStats,
    Stats,
    Tally,
    place_of,
    report_stats,
)

LA = ZoneInfo("America/Los_Angeles")
T0 = datetime(2025, 1, 1, tzinfo=UTC)
ADDRESSES = [
    "123 Main St",
    "456 Main Street",
    "5th and Market",
    "Market St & 5th St",
    "12 Main St & 5th",
    "1st",
    "100 10th Ave",
    "123",  # a house number alone: no street, so the pin's square
    "Dr Carlton B Goodlett Pl",
    "1420 Noe St, San Francisco, CA 94114",
    "Mission/24th",
]
SERVICES = ["pothole", "graffiti", "streetlight", "tree"]


@pytest.fixture
async def fresh(database_url: str) -> AsyncIterator[Database]:
    """A migrated database with no content at all (service names fall back to codes)."""
    db = Database(database_url)
    await migrate.upgrade(db)
    try:
        yield db
    finally:
        await db.dispose()


async def file_varied(db: Database, n: int, seed: int = 7) -> None:
    """Reports through the domain, as residents and staff make them: streets typed every
    way, corners, pins, nothing; closed, reopened, closed again, some at the same moment
    they were filed; several with equal times to close, so medians meet ties."""
    rng = random.Random(seed)
    for i in range(n):
        filed = T0 + timedelta(days=rng.randint(0, 60), hours=rng.choice([0, 6, 12]))
        address = rng.choice([*ADDRESSES, None, None])
        point = (37.70 + rng.random() * 0.1, -122.50 + rng.random() * 0.1) if rng.random() < 0.6 else None
        async with db.transaction() as session:
            report = await reports.file_report(
                session,
                service_code=rng.choice(SERVICES),
                description="varied",
                now=filed,
                place=address,
                lat=point[0] if point else None,
                lon=point[1] if point else None,
            )
            number = report.number or ""
        moment = filed
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            moment += timedelta(days=rng.choice([0, 0.5, 1, 2, 3, rng.random() * 9]))
            status = rng.choice(["closed", "closed", "acknowledged", "in_progress", "open"])
            reason = rng.choice(reports.CLOSE_REASONS) if status == "closed" else None
            async with db.transaction() as session:
                await reports.set_status(session, number, status, now=moment, reason=reason)
        if i % 17 == 0:  # a clock set back: closed "before" it was filed counts as 0 days
            async with db.transaction() as session:
                await reports.set_status(session, number, "closed", now=filed - timedelta(hours=1))


async def python_stats(db: Database, since: datetime | None) -> Stats:
    """The figures as `civic311 stats` computed them before migration 0007: every report
    read into Python, its place folded there, the medians taken by `statistics.median`."""
    async with db.reading() as session:
        query = select(
            Report.service_code,
            Report.status,
            Report.close_reason,
            Report.address_key,
            Report.address,
            Report.lat,
            Report.lon,
            Report.created_at,
            Report.closed_at,
        )
        if since is not None:
            query = query.where(Report.created_at >= since)
        rows = (await session.execute(query)).all()
    counts: dict[Any, dict[str, int]] = defaultdict(lambda: dict.fromkeys(reports.STATUSES, 0))
    days: dict[Any, list[float]] = defaultdict(list)
    for code, status, reason, key, address, lat, lon, created, closed in rows:
        groups = [("total",), ("service", code), ("place", place_of(key, address, lat, lon))]
        if status == "closed":
            groups.append(("reason", reason or UNSPECIFIED_REASON))
        for group in groups:
            counts[group][status] += 1
            if status == "closed" and closed is not None:
                days[group].append(max(0.0, (closed - created).total_seconds() / 86400))

    def tally(group: Any) -> Tally:
        return Tally(counts[group], statistics.median(days[group]) if days[group] else None)

    services = [ServiceStats(g[1], g[1], tally(g)) for g in counts if g[0] == "service"]
    places = [PlaceStats(g[1][1], g[1][0], tally(g)) for g in counts if g[0] == "place"]
    return Stats(
        since=since,
        time_zone=LA,
        total=tally(("total",)),
        services=tuple(sorted(services, key=lambda s: (-s.tally.total, s.name.lower(), s.code))),
        places=tuple(sorted(places, key=lambda p: (-p.tally.total, p.kind == "none", p.label))),
        reasons=tuple(ReasonStats(r, tally(("reason", r))) for r in reports.CLOSE_REASONS),
    )


@pytest.mark.parametrize("since", [None, T0 + timedelta(days=30)])
async def test_the_figures_are_those_of_reading_every_report(fresh: Database, since: datetime | None) -> None:
    await file_varied(fresh, 240)
    async with fresh.reading() as session:
        counted = await report_stats(session, since=since, time_zone=LA)
    expected = await python_stats(fresh, since)
    assert counted.total.closed > 20 and len(counted.places) > 10  # a set worth comparing
    assert counted == expected


async def test_a_report_keeps_its_place_and_days_to_close(fresh: Database) -> None:
    async with fresh.transaction() as session:
        corner = await reports.file_report(
            session, service_code="pothole", description="x", now=T0, place="Market St & 5th Street"
        )
        pin = await reports.file_report(
            session, service_code="tree", description="x", now=T0, lat=37.78, lon=-122.41
        )
        nowhere = await reports.file_report(session, service_code="tree", description="x", now=T0)
    assert (corner.place_key, nowhere.place_key) == ("street:5th & market", None)
    assert pin.place_key is not None and pin.place_key.startswith("area:37.7")
    async with fresh.transaction() as session:
        closed = await reports.set_status(
            session, corner.number or "", "closed", now=T0 + timedelta(hours=36)
        )
    assert closed.report.days_to_close == 1.5
    async with fresh.transaction() as session:
        reopened = await reports.set_status(session, corner.number or "", "open", now=T0 + timedelta(days=3))
    assert reopened.report.days_to_close is None  # no time to close while it is open again


async def test_the_migration_fills_in_existing_reports(database_url: str) -> None:
    """Reports written before 0007 (more than one batch of them) get the place and days
    the code would have written."""
    db = Database(database_url)
    try:
        await migrate.upgrade(db, "0006")
        rng = random.Random(3)
        old: list[dict[str, Any]] = []
        for i in range(10_001):
            address = rng.choice([*ADDRESSES, None])
            status = rng.choice(reports.STATUSES)
            created = T0 + timedelta(minutes=i)
            old.append(
                {
                    "number": str(50_000 + i),
                    "service_code": rng.choice(SERVICES),
                    "description": "",
                    "status": status,
                    "close_reason": "fixed" if status == "closed" else None,
                    "lat": 37.75 if i % 3 else None,
                    "lon": -122.42 if i % 3 else None,
                    "address": address,
                    # Before 0004 no address key was kept: the place comes from the address.
                    "address_key": None if i % 5 == 0 or not address else reports.normalise_address(address),
                    "created_at": created,
                    "updated_at": created,
                    # Closed with a time (or, set by hand, without one); a reopened one keeps none.
                    "closed_at": created + timedelta(hours=i % 50) if status == "closed" and i % 7 else None,
                }
            )
        async with db.engine.begin() as conn:  # the columns of 0006 only: no place, no days
            await conn.execute(insert(Report.__table__), old)
        await migrate.upgrade(db)
        async with db.reading() as session:
            stored = (
                await session.execute(
                    select(Report.number, Report.place_key, Report.days_to_close).order_by(Report.id)
                )
            ).all()
    finally:
        await db.dispose()
    assert len(stored) == len(old)
    for row, (number, key, days) in zip(old, stored, strict=True):
        assert number == row["number"]
        assert key == place_key(row["address_key"], row["address"], row["lat"], row["lon"])
        assert days == reports.days_to_close(row["created_at"], row["closed_at"])
    assert sum(days is not None for _, _, days in stored) > 1000


# Query plans, on SQLite, with no ANALYZE statistics (a database as `serve` made it).


@contextmanager
def statements(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the block runs on `db`, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        if not many:
            seen.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def plans(db: Database, seen: list[tuple[str, Any]]) -> list[str]:
    found = []
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        for statement, parameters in seen:
            if statement.lstrip().upper().startswith("SELECT") and "reports" in statement:
                cursor = await raw.driver_connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
                found.append("\n".join(str(row[3]) for row in await cursor.fetchall()))
    return found


@pytest.fixture
async def sqlite_reports(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'plans.db'}")
    await migrate.upgrade(db)
    await file_varied(db, 30)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.mark.parametrize("since", [None, T0 + timedelta(days=30)])
async def test_stats_read_indexes_and_sort_nothing(sqlite_reports: Database, since: datetime | None) -> None:
    with statements(sqlite_reports) as seen:
        async with sqlite_reports.reading() as session:
            await report_stats(session, since=since, time_zone=LA)
    found = await plans(sqlite_reports, seen)
    assert len(found) >= 3  # the two grouped counts and the medians
    for plan in found:
        assert "TEMP B-TREE" not in plan, plan
        assert "SCAN reports\n" not in plan + "\n", plan  # never the table itself
    medians = [p for p in found if "ix_reports_days" in p]
    assert any("ix_reports_days_place" in p for p in medians), found


@pytest.mark.parametrize(
    "query",
    [
        queries.ReportQuery(service_codes=("pothole",), limit=50),
        queries.ReportQuery(statuses=("open",), limit=50),
        queries.ReportQuery(start=T0 + timedelta(days=10), end=T0 + timedelta(days=40), limit=50),
        queries.ReportQuery(limit=50),
    ],
    ids=["service", "status", "dates", "none"],
)
async def test_open311_lists_are_read_in_order(sqlite_reports: Database, query: queries.ReportQuery) -> None:
    with statements(sqlite_reports) as seen:
        async with sqlite_reports.reading() as session:
            await queries.find_requests(session, query)
    [plan] = await plans(sqlite_reports, seen)
    assert "USE TEMP B-TREE FOR ORDER BY" not in plan, plan
    if query.service_codes:
        assert "ix_reports_service_created" in plan, plan


def test_the_stats_command_loads_no_model(tmp_path: Path) -> None:
    """`civic311 stats` only counts: neither scikit-learn nor the sentence model's runtime
    (nor the web server) should be in its memory."""
    script = (
        "import sys\n"
        "from bot.cli import main\n"
        "assert main(['stats']) == 0\n"
        "heavy = sorted(m for m in ('sklearn', 'onnxruntime', 'scipy', 'aiohttp') if m in sys.modules)\n"
        "print('loaded:', ','.join(heavy))\n"
    )
    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "DATABASE_URL": url},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "No reports yet." in done.stdout
    assert "loaded: \n" in done.stdout, done.stdout
