"""Input that used to be a 500 (issue 10): each gets a clear 4xx, or is stored cleaned, on
each database, and nothing half-written is left behind."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.hub import Hub
from bot.models import Report, TranscriptMessage, Turn
from bot.settings import Settings
from bot.web.server import create_app
from tests.hubs import prepared_hub
from tests.images import photo

BASE = "/open311/v2"


@pytest.fixture
async def keyed_hub(settings: Settings) -> AsyncIterator[Hub]:
    async with prepared_hub(settings.model_copy(update={"OPEN311_API_KEYS": "k1"})) as hub:
        yield hub


@pytest.fixture
async def client(keyed_hub: Hub) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(keyed_hub, deliver_outbox=False))) as client:
        yield client


async def new_session(client: TestClient) -> dict[str, str]:
    response = await client.post("/api/chat/session", json={})
    assert response.status == 201
    return {"Authorization": f"Bearer {(await response.json())['token']}"}


async def say(client: TestClient, auth: dict[str, str], raw_json: str) -> tuple[int, dict[str, object]]:
    response = await client.post(
        "/api/chat/messages", headers={**auth, "Content-Type": "application/json"}, data=raw_json
    )
    return response.status, await response.json()


def replace_with_a_file(folder: Path) -> None:
    """The photo folder made unwritable for anyone, root too, as a full disk would be."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.write_text("not a folder any more")


async def count(hub: Hub, model: type) -> int:
    async with hub.db.reading() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


# ------------------------------------------------------------------ the web chat


@pytest.mark.parametrize(
    ("escaped", "stored"),
    [
        ("pothole\\u0000 on 5th", "pothole on 5th"),  # NUL: PostgreSQL cannot store it
        ("graffiti \\ud800 here", "graffiti \ufffd here"),  # a lone surrogate: no UTF-8 for it
        ("\\u0007bell\\u001b[31m", "bell[31m"),  # other control characters mean nothing
    ],
)
async def test_unstorable_characters_are_cleaned_not_a_500(
    client: TestClient, keyed_hub: Hub, escaped: str, stored: str
) -> None:
    auth = await new_session(client)
    status, body = await say(client, auth, '{"client_id": "c-1", "text": "' + escaped + '"}')
    assert status == 200, body
    messages = body["messages"]
    assert isinstance(messages, list) and messages[0]["text"] == stored
    history = await (await client.get("/api/chat/history", headers=auth)).json()
    assert stored in [m["text"] for m in history["messages"]]


async def test_a_digit_that_is_not_ascii_is_text_not_a_choice(client: TestClient) -> None:
    auth = await new_session(client)
    status, _ = await say(client, auth, '{"client_id": "c-1", "text": "huge pothole on 5th and Market"}')
    assert status == 200
    for n, digit in enumerate(["፩", "²", "١"]):  # str.isdigit says yes to each
        status, body = await say(client, auth, json.dumps({"client_id": f"d-{n}", "text": digit}))
        assert status == 200, body


async def test_json_nested_thousands_deep_is_a_bad_request(client: TestClient, keyed_hub: Hub) -> None:
    auth = await new_session(client)
    before = await count(keyed_hub, Turn)
    status, body = await say(client, auth, "[" * 5000 + "]" * 5000)
    assert status == 400 and body == {"error": "The request body is not valid JSON."}
    assert await count(keyed_hub, Turn) == before


@pytest.mark.parametrize(
    "after", ["99999999999999999999", "2147483648", "999999999999999999", "²", "-1", "1e3", "abc"]
)
async def test_an_event_id_out_of_range_is_a_bad_request(client: TestClient, after: str) -> None:
    auth = await new_session(client)
    response = await client.get(f"/api/chat/events?after={after}", headers=auth)
    assert response.status == 400
    assert "message id" in (await response.json())["error"]
    response = await client.get("/api/chat/events", headers={**auth, "Last-Event-ID": after})
    assert response.status == 400


@pytest.mark.parametrize(
    "body",
    [
        b'--B\r\nContent-Disposition form-data; name="photo"\r\n\r\nx\r\n--B--\r\n',  # no colon
        b'--B\r\nContent-Disposition: form-data; name="photo"; filename="\xff\xfe.jpg"\r\n\r\nx\r\n--B--\r\n',
        b"--B\r\nContent-Disposition: attachment\r\n\r\nx\r\n--B--\r\n",  # no field name
        b"--B\r\n" + b"X-Long: " + b"a" * 70000 + b"\r\n\r\nx\r\n--B--\r\n",  # a header past any limit
        b"--B\r\nContent-Type: multipart/mixed; boundary=C\r\n\r\n--C\r\n\r\n--C--\r\n--B--\r\n",  # nested
        b'--C\r\nContent-Disposition: form-data; name="photo"\r\n\r\nx\r\n--C--\r\n',  # another boundary
    ],
)
async def test_a_broken_photo_upload_is_a_clear_4xx(client: TestClient, keyed_hub: Hub, body: bytes) -> None:
    auth = await new_session(client)
    before = await count(keyed_hub, TranscriptMessage)
    response = await client.post(
        "/api/chat/photos", headers={**auth, "Content-Type": "multipart/form-data; boundary=B"}, data=body
    )
    assert 400 <= response.status < 500, await response.text()
    assert "error" in await response.json()
    assert await count(keyed_hub, TranscriptMessage) == before


