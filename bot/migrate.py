"""Schema migrations (Alembic), run from code so no alembic.ini is needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from bot.db import Database

MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant works; it only has to be the same in every process.
PG_MIGRATION_LOCK = 311_000_311


class NotMigrated(RuntimeError):
    pass


def alembic_config(connection: Any = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to `revision`. On PostgreSQL an advisory lock keeps two
    processes that start together from migrating at once."""

    def run(sync_conn: Any) -> None:
        if sync_conn.dialect.name == "postgresql":
            sync_conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
        command.upgrade(alembic_config(sync_conn), revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


async def ensure_current(db: Database, *, auto_upgrade: bool) -> None:
    """Upgrade (SQLite, or when asked), or insist the schema is current."""
    if auto_upgrade:
        await upgrade(db)
    elif await pending(db):
        raise NotMigrated("the database schema is not up to date: run `civic311 db upgrade` first")


async def pending(db: Database) -> bool:
    """True when the database is behind the code's newest migration."""

    def check(sync_conn: Any) -> bool:
        current = MigrationContext.configure(sync_conn).get_current_heads()
        heads = ScriptDirectory.from_config(alembic_config()).get_heads()
        return set(current) != set(heads)

    async with db.engine.connect() as conn:
        return await conn.run_sync(check)
