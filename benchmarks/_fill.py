"""A year of reports for the benchmarks, written fast enough to reach a million.

Rows go in as plain dictionaries through one Core insert per batch (executemany), not as
ORM objects, and every derived value is computed once per distinct address: a million
ORM objects would take minutes and most of the memory the benchmarks set out to measure.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import insert

from bot.db import Database
from bot.models import Report
from bot.reporting.reports import CLOSE_REASONS
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
BATCH = 20_000
FIRST_NUMBER = 800_000


@cache
def _address_key(place: str) -> str | None:
    return normalise_address(place) or None


def _place_key(address_key: str | None, lat: float, lon: float) -> str | None:
    """The stored place, when the schema has the column (the benchmarks also fill databases
    of older revisions to measure the code before a change)."""
    from bot.reporting import places  # the module appears with migration 0007

    return places.place_key(address_key, None, lat, lon)


def rows(n: int, *, seed: int = 311, now: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Typed addresses on ~50 streets and their corners, pins only for a third, 70% closed
    after a few days (exponential, mean 6), filed over the past year."""
    rng = random.Random(seed)
    now = now or utcnow()
    with_place = "place_key" in Report.__table__.c
    for i in range(n):
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
        lat, lon = rng.uniform(*LAT), rng.uniform(*LON)
        key = _address_key(place) if place else None
        row: dict[str, Any] = {
            "number": str(FIRST_NUMBER + i),
            "service_code": rng.choice(SERVICES),
            "description": "benchmark report",
            "status": "closed" if closed else rng.choice(["open", "acknowledged", "in_progress"]),
            "close_reason": rng.choice(CLOSE_REASONS) if closed else None,
            "lat": lat,
            "lon": lon,
            "address": place,
            "address_key": key,
            "attributes": {},
            "media": [],
            "contact": {},
            "source": "bench",
            "created_at": created,
            "updated_at": closed_at or created,
            "closed_at": closed_at,
        }
        if with_place:
            row["place_key"] = _place_key(key, lat, lon)
        yield row


async def fill(db: Database, n: int, *, seed: int = 311) -> None:
    """`n` reports, committed in batches so neither side holds a million rows at once."""
    batch: list[dict[str, Any]] = []
    for row in rows(n, seed=seed):
        batch.append(row)
        if len(batch) == BATCH:
            await _write(db, batch)
            batch = []
    if batch:
        await _write(db, batch)


async def _write(db: Database, batch: list[dict[str, Any]]) -> None:
    async with db.transaction() as session:
        await session.execute(insert(Report.__table__), batch)