async def test_photos_that_cannot_be_written_are_a_503_with_the_reason(
    client: TestClient, keyed_hub: Hub
) -> None:
    """The disk full, a quota, the folder gone: the resident hears it, and nothing is kept."""
    auth = await new_session(client)
    replace_with_a_file(Path(keyed_hub.settings.MEDIA_DIR))  # every write into it fails now
    before = await count(keyed_hub, TranscriptMessage)
    upload = FormData()
    upload.add_field("client_id", "p-1")
    upload.add_field("photo", photo("JPEG"), filename="p.jpg", content_type="image/jpeg")
    response = await client.post("/api/chat/photos", headers=auth, data=upload)
    assert response.status == 503
    assert "can't be saved right now" in (await response.json())["error"]
    assert await count(keyed_hub, TranscriptMessage) == before


# ------------------------------------------------------------------ sessions and the page


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain"},  # what a foreign page can send without asking first
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "application/json", "Origin": "https://evil.example"},
    ],
)
async def test_another_site_cannot_open_sessions(
    client: TestClient, keyed_hub: Hub, headers: dict[str, str]
) -> None:
    before = await count(keyed_hub, Turn)
    response = await client.post("/api/chat/session", headers=headers, data="{}")
    assert response.status == 403
    assert await count(keyed_hub, Turn) == before


async def test_the_chat_page_itself_opens_sessions_and_cannot_be_framed(client: TestClient) -> None:
    origin = f"http://{client.host}:{client.port}"
    response = await client.post("/api/chat/session", headers={"Origin": origin}, json={})
    assert response.status == 201
    page = await client.get("/")
    assert "frame-ancestors 'self'" in page.headers["Content-Security-Policy"]


# ------------------------------------------------------------------ Open311


async def test_nul_in_an_open311_description_and_filters_is_no_500(
    client: TestClient, keyed_hub: Hub
) -> None:
    form = {
        "api_key": "k1",
        "service_code": "pothole",
        "lat": "37.7793",
        "long": "-122.4193",
        "description": "deep\x00 hole",
    }
    response = await client.post(f"{BASE}/requests.json", data=form)
    assert response.status == 200, await response.text()
    async with keyed_hub.db.reading() as s:
        assert await s.scalar(select(Report.description)) == "deep hole"
    for query in ("service_code=pot%00hole", "status=open%00", "service_request_id=1%002"):
        response = await client.get(f"{BASE}/requests.json?{query}")
        assert response.status in (200, 400), await response.text()


@pytest.mark.parametrize(
    "query",
    [
        "end_date=0001-01-01",  # 90 days before it is before the year 1
        "start_date=9999-12-31",  # 90 days after it is after 9999
        "start_date=9999-12-31T23:00:00-08:00",  # in UTC, the year 10000
        "page=%C2%B2",  # "²"
        "page=%E1%8D%A9",  # "፩"
    ],
)
async def test_open311_dates_and_numbers_out_of_range_are_a_400(client: TestClient, query: str) -> None:
    response = await client.get(f"{BASE}/requests.json?{query}")
    assert response.status == 400, await response.text()
    (problem,) = await response.json()
    assert problem["code"] == 400 and problem["description"]


async def test_a_session_unused_for_the_configured_days_no_longer_opens_the_chat(
    client: TestClient, keyed_hub: Hub
) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from bot.models import WebSession
    from bot.timeutil import utcnow

    auth = await new_session(client)
    days = keyed_hub.settings.WEBCHAT_SESSION_DAYS

    async def last_seen(ago: timedelta) -> None:
        async with keyed_hub.db.transaction() as s:
            await s.execute(update(WebSession).values(last_seen_at=utcnow() - ago))

    await last_seen(timedelta(days=days - 1, hours=23))  # nearly expired, still open...
    status, _ = await say(client, auth, '{"client_id": "c-1", "text": "hello"}')
    assert status == 200
    async with keyed_hub.db.reading() as s:  # ...and writing started its idle time again
        seen = await s.scalar(select(WebSession.last_seen_at))
    assert seen is not None and utcnow() - seen < timedelta(minutes=5)
    await last_seen(timedelta(days=days, minutes=1))
    for response in (
        await client.get("/api/chat/history", headers=auth),
        await client.post("/api/chat/messages", headers=auth, json={"client_id": "c-2", "text": "hi"}),
        await client.get("/api/chat/events", headers=auth),
    ):
        assert response.status == 401


