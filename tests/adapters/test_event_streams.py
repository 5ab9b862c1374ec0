"""Hundreds of open chat pages cost one poll per process, not one query per page (issue 10, item 2)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import event, func, select

from bot.delivery.feed import TranscriptFeed
from bot.delivery.outbox import Later, enqueue
from bot.delivery.transcript import TranscriptChannel
from bot.delivery.worker import OutboxWorker
from bot.hub import Hub
from bot.messages import Capabilities, Outgoing
from bot.models import Conversation, TranscriptMessage
from bot.timeutil import utcnow
from bot.web import sessions
from bot.web.server import create_app

PAGES = 300


@pytest.fixture
async def server(hub: Hub) -> AsyncIterator[TestServer]:
    server = TestServer(create_app(hub, deliver_outbox=False))
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@contextmanager
def counting_statements(hub: Hub) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(hub.db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(hub.db.engine.sync_engine, "before_cursor_execute", record)


async def chat(http: aiohttp.ClientSession, base: str) -> tuple[str, int]:
    """A resident's session, greeted: (token, id of the last message shown)."""
    async with http.post(f"{base}/api/chat/session", json={}) as response:
        assert response.status == 201
        body = await response.json()
    return body["token"], body["messages"][-1]["id"]


async def address_of(hub: Hub, token: str) -> str:
    address = await sessions.resolve(hub.db, token)
    assert address is not None
    return address


async def open_stream(
    http: aiohttp.ClientSession, base: str, token: str, after: int
) -> aiohttp.ClientResponse:
    response = await http.get(
        f"{base}/api/chat/events?after={after}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200
    return response


async def next_event(response: aiohttp.ClientResponse) -> dict[str, object]:
    line = b""
    while not line.startswith(b"data:"):
        line = await asyncio.wait_for(response.content.readline(), timeout=15)
    loaded: dict[str, object] = json.loads(line[5:])
    return loaded


async def until(condition: object, what: str) -> None:
    for _ in range(600):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_hundreds_of_idle_pages_cost_one_poll_per_second(hub: Hub, server: TestServer) -> None:
    base = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        token, last = await chat(http, base)
        others = [(await sessions.create(hub.db))[0] for _ in range(PAGES - 1)]
        streams = [await open_stream(http, base, token, last)]
        streams += await asyncio.gather(*(open_stream(http, base, t, 0) for t in others))
        await until(lambda: hub.feed.watching == PAGES, f"{PAGES} pages watching")
        await asyncio.sleep(0.5)  # each page's first read is done

        polls_before = hub.feed.polls
        with counting_statements(hub) as statements:
            await asyncio.sleep(3)
        # A page that polled on its own would make about 3 x 300 = 900 here.
        polls = hub.feed.polls - polls_before
        assert 1 <= polls <= 5, polls
        assert len(statements) <= 3 * polls, statements

        # A status update for the first resident reaches that page, and only that page reads.
        async with hub.db.transaction() as s:
            enqueue(
                s, Later("webchat", await address_of(hub, token), Outgoing("Now **in progress**.")), utcnow()
            )
        with counting_statements(hub) as statements:
            await OutboxWorker(hub.db, hub.channels).run_once()
            assert (await next_event(streams[0]))["text"] == "Now **in progress**."
            await asyncio.sleep(0.3)
        reads = [s for s in statements if "FROM transcript JOIN conversations" in s and "GROUP BY" not in s]
        assert len(reads) <= 2, reads  # the woken page's read (and one more if it raced the write)
        for stream in streams:
            stream.close()
    await until(lambda: hub.feed.watching == 0, "pages closed")


async def test_a_message_written_by_another_process_arrives_within_a_poll(
    hub: Hub, server: TestServer
) -> None:
    base = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        token, last = await chat(http, base)
        stream = await open_stream(http, base, token, last)
        await until(lambda: hub.feed.watching == 1, "page watching")
        # Another process's channel: nothing here is told of the write, so only the poll sees it.
        elsewhere = TranscriptChannel("webchat", hub.db, Capabilities())
        await elsewhere.send(await address_of(hub, token), Outgoing("Closed: fixed."))
        assert (await next_event(stream))["text"] == "Closed: fixed."
        stream.close()


async def test_a_late_commit_below_the_newest_id_still_wakes_its_page(hub: Hub) -> None:
    """PostgreSQL hands out ids before commit, so id n+1 may become visible after n+2."""
    async with hub.db.transaction() as s:
        early = Conversation(channel="webchat", address="w-early", state={})
        late = Conversation(channel="webchat", address="w-late", state={})
        s.add_all([early, late])
        await s.flush()
        newest = int(await s.scalar(select(func.max(TranscriptMessage.id))) or 0)
        ids = (early.id, late.id)

    async def write(message_id: int, conversation_id: int) -> None:
        async with hub.db.transaction() as s:
            s.add(
                TranscriptMessage(id=message_id, conversation_id=conversation_id, direction="out", payload={})
            )

    now = [0.0]
    feed = TranscriptFeed(hub.db, clock=lambda: now[0])
    with feed.watch("webchat", "w-late") as woken:
        await feed.poll()  # the first mark, below the newest id
        now[0] = 10
        await feed.poll()
        await write(newest + 2, ids[0])
        now[0] = 20
        await feed.poll()  # sees n+2 (another conversation)
        woken.clear()
        await write(newest + 1, ids[1])  # committed after the higher id was seen
        now[0] = 21
        await feed.poll()
        assert woken.is_set()
        woken.clear()
        now[0] = 22
        await feed.poll()  # seen already: not woken again for the same message
        assert not woken.is_set()
        now[0] = 40
        await feed.poll()
        assert not woken.is_set()


async def test_an_idle_page_reads_nothing_at_its_heartbeats(
    hub: Hub, server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapters.webchat import api

    monkeypatch.setattr(api, "HEARTBEAT_S", 0.3)
    monkeypatch.setattr(api, "GONE_CHECK_S", 0.1)
    base = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        token, last = await chat(http, base)
        stream = await open_stream(http, base, token, last)
        # Settled first: the feed's first two polls after the page opens wake it, once each
        # (the first wakes every new page; the next finds the greeting, newer than nothing).
        polls = hub.feed.polls
        while hub.feed.polls < polls + 3:
            await asyncio.wait_for(stream.content.readline(), timeout=15)
        beats = 0
        with counting_statements(hub) as statements:
            while beats < 4:  # each heartbeat is a comment line; nothing is read for it
                line = await asyncio.wait_for(stream.content.readline(), timeout=15)
                beats += line.startswith(b": keep-alive")
        stream.close()
    # The process's feed polls (one GROUP BY a second, for all pages); the page reads nothing.
    reads = [s for s in statements if "transcript.payload" in s]
    assert beats == 4 and reads == [], reads


async def test_a_closed_page_frees_its_slot_without_waiting_for_a_heartbeat(
    server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapters.webchat import api

    monkeypatch.setattr(api, "HEARTBEAT_S", 3600.0)  # no heartbeat would ever notice
    base = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as first, aiohttp.ClientSession() as second:
        token, last = await chat(first, base)
        for _ in range(api.MAX_STREAMS_PER_SESSION):
            (await open_stream(first, base, token, last)).close()
        await first.close()  # the page reloaded: its connections are gone
        status = 0
        for _ in range(100):  # a bounded wait, of seconds at most
            async with second.get(
                f"{base}/api/chat/events?after={last}", headers={"Authorization": f"Bearer {token}"}
            ) as response:
                status = response.status
                if status == 200:
                    break
            await asyncio.sleep(0.2)
        assert status == 200
