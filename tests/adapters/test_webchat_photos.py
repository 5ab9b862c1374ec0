"""Photos in the web chat, through real HTTP (aiohttp's test server), on each database:
`POST /api/chat/photos` and `GET /media/{key}`."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from sqlalchemy import func, select

from bot.hub import Hub, build_hub
from bot.models import TranscriptMessage, Turn
from bot.settings import Settings, load_settings
from bot.web.server import create_app
from tests.images import MIB, has_location, metadata_left, noise_png, pdf, photo


@pytest.fixture
async def client(hub: Hub) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(hub, deliver_outbox=False))) as client:
        yield client


async def new_session(client: TestClient) -> dict[str, str]:
    response = await client.post("/api/chat/session", json={})
    assert response.status == 201
    return {"Authorization": f"Bearer {(await response.json())['token']}"}


def form(
    data: bytes, client_id: str = "p-1", filename: str = "IMG_0001.jpg", ctype: str = "image/jpeg"
) -> FormData:
    body = FormData()
    body.add_field("client_id", client_id)
    body.add_field("photo", data, filename=filename, content_type=ctype)
    return body


def stored_files(settings: Settings) -> list[str]:
    media = Path(settings.MEDIA_DIR)
    return sorted(p.name for p in media.iterdir()) if media.exists() else []


async def recorded(hub: Hub) -> tuple[int, int]:
    """Transcript lines and turns: what a refused upload must not add to."""
    async with hub.db.reading() as s:
        lines = await s.scalar(select(func.count()).select_from(TranscriptMessage))
        turns = await s.scalar(select(func.count()).select_from(Turn))
    return int(lines or 0), int(turns or 0)


async def test_a_photo_is_stored_shown_in_the_chat_and_served_without_its_location(
    client: TestClient, hub: Hub
) -> None:
    auth = await new_session(client)
    sent = photo("JPEG")
    assert has_location(sent)
    response = await client.post("/api/chat/photos", headers=auth, data=form(sent))
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["duplicate"] is False
    mine = body["messages"][0]
    assert mine["from"] == "resident" and mine["photo_url"].startswith("/media/")
    assert mine["photos"] == [mine["photo_url"]]
    assert [m["from"] for m in body["messages"][1:]] == ["bot"] * (len(body["messages"]) - 1)
    assert len(body["messages"]) >= 2  # the bot answered the photo
    key = mine["photo_url"].removeprefix("/media/")
    assert stored_files(hub.settings) == [key]

    async with hub.db.reading() as s:
        line = await s.scalar(select(TranscriptMessage).where(TranscriptMessage.id == mine["id"]))
    assert line is not None and line.payload["photos"] == [{"key": key, "content_type": "image/jpeg"}]

    history = (await (await client.get("/api/chat/history", headers=auth)).json())["messages"]
    assert any(m["photo_url"] == mine["photo_url"] for m in history)

    served = await client.get(mine["photo_url"])  # no token needed: the key is the secret
    assert served.status == 200
    assert served.headers["Content-Type"] == "image/jpeg"
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Security-Policy"].startswith("default-src 'none'")
    data = await served.read()
    assert not has_location(data) and metadata_left(data) == []
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG" and image.size == (40, 20)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/media/" + "A" * 32 + ".jpg", 404),  # well formed, never stored
        ("/media/not-a-key.jpg", 404),
        ("/media/..%2F..%2Fetc%2Fpasswd", 404),
        ("/media/.upload-x.part", 404),  # how a photo being written is named
    ],
)
async def test_unknown_or_malformed_media_keys_are_404(client: TestClient, path: str, status: int) -> None:
    response = await client.get(path)
    assert response.status == status


async def test_an_unknown_key_gets_a_json_error(client: TestClient) -> None:
    response = await client.get("/media/" + "B" * 32 + ".png")
    assert response.status == 404 and (await response.json())["error"] == "No such photo."


def _truncated() -> bytes:
    data = photo("JPEG", image=Image.new("RGB", (400, 300), "gray"))
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("data", "filename", "ctype", "status", "says"),
    [
        (pdf(), "pothole.jpg", "image/jpeg", 415, "isn't a photo"),  # a PDF renamed .jpg
        (b"just some words", "photo.png", "image/png", 415, "JPEG, PNG or WebP"),
        (_truncated(), "photo.jpg", "image/jpeg", 400, "damaged or incomplete"),
        (b"", "photo.jpg", "image/jpeg", 422, "Choose a photo"),
    ],
    ids=["pdf-as-jpg", "text-as-png", "truncated-jpeg", "empty"],  # the PDF is timestamped: fixed names
)
async def test_what_is_not_a_photo_is_refused_and_nothing_is_kept(
    client: TestClient, hub: Hub, data: bytes, filename: str, ctype: str, status: int, says: str
) -> None:
    auth = await new_session(client)
    before = await recorded(hub)
    response = await client.post(
        "/api/chat/photos", headers=auth, data=form(data, filename=filename, ctype=ctype)
    )
    assert response.status == status
    assert says in (await response.json())["error"]
    assert stored_files(hub.settings) == [] and await recorded(hub) == before


async def test_a_30_mb_upload_is_refused_from_its_announced_size(client: TestClient, hub: Hub) -> None:
    auth = await new_session(client)
    before = await recorded(hub)
    response = await client.post("/api/chat/photos", headers=auth, data=form(noise_png(30)))
    assert response.status == 413
    assert "the limit is 10 MB" in (await response.json())["error"]
    assert stored_files(hub.settings) == [] and await recorded(hub) == before


async def test_an_oversized_upload_without_a_length_is_cut_off_while_read(
    client: TestClient, hub: Hub
) -> None:
    """Sent chunked, the size is only known while reading: it is refused once past the limit."""
    auth = await new_session(client)
    before = await recorded(hub)
    boundary = "photo-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="client_id"\r\n\r\nbig-1\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    photo_bytes = noise_png(30)
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield head
        for at in range(0, len(photo_bytes), MIB):
            sent += MIB
            yield photo_bytes[at : at + MIB]
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await client.post(
        "/api/chat/photos",
        headers={**auth, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        data=chunks(),
    )
    assert response.status == 413
    assert "larger than the 10 MB limit" in (await response.json())["error"]
    assert stored_files(hub.settings) == [] and await recorded(hub) == before


@pytest.mark.parametrize(
    "auth", [{}, {"Authorization": "Bearer forged-token"}, {"Authorization": "Basic dXNlcjpwYXNz"}]
)
async def test_no_token_no_upload(client: TestClient, hub: Hub, auth: dict[str, str]) -> None:
    before = await recorded(hub)
    response = await client.post("/api/chat/photos", headers=auth, data=form(photo("JPEG")))
    assert response.status == 401
    assert "Start a new one" in (await response.json())["error"]
    assert stored_files(hub.settings) == [] and await recorded(hub) == before


async def test_the_same_upload_twice_is_answered_once(client: TestClient, hub: Hub) -> None:
    auth = await new_session(client)
    sent = photo("PNG")
    first = await (await client.post("/api/chat/photos", headers=auth, data=form(sent, "again"))).json()
    after_first = await recorded(hub)
    again = await client.post("/api/chat/photos", headers=auth, data=form(sent, "again"))
    assert again.status == 200
    replay = await again.json()
    assert replay["duplicate"] is True and replay["messages"] == first["messages"]
    assert await recorded(hub) == after_first
    assert stored_files(hub.settings) == [first["messages"][0]["photo_url"].removeprefix("/media/")]


def _raw_form(*parts: tuple[str, bytes, str | None]) -> FormData:
    body = FormData(default_to_multipart=True)
    for name, value, filename in parts:
        if filename is None:
            body.add_field(name, value.decode())
        else:
            body.add_field(name, value, filename=filename, content_type="image/jpeg")
    return body


@pytest.mark.parametrize(
    ("make", "status", "says"),
    [
        (lambda: {"json": {"client_id": "x", "photo": "data"}}, 400, "multipart/form-data"),
        (lambda: {"data": _raw_form(("client_id", b"x", None))}, 422, "Choose a photo"),
        (lambda: {"data": _raw_form(("photo", photo("JPEG"), "a.jpg"))}, 422, "client_id"),
        (
            lambda: {"data": _raw_form(("client_id", b"../../etc", None), ("photo", photo("JPEG"), "a.jpg"))},
            422,
            "client_id",
        ),
        (
            lambda: {
                "data": _raw_form(
                    ("client_id", b"x", None),
                    ("photo", photo("JPEG"), "a.jpg"),
                    ("photo", photo("JPEG"), "b.jpg"),
                )
            },
            422,
            "one photo at a time",
        ),
        (
            lambda: {"data": _raw_form(("client_id", b"x", None), ("admin", b"1", None))},
            422,
            "Unexpected field 'admin'",
        ),
        (
            lambda: {
                "data": b'--b\r\nContent-Disposition: form-data; name="photo"; filename="a.jpg"\r\n\r\nxx',
                "headers": {"Content-Type": "multipart/form-data; boundary=b"},
            },
            400,
            "cut short",
        ),
    ],
    ids=["json", "no-photo", "no-client-id", "bad-client-id", "two-photos", "extra-field", "cut-short"],
)
async def test_a_malformed_form_gets_a_clear_4xx_and_keeps_nothing(
    client: TestClient, hub: Hub, make: Callable[[], dict[str, Any]], status: int, says: str
) -> None:
    auth = await new_session(client)
    before = await recorded(hub)
    request = make()
    request["headers"] = {**auth, **request.get("headers", {})}
    response = await client.post("/api/chat/photos", **request)
    assert response.status == status
    assert says in (await response.json())["error"]
    assert stored_files(hub.settings) == [] and await recorded(hub) == before


async def test_uploads_share_the_message_rate_limit(client: TestClient, hub: Hub) -> None:
    hub.settings.CHAT_RATE_LIMIT_PER_MINUTE = 1
    auth = await new_session(client)
    first = await client.post("/api/chat/messages", headers=auth, json={"client_id": "t-1", "text": "hello"})
    assert first.status == 200
    before = await recorded(hub)
    response = await client.post("/api/chat/photos", headers=auth, data=form(photo("JPEG")))
    assert response.status == 429 and "wait" in (await response.json())["error"]
    assert stored_files(hub.settings) == [] and await recorded(hub) == before


async def _hub_with(settings: Settings, tmp_path: Path, max_photo_mb: float) -> Hub:
    """The same (migrated) database, run with another MAX_PHOTO_MB, as an operator would set it."""
    return build_hub(
        load_settings(
            DATABASE_URL=settings.DATABASE_URL,
            MEDIA_DIR=tmp_path / "media-limit",
            MAX_PHOTO_MB=max_photo_mb,
            _env_file=None,
        )
    )


async def test_the_limit_residents_see_is_max_photo_mb(hub: Hub, tmp_path: Path) -> None:
    small = await _hub_with(hub.settings, tmp_path, 1)
    try:
        async with TestClient(TestServer(create_app(small, deliver_outbox=False))) as client:
            page = await (await client.get("/")).text()
            assert 'data-max-photo-mb="1"' in page and 'data-photos="on"' in page
            auth = await new_session(client)
            response = await client.post("/api/chat/photos", headers=auth, data=form(noise_png(2)))
            assert response.status == 413
            assert "the limit is 1 MB" in (await response.json())["error"]
    finally:
        await small.close()


async def test_a_limit_above_the_servers_body_limit_is_honoured(hub: Hub, tmp_path: Path) -> None:
    """aiohttp refuses bodies over 12 MB by itself; a city allowing 20 MB photos gets 20 MB."""
    large = await _hub_with(hub.settings, tmp_path, 20)
    try:
        async with TestClient(TestServer(create_app(large, deliver_outbox=False))) as client:
            auth = await new_session(client)
            data = noise_png(13)
            assert len(data) > 12 * MIB
            response = await client.post("/api/chat/photos", headers=auth, data=form(data, ctype="image/png"))
            assert response.status == 200, await response.text()
            assert (await response.json())["messages"][0]["photo_url"].endswith(".png")
    finally:
        await large.close()