async def test_health_is_answered_while_a_writer_holds_the_sqlite_lock(
    client: TestClient, keyed_hub: Hub
) -> None:
    """A health check is a read: it must not queue behind a long write (issue 10 saw 20-30 s)."""
    if not keyed_hub.db.is_sqlite:
        pytest.skip("the write lock is SQLite's")
    import sqlite3

    from sqlalchemy.engine import make_url

    writer = sqlite3.connect(make_url(keyed_hub.settings.DATABASE_URL).database or "", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another process in the middle of a long write
        response = await client.get("/healthz")
        assert response.status == 200 and (await response.json())["database"] == "ok"
    finally:
        writer.execute("ROLLBACK")
        writer.close()


# ------------------------------------------------------------------ the database going away


@pytest.fixture
async def impatient_client(settings: Settings) -> AsyncIterator[tuple[TestClient, Hub]]:
    """A server whose SQLite writers wait half a second for the lock, not thirty."""
    async with (
        prepared_hub(settings.model_copy(update={"SQLITE_BUSY_TIMEOUT_S": 0.5})) as hub,
        TestClient(TestServer(create_app(hub, deliver_outbox=False))) as client,
    ):
        yield client, hub


async def test_a_database_that_goes_away_mid_chat_is_a_503_to_retry_and_nothing_is_lost(
    impatient_client: tuple[TestClient, Hub],
) -> None:
    import sqlite3

    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    client, hub = impatient_client
    auth = await new_session(client)
    url = make_url(hub.settings.DATABASE_URL)
    body = '{"client_id": "c-9", "text": "when is 311 open?"}'
    if hub.db.is_sqlite:  # another process holds the write lock past the busy timeout
        blocker = sqlite3.connect(url.database or "", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            status, answer = await say(client, auth, body)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
    else:  # the database stops taking connections and drops the ones it has
        admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        name = url.database
        async with admin.connect() as conn:
            await conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            await conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
            )
        try:
            status, answer = await say(client, auth, body)
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            await admin.dispose()
    assert status == 503 and "try again" in str(answer["error"])
    status, answer = await say(client, auth, body)  # the page retries the same message
    assert status == 200 and not answer["duplicate"]
    history = (await (await client.get("/api/chat/history", headers=auth)).json())["messages"]
    assert [m["text"] for m in history].count("when is 311 open?") == 1  # once, not twice or never


async def test_one_session_cannot_open_unbounded_event_streams(client: TestClient) -> None:
    from adapters.webchat.api import MAX_STREAMS_PER_SESSION

    auth = await new_session(client)
    opened = [await client.get("/api/chat/events", headers=auth) for _ in range(MAX_STREAMS_PER_SESSION)]
    try:
        assert [r.status for r in opened] == [200] * MAX_STREAMS_PER_SESSION
        refused = await client.get("/api/chat/events", headers=auth)
        assert refused.status == 429 and refused.headers["Retry-After"]
        assert "too many windows" in (await refused.json())["error"]
        other = await client.get("/api/chat/events", headers=await new_session(client))
        assert other.status == 200  # another resident is not affected
        other.close()
    finally:
        for response in opened:
            response.close()


async def test_what_the_outside_probe_found_gets_a_clear_4xx(client: TestClient) -> None:
    """Each of these was a 500 (issue 10's second probe)."""
    auth = await new_session(client)
    chat = "/api/chat/messages"
    for charset in ("bogus", "rot13", "base64"):  # the last two are codecs, not text encodings
        bogus = {**auth, "Content-Type": f"application/json; charset={charset}"}
        response = await client.post(chat, headers=bogus, data='{"client_id": "a", "text": "hi"}')
        assert response.status == 415 and "UTF-8" in (await response.json())["error"], charset
    digits = '{"client_id": "a", "location": {"lat": 1' + "1" * 5000 + ', "lon": 1}}'
    assert (await say(client, auth, digits))[0] == 400  # past Python's 4,300-digit limit
    response = await client.post(
        "/api/chat/session",
        json={},
        headers={"Origin": "http://[::1"},  # not even a URL
    )
    assert response.status == 403
    form = {"Content-Type": "application/x-www-form-urlencoded; charset=bogus"}
    response = await client.post(f"{BASE}/requests.json", data="api_key=k1", headers=form)
    assert response.status == 415
    broken = b"--B\r\ngarbage\r\n\r\nx\r\n--B--\r\n"
    for path in ("requests.json", "servicerequestupdates.json"):
        response = await client.post(
            f"{BASE}/{path}", data=broken, headers={"Content-Type": "multipart/form-data; boundary=B"}
        )
        assert response.status == 400, path
    response = await client.post(
        "/api/chat/session",
        data=b"",
        headers={"Content-Type": "application/json", "Content-Length": str(10**12)},
    )
    assert response.status == 413  # said at once, not after the body deadline


async def test_an_api_key_with_a_nul_is_not_the_key(client: TestClient) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    response = await client.post(
        f"{BASE}/requests.json", data="api_key=k%001&service_code=pothole", headers=form
    )
    assert response.status == 403
    assert "not accepted" in (await response.json())[0]["description"]
