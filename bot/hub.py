"""The composition root: settings, database, dialogs, channels and engine, wired once."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.db import Database
from bot.delivery.channel import Channel
from bot.delivery.feed import TranscriptFeed
from bot.delivery.outbox import Later, enqueue
from bot.dialog import DialogRegistry
from bot.engine import Engine
from bot.geocoding import NoGeocoder
from bot.messages import Outgoing
from bot.plugin import AdapterPlugin, adapter_plugins, dialog_registrars
from bot.services import Services
from bot.settings import Settings
from bot.staff.events import DESK
from bot.timeutil import utcnow

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Hub:
    settings: Settings
    db: Database
    services: Services
    dialogs: DialogRegistry
    engine: Engine
    feed: TranscriptFeed  # wakes this process's open chat pages
    plugins: list[AdapterPlugin] = field(default_factory=list)
    channels: dict[str, Channel] = field(default_factory=dict)
    # Set when a turn of this process queued outbox rows: wakes its outbox worker.
    outbox_queued: asyncio.Event = field(default_factory=asyncio.Event)
    _started: list[AdapterPlugin] = field(default_factory=list)

    async def send_later(self, channel: str, address: str, message: Outgoing) -> None:
        """Queue a message that answers no turn (a photo refused before it reached one, a
        note that the resident writes too fast), in order with the others to that address,
        and wake the outbox."""
        async with self.db.transaction() as session:
            enqueue(session, Later(channel, address, message), utcnow())
        self.outbox_queued.set()

    async def start(self) -> None:
        """Run the plugins' start hooks (a platform client opening its connections), in
        order; `close` stops those that started, last first."""
        for plugin in self.plugins:
            await plugin.start(self)
            self._started.append(plugin)

    async def close(self) -> None:
        try:
            while self._started:
                plugin = self._started.pop()
                try:
                    await plugin.stop(self)
                except Exception:
                    log.exception("stopping the %s plugin failed", plugin.name)
            await self.services.geocoder.close()
        finally:
            await self.db.dispose()


def build_hub(settings: Settings, *, plugins: list[AdapterPlugin] | None = None) -> Hub:
    db = Database(settings.DATABASE_URL, busy_timeout_s=settings.SQLITE_BUSY_TIMEOUT_S)
    services = Services(settings)
    dialogs = DialogRegistry()
    for register in dialog_registrars():
        register(dialogs)  # type: ignore[operator]
    engine = Engine(
        db,
        dialogs,
        services,
        timeout=timedelta(minutes=settings.CONVERSATION_TIMEOUT_MINUTES),
        max_chars=settings.MAX_MESSAGE_CHARS,
    )
    hub = Hub(settings, db, services, dialogs, engine, TranscriptFeed(db))
    engine.queued = hub.outbox_queued.set
    hub.plugins = [p for p in (plugins if plugins is not None else adapter_plugins()) if p.enabled(hub)]
    for plugin in hub.plugins:
        for channel in plugin.channels(hub):
            hub.channels[channel.name] = channel
            engine.capabilities[channel.name] = channel.capabilities
    hub.services.staff_desk = DESK in hub.channels
    geocoders = (plugin.geocoder(hub) for plugin in hub.plugins)
    hub.services.geocoder = next((g for g in geocoders if g is not None), NoGeocoder())
    return hub


def describe(hub: Hub) -> dict[str, Any]:
    return {
        "database": hub.db.engine.url.render_as_string(hide_password=True),
        "channels": sorted(hub.channels),
    }
