"""Telling Telegram where we are: the webhook, the commands menu, and the CLI for both.

In webhook mode `serve` registers its own URL at start, with the secret and the kinds of
update it wants; until Telegram can be reached it keeps trying, and the web chat works
meanwhile. `civic311 telegram set-webhook | delete-webhook | info` do the same by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

from aiohttp import web
from telegram import Bot, BotCommand
from telegram.error import InvalidToken, TelegramError

from adapters.telegram.client import ALLOWED_UPDATES, make_bot, redact
from adapters.telegram.webhook import PATH
from bot.api import Settings, UserError, first_of, in_background

log = logging.getLogger(__name__)

COMMANDS = (
    BotCommand("start", "Start again"),
    BotCommand("help", "What I can do"),
    BotCommand("status", "A report's status: /status 10234"),
    BotCommand("myreports", "The reports you filed or follow"),
    BotCommand("cancel", "Stop what we are doing"),
)
FIRST_RETRY_S = 5.0
MAX_RETRY_S = 300.0


def webhook_url(settings: Settings) -> str:
    return f"{settings.PUBLIC_URL}{PATH}"


async def register(
    bot: Bot, settings: Settings, *, url: str | None = None, drop_pending: bool = False
) -> None:
    await bot.set_webhook(
        url or webhook_url(settings),
        secret_token=settings.TELEGRAM_WEBHOOK_SECRET,
        allowed_updates=list(ALLOWED_UPDATES),
        drop_pending_updates=drop_pending,
    )
    await bot.set_my_commands(list(COMMANDS))


async def keep_registering(bot: Bot, settings: Settings, stop: asyncio.Event) -> None:
    """Register once Telegram can be reached, waiting longer after each failure."""
    wait = FIRST_RETRY_S
    while not stop.is_set():
        try:
            await register(bot, settings)
            log.info("telegram: webhook set to %s", webhook_url(settings))
            return
        except TelegramError as exc:
            log.warning(
                "telegram: cannot set the webhook yet (%s); trying again in %.0f s",
                redact(exc.message, settings.TELEGRAM_BOT_TOKEN),
                wait,
            )
        await first_of(stop, within_s=wait)
        wait = min(MAX_RETRY_S, wait * 2)


def registering(bot: Bot, settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    return in_background("telegram-webhook", partial(keep_registering, bot, settings))


@asynccontextmanager
async def _telegram(settings: Settings, refused: str = "Telegram") -> AsyncIterator[Bot]:
    """The bot for one command; whatever Telegram refuses is one line, the token hidden."""
    if not settings.TELEGRAM_BOT_TOKEN:
        raise UserError("TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and set its token")
    bot = make_bot(settings)
    try:
        await bot.initialize()
        yield bot
    except InvalidToken:
        raise UserError(
            "Telegram refused the bot token (TELEGRAM_BOT_TOKEN): check it with @BotFather"
        ) from None
    except TelegramError as exc:
        raise UserError(f"{refused}: {redact(exc.message, settings.TELEGRAM_BOT_TOKEN)}") from None
    finally:
        await bot.shutdown()


async def set_webhook(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.TELEGRAM_WEBHOOK_SECRET:
        raise UserError("TELEGRAM_WEBHOOK_SECRET is not set: a webhook without it would take anyone's posts")
    url = args.url or webhook_url(settings)
    if not url.startswith("https://"):
        raise UserError(f"Telegram delivers only to https URLs, not {url} (set PUBLIC_URL, or use polling)")
    async with _telegram(settings, "Telegram refused the webhook") as bot:
        await register(bot, settings, url=url, drop_pending=args.drop_pending)
    print(f"webhook set: {url}")
    return 0


async def delete_webhook(args: argparse.Namespace, settings: Settings) -> int:
    async with _telegram(settings) as bot:
        await bot.delete_webhook(drop_pending_updates=args.drop_pending)
    print("webhook deleted: updates wait for polling (serve with TELEGRAM_MODE=polling)")
    return 0


async def info(args: argparse.Namespace, settings: Settings) -> int:
    async with _telegram(settings) as bot:
        hook = await bot.get_webhook_info()
    print(f"bot: @{bot.username} (id {bot.id})")
    print(f"mode here: {settings.telegram_mode}")
    print(f"webhook: {hook.url or 'none (updates wait for polling)'}")
    print(f"pending updates: {hook.pending_update_count}")
    if hook.last_error_message:
        print(f"last error: {hook.last_error_message}")
    return 0
