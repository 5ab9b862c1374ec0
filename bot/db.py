"""The database handle: one async engine, one writer discipline per dialect.

SQLite is the embedded default for one process; PostgreSQL is how civic311
scales out. The differences that matter for correctness are kept here:
SQLite transactions start with BEGIN IMMEDIATE (one writer, no upgrade
deadlocks), PostgreSQL rows are locked with FOR UPDATE.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from bot.models import Base

SQLITE_BUSY_TIMEOUT_S = 30
READ_ONLY = "civic311_readonly"  # execution option of the engine behind `Database.reading()`


class Database:
    def __init__(
        self, url: str, *, echo: bool = False, busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S
    ) -> None:
        """`busy_timeout_s`: how long a SQLite writer waits for the lock before its turn fails
        (and is answered 503, to be retried)."""
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": busy_timeout_s}
            _ensure_sqlite_dir(url)
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _sqlite_discipline(self.engine, busy_timeout_s)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = async_sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: committed when the block ends, rolled back on any error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A read-only unit of work; on SQLite it does not take the write lock."""
        async with self.read_sessions() as session, session.begin():
            yield session

    def insert(self, table: Any) -> postgresql.Insert | sqlite.Insert:
        """A dialect insert, so callers can use `on_conflict_do_nothing/update`."""
        return sqlite.insert(table) if self.is_sqlite else postgresql.insert(table)

    @property
    def supports_row_locks(self) -> bool:
        return not self.is_sqlite

    async def ping(self) -> None:
        """One read: on SQLite a plain BEGIN, so a health check never waits for a writer
        holding the lock (with BEGIN IMMEDIATE it waited up to the busy timeout)."""
        async with self.engine.execution_options(**{READ_ONLY: True}).connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def create_all_for_tests(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)

    async def dispose(self) -> None:
        await self.engine.dispose()


def upsert_insert(session: AsyncSession, table: Any) -> postgresql.Insert | sqlite.Insert:
    """The dialect insert for a session's database, for `on_conflict_do_...` upserts."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def is_read_only(session: AsyncSession) -> bool:
    """Whether the session came from `Database.reading()`."""
    return bool(session.get_bind().get_execution_options().get(READ_ONLY, False))


def _ensure_sqlite_dir(url: str) -> None:
    from pathlib import Path

    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_discipline(engine: AsyncEngine, busy_timeout_s: float) -> None:
    """WAL for concurrent readers, foreign keys on, and BEGIN IMMEDIATE.

    pysqlite's own transaction handling starts transactions lazily as
    DEFERRED, which lets two writers both read and then deadlock on upgrade;
    taking the write lock at BEGIN serialises turns instead.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={round(busy_timeout_s * 1000)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        readonly = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")
