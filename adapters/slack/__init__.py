"""Slack: city staff work the requests and answer residents from their own workspace.

slack-bolt (async) inside `serve`: new reports, changes and handoffs reach staff as
messages posted by the staff desk from the outbox (adapters.slack.desk); what staff press
and submit arrives at `POST /slack/events` (or over Socket Mode with SLACK_APP_TOKEN) and
is applied through the core (adapters.slack.listeners). SLACK_BOT_TOKEN turns it on;
nothing of slack_bolt is imported until then.
"""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.api import AdapterPlugin, Channel, Hub, UserError

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


class SlackPlugin(AdapterPlugin):
    name = "slack"

    def __init__(self) -> None:
        self._client: AsyncWebClient | None = None
        self._app: AsyncApp | None = None
        self._socket: Any = None

    def enabled(self, hub: Hub) -> bool:
        return bool(hub.settings.SLACK_BOT_TOKEN)

    def client(self, hub: Hub) -> AsyncWebClient:
        from adapters.slack.client import make_client

        if self._client is None:
            self._client = make_client(hub.settings)
        return self._client

    def app(self, hub: Hub) -> AsyncApp:
        from slack_bolt.async_app import AsyncApp

        from adapters.slack.listeners import Listeners

        if self._app is None:
            socket_mode = bool(hub.settings.SLACK_APP_TOKEN)
            self._app = AsyncApp(
                signing_secret=hub.settings.SLACK_SIGNING_SECRET or None,
                client=self.client(hub),
                # Listeners finish before Slack is answered: no work is left to a task
                # that a restart would lose (bolt's lazy listeners are not used).
                process_before_response=True,
                request_verification_enabled=not socket_mode,
                logger=logging.getLogger("adapters.slack.bolt"),
            )
            Listeners(hub, self.client(hub)).register(self._app)
        return self._app

    def channels(self, hub: Hub) -> list[Channel]:
        from adapters.slack.desk import SlackDesk

        return [SlackDesk(hub, self.client(hub))]

    def setup_web(self, hub: Hub, app: web.Application) -> None:
        if hub.settings.SLACK_APP_TOKEN:
            return  # Socket Mode: Slack's requests come over the socket `start` opens
        from adapters.slack.events_route import APP, PATH, slack_events

        app[APP] = self.app(hub)
        app.router.add_post(PATH, slack_events)

    def add_commands(self, commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
        from adapters.slack.manifest import add_commands

        add_commands(commands)

    async def start(self, hub: Hub) -> None:
        from slack_sdk.errors import SlackApiError

        from adapters.slack.client import AUTH_ERRORS, UNREACHABLE, error_code

        client = self.client(hub)
        try:
            identity = await client.auth_test()
            log.info("slack: signed in to workspace %s as %s", identity.get("team"), identity.get("user"))
        except SlackApiError as exc:
            if error_code(exc) in AUTH_ERRORS:
                raise UserError(f"SLACK_BOT_TOKEN: Slack refused it ({error_code(exc)})") from None
            log.warning(
                "slack: auth.test failed (%s); staff messages wait until Slack answers", error_code(exc)
            )
        except UNREACHABLE as exc:
            log.warning("slack: Slack could not be reached (%s); staff messages wait until it can", exc)
        if hub.settings.SLACK_APP_TOKEN:
            await self._open_socket(hub)

    async def _open_socket(self, hub: Hub) -> None:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        self._socket = AsyncSocketModeHandler(
            self.app(hub), hub.settings.SLACK_APP_TOKEN, web_client=self.client(hub)
        )
        await self._socket.connect_async()
        log.info("slack: Socket Mode connected")

    async def stop(self, hub: Hub) -> None:
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._client is not None and self._client.session is not None:
            await self._client.session.close()


plugin = SlackPlugin
