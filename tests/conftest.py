"""Shared fixtures: a fresh database per test, on SQLite and (when configured) PostgreSQL.

Set CIVIC311_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test) to run
every database test on PostgreSQL too; each test gets its own freshly created database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.db import Database
from bot.hub import Hub
from bot.settings import Settings, load_settings, normalise_database_url
from tests.hubs import prepared_hub

POSTGRES_URL = os.environ.get("CIVIC311_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Tests never read a developer's .env or the real environment's tokens."""
    for name in list(os.environ):
        if name.startswith(("TELEGRAM_", "SLACK_", "OPEN311_", "GEOCODER_", "CITY_")) or name in (
            "DATABASE_URL",
            "PUBLIC_URL",
            "MEDIA_DIR",
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    yield


async def _create_pg_database() -> tuple[str, str]:
    assert POSTGRES_URL
    base = make_url(normalise_database_url(POSTGRES_URL))
    name = "civic311_t_" + uuid.uuid4().hex[:12]
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False), name


async def _drop_pg_database(name: str) -> None:
    assert POSTGRES_URL
    base = make_url(normalise_database_url(POSTGRES_URL))
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL to an empty database of each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    url, name = await _create_pg_database()
    try:
        yield url
    finally:
        await _drop_pg_database(name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(DATABASE_URL=database_url, MEDIA_DIR=tmp_path / "media", _env_file=None)


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[Hub]:
    """The real composition root on a migrated database with the sample city loaded."""
    async with prepared_hub(settings) as hub:
        yield hub


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    """A migrated, empty database."""
    from bot.migrate import upgrade

    db = Database(settings.DATABASE_URL)
    await upgrade(db)
    try:
        yield db
    finally:
        await db.dispose()
