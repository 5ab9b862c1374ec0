"""Delivering outbox messages to Telegram chats.

Each message is one or more Bot API calls (a long text in pieces, then its photo),
paced to Telegram's limits. What Telegram answers becomes a DeliveryError the outbox
understands; a chat that blocked the bot stops its updates, and a group that became
a supergroup is followed to its new id. A message that fails half-way is sent again
whole on its retry: Telegram has no way to ask what already arrived.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from telegram import Bot, InputFile, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import ChatMigrated, Forbidden, RetryAfter, TelegramError

from adapters.telegram.client import delivery_error, redact, retry_after_s
from adapters.telegram.pacing import Pacer
from adapters.telegram.render import Piece, pieces
from bot.api import Capabilities, DeliveryError, Hub, Outgoing, metrics, recipients

log = logging.getLogger(__name__)

NAME = "telegram"
CAPABILITIES = Capabilities(buttons=True, photos=True, location_request=True, markdown=True, links=True)
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class BotHolder:
    """One Bot per process, initialised (getMe) at its first use rather than at start:
    `serve` then starts, and the web chat works, while Telegram cannot be reached."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._lock = asyncio.Lock()

    async def ready(self) -> Bot:
        async with self._lock:
            await self.bot.initialize()  # PTB does nothing if it already is
        return self.bot

    async def close(self) -> None:
        await self.bot.shutdown()


class TelegramChannel:
    name = NAME
    capabilities = CAPABILITIES

    def __init__(self, bots: BotHolder, hub: Hub, *, pacer: Pacer | None = None) -> None:
        self.bots = bots
        self.hub = hub
        self.pacer = pacer or Pacer()
        self.token = hub.settings.TELEGRAM_BOT_TOKEN

    async def send(self, address: str, message: Outgoing) -> None:
        try:
            bot = await self.bots.ready()
        except TelegramError as exc:
            raise delivery_error(exc, self.token) from None
        chat = address
        for piece in pieces(message):
            chat = await self._send_piece(bot, chat, piece)

    async def _send_piece(self, bot: Bot, chat: str, piece: Piece) -> str:
        """Send one piece; the chat it went to (a migrated group's new id)."""
        kind = "photo" if piece.photo else "text"
        for _ in range(2):  # once more after a group's migration
            await self.pacer.wait_turn(chat)
            try:
                await self._call(bot, chat, piece)
                metrics.PLATFORM_CALLS.labels(NAME, kind, "ok").inc()
                return chat
            except ChatMigrated as exc:
                new = str(exc.new_chat_id)
                log.info("telegram: a group became a supergroup; following it to its new id")
                await recipients.moved(self.hub.db, NAME, chat, new)
                chat = new
            except RetryAfter as exc:
                self.pacer.pause(retry_after_s(exc))
                metrics.PLATFORM_CALLS.labels(NAME, kind, "429").inc()
                raise delivery_error(exc, self.token) from None
            except Forbidden as exc:
                metrics.PLATFORM_CALLS.labels(NAME, kind, "403").inc()
                reason = redact(exc.message, self.token)
                await recipients.stopped(self.hub.db, NAME, chat, f"telegram: {reason}")
                raise delivery_error(exc, self.token) from None
            except TelegramError as exc:
                metrics.PLATFORM_CALLS.labels(NAME, kind, "error").inc()
                raise delivery_error(exc, self.token) from None
        raise DeliveryError("the group moved twice while sending", retry_after=5.0)

    async def _call(self, bot: Bot, chat: str, piece: Piece) -> Message:
        if piece.photo is not None:
            return await bot.send_photo(chat, self._photo(piece.photo))
        return await bot.send_message(
            chat,
            piece.html,
            parse_mode=ParseMode.HTML,
            reply_markup=piece.markup,
            link_preview_options=NO_PREVIEW,
        )

    def _photo(self, url: str) -> InputFile | str:
        """Our own photos are uploaded from MEDIA_DIR (Telegram cannot fetch a server that
        is not public, and need not); any other URL is Telegram's to fetch."""
        media = self.hub.services.media
        prefix = f"{self.hub.settings.PUBLIC_URL}/media/"
        if media is not None and url.startswith(prefix):
            path = media.path(url[len(prefix) :])
            if path is None:
                raise DeliveryError("the photo is no longer stored", permanent=True)
            return InputFile(Path(path).read_bytes(), filename=path.name)
        return url
