"""`civic311 telegram set-webhook | delete-webhook | info`: the command line words only.

The handlers import python-telegram-bot when they run, so building the command line of
every other command does not load it (15 MB and over a second, for nothing).
"""

from __future__ import annotations

import argparse

from bot.api import Settings


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    telegram = commands.add_parser("telegram", help="the Telegram bot's webhook, by hand")
    actions = telegram.add_subparsers(dest="telegram_command", metavar="ACTION")
    set_hook = actions.add_parser("set-webhook", help="point Telegram at PUBLIC_URL/telegram/webhook")
    set_hook.add_argument("--url", help="another URL than PUBLIC_URL/telegram/webhook")
    set_hook.add_argument("--drop-pending", action="store_true", help="discard updates Telegram holds")
    set_hook.set_defaults(handler=set_webhook)
    delete = actions.add_parser("delete-webhook", help="stop webhook delivery (for polling)")
    delete.add_argument("--drop-pending", action="store_true", help="discard updates Telegram holds")
    delete.set_defaults(handler=delete_webhook)
    actions.add_parser("info", help="the bot and its webhook, as Telegram sees them").set_defaults(
        handler=info
    )


async def set_webhook(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.telegram import setup

    return await setup.set_webhook(args, settings)


async def delete_webhook(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.telegram import setup

    return await setup.delete_webhook(args, settings)


async def info(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.telegram import setup

    return await setup.info(args, settings)
