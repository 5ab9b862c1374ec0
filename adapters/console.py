"""`civic311 chat`: the bot in a terminal, with the same engine and database.

Interactive with a prompt on a terminal; with piped input it reads one
message a line and prints the replies, so conversations can be scripted.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import uuid

from bot.api import (
    AdapterPlugin,
    Capabilities,
    Channel,
    Hub,
    Incoming,
    Settings,
    TranscriptChannel,
    TranscriptEntry,
    degrade,
    latest_messages,
    messages_after,
    open_hub,
)

NAME = "console"
CAPABILITIES = Capabilities()  # plain text: numbered choices


class ConsolePlugin(AdapterPlugin):
    name = NAME

    def channels(self, hub: Hub) -> list[Channel]:
        return [TranscriptChannel(NAME, hub.db, CAPABILITIES)]

    def add_commands(self, commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
        chat = commands.add_parser("chat", help="talk to the bot in the terminal")
        chat.add_argument(
            "--as",
            dest="who",
            default=None,
            help="conversation name (default: your user name); the conversation is kept between runs",
        )
        chat.set_defaults(handler=run_chat)


plugin = ConsolePlugin


def unseen_updates(stored: list[TranscriptEntry]) -> list[TranscriptEntry]:
    """Messages delivered after the resident last wrote (status updates between two runs):
    the terminal shows them only when the resident next types, so they were never seen."""
    last_said = max((m.id for m in stored if m.direction == "in"), default=0)
    return [m for m in stored if m.id > last_said and m.direction == "out" and m.payload.get("later")]


def _print_replies(texts: list[str]) -> None:
    for text in texts:
        print(f"311> {text}\n".replace("\n", "\n     ").rstrip(" "), flush=True)


async def run_chat(args: argparse.Namespace, settings: Settings) -> int:

    hub: Hub = await open_hub(settings)
    address = f"{args.who or getpass.getuser()}"
    interactive = sys.stdin.isatty()
    stored = await latest_messages(hub.db, NAME, address)
    seen = max((m.id for m in stored), default=0)
    if interactive:
        print(f"civic311 chat: {settings.CITY_NAME} 311. Type a message; Ctrl+D to leave.\n")
    away = unseen_updates(stored)
    if away:
        print("While you were away:", flush=True)
        _print_replies([str(m.payload.get("text", "")) for m in away])
    try:
        while True:
            line = await asyncio.to_thread(_read_line, interactive)
            if line is None:
                break
            if not line.strip():
                continue
            # Anything delivered later (status updates, staff replies) shows first.
            later = [m for m in await messages_after(hub.db, NAME, address, seen) if m.direction == "out"]
            _print_replies([str(m.payload.get("text", "")) for m in later])
            result = await hub.engine.handle(
                Incoming(
                    channel=NAME,
                    conversation=address,
                    message_id=uuid.uuid4().hex,
                    sender=address,
                    text=line.rstrip("\n"),
                )
            )
            _print_replies([degrade(r, CAPABILITIES).text for r in result.replies])
            seen = max([seen, *(t.id for t in result.transcript)])
    finally:
        await hub.close()
    return 0


def _read_line(interactive: bool) -> str | None:
    try:
        return input("you> ") if interactive else (sys.stdin.readline() or None)
    except EOFError:
        return None
