"""The web chat on the city's site: a page at `/` and its JSON API under `/api/chat/`."""

from __future__ import annotations

from aiohttp import web

from adapters.webchat.api import CAPABILITIES, NAME, add_routes
from bot.api import AdapterPlugin, Channel, Hub, TranscriptChannel


class WebChatPlugin(AdapterPlugin):
    name = NAME

    def channels(self, hub: Hub) -> list[Channel]:
        return [TranscriptChannel(NAME, hub.db, CAPABILITIES, written=hub.feed.nudge)]

    def setup_web(self, hub: Hub, app: web.Application) -> None:
        add_routes(hub, app)


plugin = WebChatPlugin
