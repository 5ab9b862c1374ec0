"""The city with staff in a fake Slack: the real hub and `serve` application in this
process, slack_sdk and slack-bolt talking HTTP to the fake workspace of tests/fakes, the
fake sending signed requests to our `POST /slack/events`, and residents in the web chat."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import func, select

from bot.hub import Hub
from bot.models import OUTBOX_WAITING_STATUSES, OutboxMessage
from bot.settings import Settings, load_settings
from bot.web.server import create_app
from tests.fakes.slack_workspace import FakeSlack, Message, slack_workspace
from tests.hubs import prepared_hub
from tests.servers import free_port

STAFF = "C0STAFF"
ROADS = "C0ROADS"  # Public Works' own channel in these tests
_ids = itertools.count()


@dataclass
class City:
    slack: FakeSlack
    hub: Hub
    url: str

    @property
    def events_url(self) -> str:
        return f"{self.url}/slack/events"

    async def drained(self, within_s: float = 30.0) -> None:
        """Until the outbox holds nothing waiting: what was to be sent has been."""
        deadline = time.monotonic() + within_s
        waiting = 0
        while time.monotonic() < deadline:
            async with self.hub.db.reading() as s:
                waiting = (
                    await s.scalar(
                        select(func.count())
                        .select_from(OutboxMessage)
                        .where(OutboxMessage.status.in_(OUTBOX_WAITING_STATUSES))
                    )
                    or 0
                )
            if not waiting:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the outbox still has {waiting} messages waiting after {within_s} s")

    async def report_message(self, channel: str, number: str) -> Message:
        """The report's message in a channel, once the desk posted it."""
        return await self.slack.wait_for(  # type: ignore[no-any-return]
            lambda: next((m for m in self.slack.messages(channel) if number in m.text), None)
        )

    async def press(self, message: Message, label: str, *, user: str = "U0JANE") -> None:
        status, body = await self.slack.press(self.events_url, message, label, user=user)
        assert status == 200, f"{label}: {status} {body}"
        await self.drained()

    async def submit(self, values: dict[str, Any], *, user: str = "U0JANE") -> tuple[int, str]:
        answer = await self.slack.submit(self.events_url, values, user=user)
        await self.drained()
        return answer

    def resident(self) -> Resident:
        return Resident(self)


@dataclass
class Resident:
    """A resident in the web chat."""

    city: City
    token: str = ""
    seen: int = 0

    async def _http(self, method: str, path: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, f"{self.city.url}{path}", headers=headers, **kw) as r,
        ):
            assert r.status in (200, 201), await r.text()
            return await r.json()

    async def say(self, text: str) -> list[str]:
        """The bot's replies to this message (not what arrives later)."""
        if not self.token:
            self.token = (await self._http("POST", "/api/chat/session", json={}))["token"]
        answer = await self._http(
            "POST", "/api/chat/messages", json={"client_id": f"c{next(_ids)}", "text": text}
        )
        await self.city.drained()
        return [m["text"] for m in answer["messages"] if m["from"] == "bot"]

    async def history(self) -> list[dict[str, Any]]:
        return list((await self._http("GET", "/api/chat/history"))["messages"])

    async def later(self) -> list[str]:
        """What the bot (or staff, through it) sent since the last look, beyond replies."""
        await self.city.drained()
        messages = [m for m in await self.history() if m["from"] == "bot"]
        fresh = [m["text"] for m in messages[self.seen :]]
        self.seen = len(messages)
        return fresh

    async def file_pothole(self, place: str = "5th and Market") -> str:
        """File a pothole report through the chat, answering what the bot asks; its number."""
        said = await self.say(f"there's a huge pothole on {place}, my tire blew")
        for _ in range(12):
            last = said[-1].lower()
            if "report number" in last:
                break
            if "please check your report" in last:
                answer = "send report"
            elif "photo" in last:
                answer = "skip"
            elif "where" in last or "address" in last:
                answer = place
            else:
                answer = "1"
            said = await self.say(answer)
        await self.later()
        words = [w.strip("*.,:") for w in said[-1].split()]
        found = [w for w in words if w.isdigit() and len(w) == 5]
        assert found, f"no report number in {said}"
        return found[0]


def slack_settings(database_url: str, folder: Path, slack: FakeSlack, port: int, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "MEDIA_DIR": folder / "media",
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "SLACK_STAFF_CHANNEL": STAFF,
        "STAFF_HOURS": "24/7",
        **extra,
    }
    return load_settings(_env_file=None, **values)


@asynccontextmanager
async def slack_city(database_url: str, folder: Path, **extra: Any) -> AsyncIterator[City]:
    async with slack_workspace() as slack:
        slack.add_channel(STAFF, "311-staff")
        slack.add_channel(ROADS, "public-works")
        port = free_port()
        settings = slack_settings(database_url, folder, slack, port, **extra)
        async with prepared_hub(settings) as hub:
            await hub.start()
            runner = web.AppRunner(create_app(hub, sweep_media=False))
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            try:
                yield City(slack, hub, f"http://127.0.0.1:{port}")
            finally:
                await runner.cleanup()
