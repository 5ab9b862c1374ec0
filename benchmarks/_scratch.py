"""A throwaway PostgreSQL database for a benchmark run, dropped afterwards whatever happens."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.settings import normalise_database_url


@asynccontextmanager
async def scratch_postgres(base_url: str) -> AsyncIterator[str]:
    """Yields the URL of a new, empty database on the server of `base_url`."""
    base = make_url(normalise_database_url(base_url))
    name = "civic311_bench_" + uuid.uuid4().hex[:8]
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
