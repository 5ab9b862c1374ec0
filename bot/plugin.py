"""How adapters plug in: a small base class with no-op defaults.

Adapters are found through the `civic311.adapters` entry point group, so the
core never imports one by name and a city can add its own channel as a
separate package.
"""

from __future__ import annotations

import argparse
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from aiohttp import web

from bot.delivery.channel import Channel
from bot.geocoding import Geocoder

if TYPE_CHECKING:
    from bot.hub import Hub

ADAPTERS_GROUP = "civic311.adapters"
DIALOGS_GROUP = "civic311.dialogs"


class AdapterPlugin:
    name = "adapter"

    def enabled(self, hub: Hub) -> bool:
        """Whether the configuration turns this adapter on (tokens set, ...)."""
        return True

    def channels(self, hub: Hub) -> list[Channel]:
        """Channels the outbox may deliver through."""
        return []

    def setup_web(self, hub: Hub, app: web.Application) -> None:
        """Add routes and background tasks to the `serve` application."""

    def add_commands(self, commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
        """Add subcommands to the `civic311` command line."""

    async def start(self, hub: Hub) -> None:
        """Open what the channels need (a platform client, its connections) once the hub is
        built; a failure here stops start-up with its message."""

    async def stop(self, hub: Hub) -> None:
        """Close what `start` opened; called by `Hub.close`, after the web server stopped."""

    def geocoder(self, hub: Hub) -> Geocoder | None:
        """A geocoder for typed addresses; the first enabled plugin offering one is used."""
        return None


def adapter_plugins() -> list[AdapterPlugin]:
    plugins = []
    for ep in sorted(entry_points(group=ADAPTERS_GROUP), key=lambda e: e.name):
        plugin = ep.load()
        plugins.append(plugin() if isinstance(plugin, type) else plugin)
    return plugins


def dialog_registrars() -> list[object]:
    return [ep.load() for ep in sorted(entry_points(group=DIALOGS_GROUP), key=lambda e: e.name)]
