"""The database failing in the middle of turns (issue 10, item 3).

Residents keep chatting while the database drops their connections (PostgreSQL: every
backend of the database terminated, again and again) or another program holds the write
lock past the busy timeout (SQLite). Whatever happens, no answer is a 500: a turn is
answered, or refused with a JSON 503 and Retry-After that the page retries with the same
message id; and every message is in the history exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot import metrics
from bot.hub import Hub
from bot.settings import Settings
from bot.web.server import create_app
from tests.hubs import prepared_hub

RESIDENTS = 4
MESSAGES = 6
QUESTIONS = ["when is 311 open?", "how do I pay a parking ticket", "what day is trash pickup", "hello"]


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[tuple[Hub, str]]:
    async with prepared_hub(settings.model_copy(update={"SQLITE_BUSY_TIMEOUT_S": 0.2})) as hub:
        server = TestServer(create_app(hub, deliver_outbox=False))
        await server.start_server()
        try:
            yield hub, str(server.make_url("")).rstrip("/")
        finally:
            await server.close()


async def new_chat(http: aiohttp.ClientSession, base: str) -> dict[str, str]:
    async with http.post(f"{base}/api/chat/session", json={}) as response:
        assert response.status == 201, await response.text()
        return {"Authorization": f"Bearer {(await response.json())['token']}"}


async def resident(
    http: aiohttp.ClientSession, base: str, auth: dict[str, str], n: int, statuses: Counter[int]
) -> tuple[dict[str, str], list[str]]:
    """One resident's chat, as the page sends it: a 503 is retried with the same client_id."""
    said = []
    for i in range(MESSAGES):
        words = f"{QUESTIONS[i % len(QUESTIONS)]} ({n}.{i})"
        said.append(words)
        for _ in range(200):
            async with http.post(
                f"{base}/api/chat/messages", headers=auth, json={"client_id": f"m{i}", "text": words}
            ) as response:
                statuses[response.status] += 1
                if response.status == 200:
                    break
                assert response.status == 503, f"{response.status}: {await response.text()}"
                assert response.content_type == "application/json" and response.headers["Retry-After"]
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"resident {n} never got an answer to {words!r}")
    return auth, said


async def chat_through(hub: Hub, base: str, fault: AsyncIterator[None]) -> Counter[int]:
    statuses: Counter[int] = Counter()
    async with aiohttp.ClientSession() as http:
        chats_open = [await new_chat(http, base) for _ in range(RESIDENTS)]
        chats = asyncio.gather(
            *(resident(http, base, auth, n, statuses) for n, auth in enumerate(chats_open))
        )
        faults = asyncio.ensure_future(_drain(fault))
        try:
            results = await chats
        finally:
            faults.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await faults
        for auth, said in results:
            async with http.get(f"{base}/api/chat/history", headers=auth) as response:
                assert response.status == 200
                texts = [m["text"] for m in (await response.json())["messages"]]
            for words in said:
                assert texts.count(words) == 1, (words, texts)  # once: not lost, not doubled
    return statuses


async def _drain(fault: AsyncIterator[None]) -> None:
    async for _ in fault:
        pass


async def terminate_backends(url: str) -> AsyncIterator[None]:
    database = make_url(url)
    admin = create_async_engine(database.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        while True:
            async with admin.connect() as conn:
                await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :n AND pid != pg_backend_pid()"
                    ),
                    {"n": database.database},
                )
            yield
            await asyncio.sleep(0.15)
    finally:
        await admin.dispose()


async def hold_the_write_lock(url: str) -> AsyncIterator[None]:
    # timeout=0, retried here: a blocking wait would stop this event loop, which the server's
    # turns (holding the lock meanwhile) need in order to finish.
    blocker = sqlite3.connect(make_url(url).database or "", isolation_level=None, timeout=0)
    try:
        while True:
            while True:
                try:
                    blocker.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.4)  # past the 0.2 s busy timeout of the server's writers
            blocker.execute("ROLLBACK")
            yield
            await asyncio.sleep(0.3)
    finally:
        with contextlib.suppress(sqlite3.Error):
            blocker.execute("ROLLBACK")
        blocker.close()


async def test_no_500_and_nothing_lost_while_the_database_fails_mid_turn(
    served: tuple[Hub, str],
) -> None:
    hub, base = served
    url = hub.settings.DATABASE_URL
    fault = hold_the_write_lock(url) if hub.db.is_sqlite else terminate_backends(url)
    statuses = await chat_through(hub, base, fault)
    assert set(statuses) <= {200, 201, 503}, statuses
    assert statuses[200] == RESIDENTS * MESSAGES


async def test_a_turn_whose_connection_is_killed_is_run_again_and_answered(served: tuple[Hub, str]) -> None:
    """Deterministic: the backend of the request's own connection is terminated just before
    the rate limit counts the message, and again just before the turn locks its conversation.
    Each unit of work is run again on a new connection: the resident gets the answer, not a
    503, and the message is recorded once."""
    hub, base = served
    if hub.db.is_sqlite:
        pytest.skip("SQLite has no connection to lose")
    database = make_url(hub.settings.DATABASE_URL)
    armed = ["FROM rate_counters", "FROM conversations"]  # killed in this order

    def kill_own_backend(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not (armed and "FOR UPDATE" in statement and armed[0] in statement):
            return
        armed.pop(0)
        pid = conn.connection.dbapi_connection._connection.get_server_pid()

        async def terminate() -> None:
            admin = create_async_engine(database.set(database="postgres"), isolation_level="AUTOCOMMIT")
            async with admin.connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await admin.dispose()

        killer = threading.Thread(target=asyncio.run, args=(terminate(),))  # its own loop
        killer.start()
        killer.join()

    retries_before = metrics.TURN_RETRIES._value.get()
    async with aiohttp.ClientSession() as http:
        auth = await new_chat(http, base)
        event.listen(hub.db.engine.sync_engine, "before_cursor_execute", kill_own_backend)
        try:
            async with http.post(
                f"{base}/api/chat/messages",
                headers=auth,
                json={"client_id": "k1", "text": "when is 311 open?"},
            ) as response:
                assert response.status == 200, await response.text()
                assert not (await response.json())["duplicate"]
        finally:
            event.remove(hub.db.engine.sync_engine, "before_cursor_execute", kill_own_backend)
        assert not armed  # both connections were killed under their work
        assert metrics.TURN_RETRIES._value.get() == retries_before + 1
        async with http.get(f"{base}/api/chat/history", headers=auth) as response:
            texts = [m["text"] for m in (await response.json())["messages"]]
        assert texts.count("when is 311 open?") == 1
