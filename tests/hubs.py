"""A ready hub for tests that need settings of their own (API keys, a geocoder, limits)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.bootstrap import prepare
from bot.hub import Hub, build_hub
from bot.settings import Settings


@asynccontextmanager
async def prepared_hub(settings: Settings) -> AsyncIterator[Hub]:
    """The real composition root on a migrated database with the sample city loaded."""
    hub = build_hub(settings)
    await prepare(hub.db, auto_upgrade=True, knowledge=hub.services.knowledge)
    try:
        yield hub
    finally:
        await hub.close()
