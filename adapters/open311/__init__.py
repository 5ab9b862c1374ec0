"""Open311 GeoReport v2 at /open311/v2/: how the city's CRM, FixMyStreet-style apps and
open-data portals read and file the same service requests residents file in the chat."""

from __future__ import annotations

from aiohttp import web

from adapters.open311.routes import add_routes
from bot.api import AdapterPlugin, Hub


class Open311Plugin(AdapterPlugin):
    """Web routes only: Open311 clients poll, so there is no channel to deliver through."""

    name = "open311"

    def setup_web(self, hub: Hub, app: web.Application) -> None:
        add_routes(hub, app)


plugin = Open311Plugin
