"""The city's bot on a fake Telegram: the real hub and `serve` application in this process,
python-telegram-bot talking HTTP to the fake Bot API of tests/fakes, and the fake calling
our webhook as Telegram would. `Chat` is one resident's Telegram chat."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from bot.hub import Hub
from bot.models import OUTBOX_WAITING_STATUSES, OutboxMessage
from bot.settings import Settings, load_settings
from bot.web.server import create_app
from tests.fakes.telegram_api import FakeTelegram, telegram_api
from tests.hubs import prepared_hub
from tests.servers import free_port

TOKEN = "123456789:AAE" + "t3st" * 8
SECRET = "webhook-s3cret"


@dataclass
class City:
    fake: FakeTelegram
    hub: Hub
    url: str

    async def drained(self, within_s: float = 20.0) -> None:
        """Wait until the outbox holds nothing waiting (what the bot said has been sent)."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            async with self.hub.db.reading() as s:
                waiting = await s.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status.in_(OUTBOX_WAITING_STATUSES))
                )
            if not waiting:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the outbox still has {waiting} messages waiting after {within_s} s")

    def chat(self, user_id: int = 7001, name: str = "Ana") -> Chat:
        user = self.fake.updates.user(user_id, name, username=f"{name.lower()}_{user_id}")
        return Chat(self, user, self.fake.updates.private_chat(user))


@dataclass
class Chat:
    city: City
    user: dict[str, Any]
    chat: dict[str, Any]
    seen: int = 0
    statuses: list[int] = field(default_factory=list)

    @property
    def id(self) -> int:
        return int(self.chat["id"])

    async def send(self, update: dict[str, Any]) -> list[dict[str, Any]]:
        """Deliver the update to our webhook as Telegram does; the bot's new messages."""
        status, body = await self.city.fake.post_webhook(update)
        self.statuses.append(status)
        assert status == 200, f"webhook answered {status}: {body}"
        await self.city.drained()
        return self.new()

    def new(self) -> list[dict[str, Any]]:
        messages = self.city.fake.messages(self.id)
        mine = [m for m in messages if m.get("from", {}).get("is_bot")]
        fresh = mine[self.seen :]
        self.seen = len(mine)
        return fresh

    async def say(self, text: str) -> list[dict[str, Any]]:
        return await self.send(self.city.fake.updates.message(text, user=self.user, chat=self.chat))

    async def tap(self, label_start: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for message in reversed(messages):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if button["text"].lower().startswith(label_start.lower()) and "callback_data" in button:
                        tap = self.city.fake.updates.callback(
                            message, button["callback_data"], user=self.user
                        )
                        return await self.send(tap)
        raise AssertionError(f"no button {label_start!r} in {[texts(m) for m in messages]}")


def texts(message: dict[str, Any]) -> str:
    return str(message.get("text") or message.get("caption") or "")


def said(messages: list[dict[str, Any]]) -> str:
    return "\n\n".join(texts(m) for m in messages)


def telegram_settings(
    database_url: str, folder: Path, fake: FakeTelegram, port: int, **extra: Any
) -> Settings:
    return load_settings(
        DATABASE_URL=database_url,
        MEDIA_DIR=folder / "media",
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        TELEGRAM_BOT_TOKEN=fake.token,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        TELEGRAM_MODE="webhook",
        TELEGRAM_API_BASE_URL=fake.base_url,
        TELEGRAM_FILE_BASE_URL=fake.base_file_url,
        _env_file=None,
        **extra,
    )


@asynccontextmanager
async def telegram_city(database_url: str, folder: Path, **extra: Any) -> AsyncIterator[City]:
    async with telegram_api(token=TOKEN) as fake:
        port = free_port()
        settings = telegram_settings(database_url, folder, fake, port, **extra)
        async with prepared_hub(settings) as hub:
            await hub.start()
            runner = web.AppRunner(create_app(hub, sweep_media=False))
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            try:
                city = City(fake, hub, f"http://127.0.0.1:{port}")
                for _ in range(200):  # serve registers its webhook at start
                    if fake.webhook is not None and fake.commands():
                        break
                    await asyncio.sleep(0.05)
                yield city
            finally:
                await runner.cleanup()
