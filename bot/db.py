"""The database handle: one async engine, one writer discipline per dialect.

SQLite is the embedded default for one process; PostgreSQL is how civic311
scales out. The differences that matter for correctness are kept here:
SQLite transactions start with BEGIN IMMEDIATE (one writer, no upgrade
deadlocks), PostgreSQL rows are locked with FOR UPDATE.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from bot.models import Base

log = logging.getLogger(__name__)
T = TypeVar("T")
SQLITE_BUSY_TIMEOUT_S = 30
RUN_ATTEMPTS = 3  # a unit of work whose PostgreSQL connection died is run this many times in all
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
        else:
            _drop_broken_connections(self.engine)
        self.busy_timeout_s = busy_timeout_s
        # SQLite has one writer. Writers of this process queue here, in arrival order, instead of
        # sleeping in SQLite's busy handler, whose growing back-off gave a tail of seconds at
        # 8-32 concurrent turns. The busy timeout still bounds waiting for other processes.
        self._writers = asyncio.Lock() if self.is_sqlite else None
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = async_sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: committed when the block ends, rolled back on any error."""
        async with self._writer_turn(), self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def trial(self) -> AsyncIterator[AsyncSession]:
        """A unit of work that is always rolled back: what a turn would do, kept by nobody
        (`civic311 ask`, the admins' test box). It may write, so on SQLite it queues with
        this process's writers like a transaction."""
        async with self._writer_turn(), self.sessions() as session:
            await session.begin()
            try:
                yield session
            finally:
                await session.rollback()

    @asynccontextmanager
    async def _writer_turn(self) -> AsyncIterator[None]:
        if self._writers is None:
            yield
            return
        try:
            async with asyncio.timeout(self.busy_timeout_s):
                await self._writers.acquire()
        except TimeoutError:
            raise TimeoutError(f"waited {self.busy_timeout_s:g} s for the database's write lock") from None
        try:
            yield
        finally:
            self._writers.release()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A read-only unit of work; on SQLite it does not take the write lock."""
        async with self.read_sessions() as session, session.begin():
            yield session

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]], *, read_only: bool = False) -> T:
        """`work` in one transaction, run again whole on a new connection when its
        PostgreSQL connection dies under it (a killed backend, a failover): the transaction
        went with the connection, so nothing of the first try is left. `work` must not have
        effects outside the database. On SQLite a failure is a lock held past the busy
        timeout, and waiting again would only double the wait."""
        for attempt in range(1, RUN_ATTEMPTS + 1):
            try:
                async with self.reading() if read_only else self.transaction() as session:
                    return await work(session)
            except Exception as exc:
                if attempt == RUN_ATTEMPTS or self.is_sqlite or not connection_lost(exc):
                    raise
                log.info("database connection lost, running the work again: %s", exc)
        raise AssertionError("unreachable")

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


def _driver_connection_errors() -> tuple[type[BaseException], ...]:
    try:
        from asyncpg import exceptions as pg  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return ()
    # InterfaceError: "another operation is in progress", "connection is closed" on a
    # connection whose backend was killed under it; the others: the server said it is going.
    # InternalClientError: "cannot switch to state ..; another operation is in progress", a
    # connection left mid-protocol by a backend killed under an earlier statement.
    return (
        pg.InterfaceError,
        pg.InternalClientError,
        pg.PostgresConnectionError,
        pg.AdminShutdownError,
        pg.CannotConnectNowError,
    )


DRIVER_CONNECTION_ERRORS = _driver_connection_errors()


def connection_lost(exc: BaseException) -> bool:
    """Whether the work failed because its connection died (a killed backend, a restart,
    the network), not because of what it asked. The transaction went with the connection,
    so the whole unit of work may be run again on a new one."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (DisconnectionError, ConnectionError, *DRIVER_CONNECTION_ERRORS)):
            return True
        if isinstance(current, DBAPIError):
            if current.connection_invalidated:
                return True
            orig = current.orig
            current = orig if isinstance(orig, BaseException) else current.__cause__
            continue
        current = current.__cause__ or current.__context__
    return False


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


def _drop_broken_connections(engine: AsyncEngine) -> None:
    """A connection the driver says is broken is thrown away, not put back in the pool.

    SQLAlchemy's asyncpg dialect treats "connection is closed" as a disconnect, but not a
    connection stuck mid-protocol ("another operation is in progress") after its backend
    was killed: that one went back to the pool and failed every turn that drew it."""

    @event.listens_for(engine.sync_engine, "handle_error")
    def _on_error(context: Any) -> None:
        if connection_lost(context.original_exception):
            context.is_disconnect = True


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
