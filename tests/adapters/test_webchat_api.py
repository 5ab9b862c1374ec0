"""The web chat's JSON API through real HTTP (aiohttp's test server), on each database."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from adapters.webchat.api import COOKIE
from bot.delivery.outbox import Later, enqueue
from bot.delivery.worker import OutboxWorker
from bot.hub import Hub
from bot.messages import Outgoing
from bot.models import TranscriptMessage, Turn
from bot.timeutil import utcnow
from bot.web.server import create_app


@pytest.fixture
async def client(hub: Hub) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(hub, deliver_outbox=False))) as client:
        yield client


async def new_session(client: TestClient) -> tuple[str, dict[str, str]]:
    response = await client.post("/api/chat/session", json={})
    assert response.status == 201
    token = (await response.json())["token"]
    return token, {"Authorization": f"Bearer {token}"}


async def rows(hub: Hub, model: type) -> int:
    async with hub.db.reading() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_new_session_is_greeted_and_gets_a_cookie(client: TestClient) -> None:
    response = await client.post("/api/chat/session", json={})
    body = await response.json()
    assert response.status == 201 and len(body["token"]) >= 40
    assert [m["from"] for m in body["messages"]] == ["bot"]  # the /start command is not shown
    assert "311" in body["messages"][0]["text"]
    cookie = response.headers["Set-Cookie"]
    assert COOKIE in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


async def test_a_question_is_answered_and_kept_in_history(client: TestClient) -> None:
    _, auth = await new_session(client)
    response = await client.post(
        "/api/chat/messages", headers=auth, json={"client_id": "c-1", "text": "when is 311 open?"}
    )
    assert response.status == 200
    messages = (await response.json())["messages"]
    assert [m["from"] for m in messages] == ["resident", "bot"]
    assert "24" in messages[1]["text"]
    history = (await (await client.get("/api/chat/history", headers=auth)).json())["messages"]
    assert [m["text"] for m in history][-2:] == [m["text"] for m in messages]
    assert [m["id"] for m in history] == sorted(m["id"] for m in history)


async def test_a_retried_message_is_answered_once(client: TestClient, hub: Hub) -> None:
    _, auth = await new_session(client)
    body = {"client_id": "same-id", "text": "when is 311 open?"}
    first = await (await client.post("/api/chat/messages", headers=auth, json=body)).json()
    again = await (await client.post("/api/chat/messages", headers=auth, json=body)).json()
    assert again["duplicate"] and again["messages"] == first["messages"]
    history = (await (await client.get("/api/chat/history", headers=auth)).json())["messages"]
    assert len(history) == 3  # greeting, question, answer: nothing doubled


async def test_sessions_are_separate(client: TestClient) -> None:
    _, a = await new_session(client)
    _, b = await new_session(client)
    await client.post("/api/chat/messages", headers=a, json={"client_id": "1", "text": "hello"})
    history_b = (await (await client.get("/api/chat/history", headers=b)).json())["messages"]
    assert len(history_b) == 1


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"{not json", 400, "not valid JSON"),
        (json.dumps({"client_id": "x", "text": "hi", "admin": True}).encode(), 422, "admin"),
        (json.dumps({"text": "hi"}).encode(), 422, "client_id"),
        (json.dumps({"client_id": "../../etc", "text": "hi"}).encode(), 422, "client_id"),
        (json.dumps({"client_id": "x", "text": "   \n "}).encode(), 422, "Type a message"),
        (json.dumps({"client_id": "x", "text": "hi", "choice": "a"}).encode(), 422, "exactly one"),
        (json.dumps({"client_id": "x", "text": "é" * 100_000}).encode(), 413, "too long"),
        (json.dumps({"client_id": "x", "location": {"lat": 123, "lon": 0}}).encode(), 422, "lat"),
        (json.dumps(["a list"]).encode(), 422, "body"),
    ],
)
async def test_bad_input_gets_a_clear_4xx_and_writes_nothing(
    client: TestClient, hub: Hub, body: bytes, status: int, says: str
) -> None:
    _, auth = await new_session(client)
    before = await rows(hub, TranscriptMessage), await rows(hub, Turn)
    response = await client.post(
        "/api/chat/messages", data=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status == status
    assert says in (await response.json())["error"]
    assert (await rows(hub, TranscriptMessage), await rows(hub, Turn)) == before


@pytest.mark.parametrize(
    "auth",
    [
        {},
        {"Authorization": "Bearer forged-token"},
        {"Authorization": "Bearer " + "x" * 5000},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
async def test_unknown_or_forged_tokens_are_refused(client: TestClient, auth: dict[str, str]) -> None:
    for method, path in (
        ("POST", "/api/chat/messages"),
        ("GET", "/api/chat/history"),
        ("GET", "/api/chat/events"),
    ):
        response = await client.request(method, path, headers=auth, json={"client_id": "x", "text": "hi"})
        assert response.status == 401, path
        assert "Start a new one" in (await response.json())["error"]


async def test_the_cookie_does_not_authorise_posting(client: TestClient) -> None:
    """Only the bearer header may post, so another site cannot post as the resident."""
    token, _ = await new_session(client)
    client.session.cookie_jar.update_cookies({COOKIE: token})
    response = await client.post("/api/chat/messages", json={"client_id": "x", "text": "hi"})
    assert response.status == 401


async def test_a_flood_from_one_session_is_slowed_down(hub: Hub) -> None:
    hub.settings.CHAT_RATE_LIMIT_PER_MINUTE = 3
    async with TestClient(TestServer(create_app(hub, deliver_outbox=False))) as client:
        _, auth = await new_session(client)
        statuses = []
        for n in range(5):
            response = await client.post(
                "/api/chat/messages", headers=auth, json={"client_id": f"f{n}", "text": "hello"}
            )
            statuses.append(response.status)
        assert statuses == [200, 200, 200, 429, 429]
        assert int(response.headers["Retry-After"]) >= 1
        assert "wait" in (await response.json())["error"]


async def test_messages_sent_later_arrive_on_the_live_stream(client: TestClient, hub: Hub) -> None:
    token, auth = await new_session(client)
    history = (await (await client.get("/api/chat/history", headers=auth)).json())["messages"]
    address = await _address(hub, token)
    async with hub.db.transaction() as s:
        enqueue(s, Later("webchat", address, Outgoing("Your report is **in progress**.")), utcnow())
    await OutboxWorker(hub.db, hub.channels).run_once()

    response = await client.get(f"/api/chat/events?after={history[-1]['id']}", headers=auth)
    assert response.headers["Content-Type"].startswith("text/event-stream")
    line = b""
    while not line.startswith(b"data:"):
        line = await asyncio.wait_for(response.content.readline(), timeout=10)
    event = json.loads(line[5:])
    assert event["text"] == "Your report is **in progress**." and event["from"] == "bot"
    response.close()


async def _address(hub: Hub, token: str) -> str:
    from bot.web import sessions

    address = await sessions.resolve(hub.db, token)
    assert address
    return address


async def test_the_page_is_self_contained(client: TestClient) -> None:
    response = await client.get("/")
    page = await response.text()
    assert response.status == 200 and "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing from other sites
    for asset in re.findall(r"""(?:src|href)=["'](/static/[^"']+)""", page):
        assert (await client.get(asset)).status == 200, asset


async def test_health_and_metrics(client: TestClient) -> None:
    health = await client.get("/healthz")
    assert health.status == 200 and (await health.json())["database"] == "ok"
    await new_session(client)
    metrics = await (await client.get("/metrics")).text()
    assert "civic311_turns_total" in metrics
