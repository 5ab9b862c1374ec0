"""The city with staff in a fake Slack: the real hub and `serve` application in this
process, slack_sdk and slack-bolt talking HTTP to the fake workspace of tests/fakes, the
fake sending signed requests to our `POST /slack/events`, and residents in the web chat."""

from __future__ import annotations

import asyncio
import contextlib
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
from tests.fakes.slack_api import FakeSlack, Reply
from tests.hubs import prepared_hub
from tests.servers import free_port

STAFF = "C0STAFF"
SLACK_BOT_TOKEN = "xoxb-1-fake-bot-token"
SLACK_SIGNING_SECRET = "fake-signing-secret-0123456789"
# Slack's own limits are 3 s for an answer and for a modal's trigger; the shared test
# machines can be slower than that, so the fake waits longer (the code does not rely on it).
SLOW_MACHINE_S = 10.0
ROADS = "C0ROADS"  # Public Works' own channel in these tests
_ids = itertools.count()


@dataclass
class Posted:
    """A message in the fake workspace, read afresh at each look."""

    slack: FakeSlack
    channel: str
    ts: str

    @property
    def data(self) -> dict[str, Any]:
        found = self.slack.message(self.channel, self.ts)
        assert found is not None, f"message {self.ts} is gone from {self.channel}"
        return found

    @property
    def text(self) -> str:
        return str(self.data.get("text") or "")

    @property
    def edits(self) -> list[dict[str, Any]]:
        return list(self.data.get("edits") or [])

    def buttons(self) -> list[dict[str, Any]]:
        return [
            dict(e, block_id=b.get("block_id"))
            for b in self.data.get("blocks") or []
            if b.get("type") == "actions"
            for e in b.get("elements", [])
        ]

    def button(self, label: str) -> dict[str, Any]:
        for found in self.buttons():
            if found["text"]["text"] == label:
                return found
        raise AssertionError(
            f"no button {label!r} on {self.text!r}: {[b['text']['text'] for b in self.buttons()]}"
        )

    def words(self) -> str:
        """All the text staff see in it, its blocks' included."""
        found: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if isinstance(node.get("text"), str):
                    found.append(node["text"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk({"text": self.data.get("text"), "blocks": self.data.get("blocks")})
        return "\n".join(found)


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

    def messages(self, channel: str) -> list[Posted]:
        """The channel's messages, not their thread replies."""
        return [
            Posted(self.slack, channel, m["ts"])
            for m in self.slack.messages(channel)
            if m.get("thread_ts") in (None, m["ts"])
        ]

    def message(self, channel: str, ts: str) -> Posted:
        return Posted(self.slack, channel, ts)

    def thread(self, channel: str, ts: str) -> list[Posted]:
        """The replies in a message's thread, oldest first."""
        return [Posted(self.slack, channel, m["ts"]) for m in self.slack.thread(channel, ts) if m["ts"] != ts]

    async def find(self, channel: str, words: str) -> Posted:
        """The first message of the channel with these words, once it is there."""
        return await self.slack.wait_for(
            lambda: next((m for m in self.messages(channel) if words in m.text), None), timeout=30
        )

    async def in_thread(self, channel: str, ts: str, words: str) -> Posted:
        return await self.slack.wait_for(
            lambda: next((m for m in self.thread(channel, ts) if words in m.words()), None), timeout=30
        )

    async def report_message(self, channel: str, number: str) -> Posted:
        """The report's message in a channel, once the desk posted it."""
        return await self.find(channel, f"report {number}")

    async def press_as(self, message: Posted, label: str, user: str) -> Reply:
        found = message.button(label)
        return await self.slack.press_button(
            self.events_url,
            channel=message.channel,
            message_ts=message.ts,
            action_id=found["action_id"],
            value=found.get("value"),
            block_id=found.get("block_id"),
            user=user,
        )

    async def press(self, message: Posted, label: str, *, user: str = "U0JANE") -> None:
        reply = await self.press_as(message, label, user)
        assert reply.status == 200, f"{label}: {reply.status} {reply.body}"
        await self.drained()

    async def submit(self, inputs: dict[str, Any], *, user: str = "U0JANE") -> Reply:
        """Submit the modal the app opened last, `inputs` by block id (text, or an option's value)."""
        reply = await self.slack.submit_last_view(self.events_url, user=user, inputs=inputs)
        await self.drained()
        return reply

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
    async with slack_cities(database_url, folder, 1, **extra) as cities:
        yield cities[0]


@asynccontextmanager
async def slack_cities(
    database_url: str, folder: Path, count: int, **extra: Any
) -> AsyncIterator[list[City]]:
    """`count` serve applications (each its own hub, pool and outbox worker, as separate
    processes have) on one database and one Slack workspace."""
    slack = FakeSlack(
        SLACK_BOT_TOKEN,
        SLACK_SIGNING_SECRET,
        "xapp-1-fake-app-token",
        trigger_ttl=SLOW_MACHINE_S,
        ack_timeout=SLOW_MACHINE_S,
    )
    async with slack, contextlib.AsyncExitStack() as stack:
        slack.add_user("U0JANE", "jane", "Jane Doe")
        slack.add_channel(STAFF, "311-staff")
        slack.add_channel(ROADS, "public-works")
        cities = []
        for n in range(count):
            port = free_port()
            settings = slack_settings(database_url, folder / f"p{n}", slack, port, **extra)
            hub = await stack.enter_async_context(prepared_hub(settings))
            await hub.start()
            runner = web.AppRunner(create_app(hub, sweep_media=False))
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            await web.TCPSite(runner, "127.0.0.1", port).start()
            cities.append(City(slack, hub, f"http://127.0.0.1:{port}"))
        yield cities
