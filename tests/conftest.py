"""Shared fixtures: a fresh database per test, on SQLite and (when configured) PostgreSQL.

Set CIVIC311_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test) to run
every database test on PostgreSQL too; each test gets its own freshly created database.

`database_url` is empty. `settings` (and so `hub` and `db`) point at a copy of a database
that `bootstrap.prepare` readied once per test session: migrated, with the sample city and
its phrasing vectors. Copying a file (SQLite) or a template database (PostgreSQL) takes
milliseconds where preparing takes most of a second, hundreds of times per run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
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


async def _create_pg_database(template: str | None = None) -> tuple[str, str]:
    assert POSTGRES_URL
    base = make_url(normalise_database_url(POSTGRES_URL))
    name = "civic311_t_" + uuid.uuid4().hex[:12]
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        # FILE_COPY: copying the files beats writing the whole template through the WAL
        # (PostgreSQL 15's default) for a database of this size: 0.2 s instead of 0.34 s.
        version = int(await conn.scalar(text("SHOW server_version_num")) or 0)
        strategy = " STRATEGY FILE_COPY" if version >= 150000 else ""
        copy = f' TEMPLATE "{template}"{strategy}' if template else ""
        await conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
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


_TEMPLATES: dict[str, str] = {}  # backend -> the prepared template (a file path or a database name)


async def _prepare(url: str, folder: Path) -> None:
    settings = load_settings(DATABASE_URL=url, MEDIA_DIR=folder / "media", _env_file=None)
    async with prepared_hub(settings):
        pass


async def _prepared_template(backend: str, folder: Path) -> str:
    """The prepared database to copy, made once per run. Under pytest-xdist the workers
    share the SQLite one (`folder.parent` is the run's own directory; the first worker
    makes it under a lock, the others wait for it). Opening it fills this process's
    vector and model memos, so the PostgreSQL template costs inserts, not a training."""
    if backend in _TEMPLATES:
        return _TEMPLATES[backend]
    if backend == "sqlite":
        shared = folder.parent / "civic311-template.db" if os.environ.get("PYTEST_XDIST_WORKER") else None
        # A development shortcut: a template another run made (its civic311-template.db), for
        # changes that leave the schema and the sample city alone. CI never sets it.
        kept = os.environ.get("CIVIC311_TEST_SQLITE_TEMPLATE")
        if kept and os.path.isfile(kept):  # noqa: ASYNC240 - once per run
            shared = Path(kept)
        path = folder / "template.db"
        with _exclusive(folder.parent / "civic311-template.lock") if shared else contextlib.nullcontext():
            if shared is not None and shared.exists():
                shutil.copyfile(shared, path)
            await _prepare(f"sqlite+aiosqlite:///{path}", folder)  # made, or (a copy) opened
            import sqlite3

            with contextlib.closing(sqlite3.connect(path)) as conn:  # all in the main file
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            if shared is not None and not shared.exists():
                shutil.copyfile(path, shared)
        _TEMPLATES[backend] = str(path)
    else:
        await _prepared_template("sqlite", folder)
        url, name = await _create_pg_database()
        await _prepare(url, folder)
        _TEMPLATES[backend] = name
    return _TEMPLATES[backend]


@contextlib.contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    import fcntl

    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session", autouse=True)
def _drop_templates() -> Iterator[None]:
    yield
    if POSTGRES_URL and "postgresql" in _TEMPLATES:
        import asyncio

        asyncio.run(_drop_pg_database(_TEMPLATES["postgresql"]))


@pytest.fixture(params=BACKENDS)
async def prepared_url(
    request: pytest.FixtureRequest, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A URL to a database of each backend that is migrated and holds the sample city."""
    template = await _prepared_template(request.param, tmp_path_factory.getbasetemp())
    if request.param == "sqlite":
        shutil.copyfile(template, tmp_path / "test.db")
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    url, name = await _create_pg_database(template=template)
    try:
        yield url
    finally:
        await _drop_pg_database(name)


@pytest.fixture
async def sqlite_prepared(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of the prepared SQLite database at `tmp_path/c.db`, for processes started by a
    test: a fresh database would make each of them embed and train the sample city anew."""
    template = await _prepared_template("sqlite", tmp_path_factory.getbasetemp())
    shutil.copyfile(template, tmp_path / "c.db")
    return f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"


@pytest.fixture
def settings(prepared_url: str, tmp_path: Path) -> Settings:
    return load_settings(DATABASE_URL=prepared_url, MEDIA_DIR=tmp_path / "media", _env_file=None)


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[Hub]:
    """The real composition root on a migrated database with the sample city loaded."""
    async with prepared_hub(settings) as hub:
        yield hub


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    """A migrated database with no reports, conversations or outbox rows (the sample city's
    knowledge base and catalogue are in it)."""
    from bot.migrate import upgrade

    db = Database(settings.DATABASE_URL)
    await upgrade(db)
    try:
        yield db
    finally:
        await db.dispose()


# Tests that need the sample city trained (minutes the first time in a session), a browser
# or real server processes. `pytest -m "not slow"` runs the rest: a fast subset for the
# edit-test loop. The full suite is what CI runs.
SLOW_FIXTURES = frozenset(
    {
        "prepared_url",
        "sqlite_prepared",
        "sample",
        "sample_words_only",
        "browser",
        "servers",
        "server",
        "workers",
    }
)
SLOW_MODULES = frozenset({"test_processes", "test_delivery_processes", "test_cli", "test_webchat_browser"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: needs the trained sample city, a browser or server processes")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = getattr(getattr(item, "module", None), "__name__", "").rsplit(".", 1)[-1]
        if set(getattr(item, "fixturenames", ())) & SLOW_FIXTURES or module in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
