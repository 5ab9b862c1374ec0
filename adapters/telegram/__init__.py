"""Telegram: residents talk to the city's bot in the app they already use.

python-telegram-bot is used as a library inside `serve`: updates arrive at
`POST /telegram/webhook` (or by long polling in one process at a time), turns run
through the engine like any channel's, and everything the bot says goes out through
the outbox. TELEGRAM_BOT_TOKEN turns it on. Nothing of python-telegram-bot is imported
until it is on: every `serve` and command loads this plugin.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.api import AdapterPlugin, Channel, Hub, PollerLease, in_background

if TYPE_CHECKING:
    from adapters.telegram.channel import BotHolder
    from adapters.telegram.updates import UpdateHandler

NAME = "telegram"

# PTB 22 warns on every 429 until this opts in to its coming timedelta form; our code reads
# both forms (client.retry_after_s).
os.environ.setdefault("PTB_TIMEDELTA", "true")


class TelegramPlugin(AdapterPlugin):
    name = NAME

    def __init__(self) -> None:
        self._bots: BotHolder | None = None

    def enabled(self, hub: Hub) -> bool:
        return bool(hub.settings.TELEGRAM_BOT_TOKEN)

    def bots(self, hub: Hub) -> BotHolder:
        from adapters.telegram.channel import BotHolder
        from adapters.telegram.client import make_bot

        if self._bots is None:
            self._bots = BotHolder(make_bot(hub.settings))
        return self._bots

    def channels(self, hub: Hub) -> list[Channel]:
        from adapters.telegram.channel import TelegramChannel

        return [TelegramChannel(self.bots(hub), hub)]

    def setup_web(self, hub: Hub, app: web.Application) -> None:
        from adapters.telegram import setup
        from adapters.telegram.updates import UpdateHandler
        from adapters.telegram.webhook import HANDLER, PATH, SECRET, webhook

        handler = UpdateHandler(hub, self.bots(hub))
        app[HANDLER] = handler
        if hub.settings.telegram_mode == "webhook":
            app[SECRET] = hub.settings.TELEGRAM_WEBHOOK_SECRET or ""
            app.router.add_post(PATH, webhook)
            app.cleanup_ctx.append(setup.registering(handler.bots.bot, hub.settings))
        else:
            app.cleanup_ctx.append(_polling(handler, hub))

    def add_commands(self, commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
        from adapters.telegram.commands import add_commands

        add_commands(commands)

    async def start(self, hub: Hub) -> None:
        from adapters.telegram.client import install_token_filter

        install_token_filter(hub.settings.TELEGRAM_BOT_TOKEN or "")

    async def stop(self, hub: Hub) -> None:
        if self._bots is not None:
            await self._bots.close()


def _polling(handler: UpdateHandler, hub: Hub) -> Callable[[web.Application], Any]:
    from adapters.telegram.polling import Poller

    token = hub.settings.TELEGRAM_BOT_TOKEN or ""
    lease = PollerLease(hub.db, f"{NAME}:{token.partition(':')[0]}")  # the bot's id, not its secret
    return in_background("telegram-polling", Poller(handler, lease).run)


plugin = TelegramPlugin
