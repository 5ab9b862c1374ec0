"""A fake chat platform on 127.0.0.1 that refuses each message twice before it accepts it.

`POST /send {"address", "text", "id"}` is one try to deliver one message; `id` is the
sender's key for the message (tries of the same message share it). The first try of a
message is answered 500, the second 429 with `{"retry_after": 0}` and `Retry-After: 0`,
the third and later 200. Every try and every accepted delivery is recorded in arrival
order, with the `X-Sender` header that says which worker sent it, and is readable in
memory or over `GET /deliveries` and `GET /tries`.

`hold_senders` makes the platform keep one sender's requests waiting without an answer,
as a platform that hangs would: the worker is then stuck mid-send with rows claimed, and
a test can kill it there. A held request never counts as delivered: when it is released
(on `release()` or `close()`) it is answered 503, to a client that is usually gone.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Literal

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

Outcome = Literal["refused-500", "refused-429", "accepted", "held", "bad-request"]
REFUSALS: tuple[Outcome, ...] = ("refused-500", "refused-429")


@dataclass(frozen=True, slots=True)
class Try:
    key: str
    address: str
    text: str
    sender: str
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class Delivery:
    address: str
    text: str
    sender: str


@dataclass
class FlakyPlatform:
    hold_senders: set[str] = field(default_factory=set)
    tries: list[Try] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    url: str = ""
    _server: TestServer | None = None
    _refused: Counter[str] = field(default_factory=Counter)
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> FlakyPlatform:
        app = web.Application()
        app.router.add_post("/send", self._send)
        app.router.add_get("/deliveries", self._list_deliveries)
        app.router.add_get("/tries", self._list_tries)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        self.url = str(self._server.make_url("")).rstrip("/")
        return self

    def release(self) -> None:
        """Answer every held request (503) and hold no more."""
        self.hold_senders.clear()
        self._release.set()

    async def close(self) -> None:
        self.release()
        if self._server is not None:
            await self._server.close()

    def held(self, sender: str | None = None) -> list[Try]:
        return [t for t in self.tries if t.outcome == "held" and sender in (None, t.sender)]

    def delivered_by(self, sender: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.sender == sender]

    def outcomes(self, key: str) -> list[Outcome]:
        return [t.outcome for t in self.tries if t.key == key]

    async def _send(self, request: web.Request) -> web.StreamResponse:
        sender = request.headers.get("X-Sender", "")
        try:
            body = await request.json()
            address, text, key = str(body["address"]), str(body["text"]), str(body["id"])
        except (ValueError, KeyError, TypeError):
            self.tries.append(Try("", "", "", sender, "bad-request"))
            return web.json_response({"error": "address, text and id are required"}, status=400)
        if sender in self.hold_senders:
            self.tries.append(Try(key, address, text, sender, "held"))
            await self._release.wait()
            return web.json_response({"error": "timed out"}, status=503)
        refused = self._refused[key]
        if refused < len(REFUSALS):
            outcome = REFUSALS[refused]
            self._refused[key] += 1
            self.tries.append(Try(key, address, text, sender, outcome))
            if outcome == "refused-500":
                return web.json_response({"error": "internal error"}, status=500)
            return web.json_response(
                {"error": "too many requests", "retry_after": 0}, status=429, headers={"Retry-After": "0"}
            )
        self.tries.append(Try(key, address, text, sender, "accepted"))
        self.deliveries.append(Delivery(address, text, sender))
        return web.json_response({"ok": True})

    async def _list_deliveries(self, _request: web.Request) -> web.StreamResponse:
        return web.json_response([asdict(d) for d in self.deliveries])

    async def _list_tries(self, _request: web.Request) -> web.StreamResponse:
        return web.json_response([asdict(t) for t in self.tries])


@pytest.fixture
async def flaky_platform() -> AsyncIterator[FlakyPlatform]:
    platform = await FlakyPlatform().start()
    try:
        yield platform
    finally:
        await platform.close()
