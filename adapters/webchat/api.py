"""The web chat's HTTP surface: page, JSON API and live updates (Server-Sent Events).

Every request is authenticated by the session token, as a bearer header on
the JSON calls (so no cross-site form can post as the resident) or as a
SameSite cookie on the read-only event stream (EventSource sends no headers).
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
from collections import Counter
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from adapters.webchat.uploads import UploadError, check_announced_size, read_photo_upload
from bot.api import (
    HUB,
    STOPPING,
    UNAVAILABLE,
    Capabilities,
    Hub,
    Incoming,
    Location,
    MediaError,
    TranscriptEntry,
    TurnResult,
    client_address,
    first_of,
    in_background,
    messages_after,
    metrics,
    ratelimit,
    sessions,
    valid_key,
)

NAME = "webchat"
CAPABILITIES = Capabilities(buttons=True, photos=True, location_request=True, markdown=True, links=True)
STATIC = Path(__file__).with_name("static")
COOKIE = "civic311_chat"
log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0
GONE_CHECK_S = 1.0  # how soon an idle stream notices its page has gone
# A message of MAX_MESSAGE_CHARS (at most 100,000) as escaped JSON, and its envelope.
MAX_JSON_BYTES = 1024 * 1024
MAX_MESSAGE_ID = 2**31 - 1  # the transcript's ids are 32-bit on PostgreSQL
SESSIONS_PER_IP_PER_MINUTE = 20
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; object-src 'none'; "
    "frame-ancestors 'self'"  # no other site may frame the chat (clickjacking)
)
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str
    text: str | None = None
    choice: str | None = Field(default=None, max_length=100)
    location: LocationIn | None = None

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str) -> str:
        if not CLIENT_ID.match(value):
            raise ValueError("client_id must be 1-100 letters, digits, '-' or '_'")
        return value


def error(status: int, message: str, **headers: str) -> web.Response:
    metrics.HTTP_REJECTED.labels(str(status)).inc()
    return web.json_response({"error": message}, status=status, headers=headers)


def to_message(entry: TranscriptEntry) -> dict[str, Any]:
    payload = dict(entry.payload)
    photos = _photo_urls(payload)
    return {
        "id": entry.id,
        "from": payload.get("from", "bot"),
        "text": payload.get("text", ""),
        "choices": payload.get("choices", []),
        "request": payload.get("request"),
        "photo_url": payload.get("photo_url") or (photos[0] if photos else None),
        "photos": photos,
        "links": payload.get("links", []),
        "location": payload.get("location"),
        "urgent": bool(payload.get("urgent", False)),
        "at": entry.created_at.isoformat(),
    }


def _photo_urls(payload: dict[str, Any]) -> list[str]:
    """The resident's own photos, as same-origin paths the page can show."""
    if payload.get("from") != "resident" or not isinstance(payload.get("photos"), list):
        return []
    keys = [p.get("key") for p in payload["photos"] if isinstance(p, dict)]
    return [f"/media/{key}" for key in keys if isinstance(key, str) and valid_key(key)]


def _visible(entry: Any) -> bool:
    """Commands the page sends itself (the greeting's /start) are not shown."""
    return not (
        entry.payload.get("from") == "resident" and str(entry.payload.get("text", "")).startswith("/")
    )


def turn_response(result: TurnResult) -> web.Response:
    """What the page gets back for one message: what was stored of the turn, in order."""
    return web.json_response(
        {"messages": [to_message(t) for t in result.transcript if _visible(t)], "duplicate": result.duplicate}
    )


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


PAGE = web.AppKey("webchat_page", str)  # index.html with the city's name and limits filled in
# Event streams open in this process, by conversation: live connections are this process's
# own (nothing to share or keep), and one session may not hold an unbounded number of them.
STREAMS = web.AppKey("webchat_streams", Counter)
# Each open stream's request and the event that wakes it, for the one task that notices
# pages that went away (a stream waiting for news would notice only at its next write).
OPEN_STREAMS = web.AppKey("webchat_open_streams", dict)
MAX_STREAMS_PER_SESSION = 4  # tabs or windows of one chat
EXPIRED = "This chat session has expired or is unknown. Start a new one."


def add_routes(hub: Hub, app: web.Application) -> None:
    """The page and the API on `serve`'s application (which holds the hub under HUB)."""
    app[PAGE] = _page(hub)
    app[STREAMS] = Counter()
    app[OPEN_STREAMS] = {}
    app.cleanup_ctx.append(in_background("transcript-feed", hub.feed.run))
    app.cleanup_ctx.append(in_background("webchat-gone-pages", partial(_notice_gone_pages, app)))
    app.router.add_get("/", index)
    if STATIC.exists():
        app.router.add_static("/static", STATIC, append_version=False)
    app.router.add_post("/api/chat/session", create_session)
    app.router.add_get("/api/chat/history", history)
    app.router.add_post("/api/chat/messages", post_message)
    app.router.add_post("/api/chat/photos", post_photo)
    app.router.add_get("/api/chat/events", events)


def _page(hub: Hub) -> str:
    settings = hub.settings
    index_file = STATIC / "index.html"
    page = (
        index_file.read_text(encoding="utf-8")
        if index_file.exists()
        else "<!doctype html><title>civic311</title>"
    )
    return (
        page.replace("{{CITY_NAME}}", html.escape(settings.CITY_NAME))
        .replace("{{MAX_CHARS}}", str(settings.MAX_MESSAGE_CHARS))
        .replace("{{MAX_PHOTO_MB}}", f"{settings.MAX_PHOTO_MB:g}")
    )


def _set_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        path="/api/chat",
        max_age=30 * 24 * 3600,
        secure=request.app[HUB].settings.PUBLIC_URL.startswith("https://"),
    )


async def _authenticate(request: web.Request, *, allow_cookie: bool, seen: bool = False) -> str | None:
    token = _bearer(request)
    if token is None and allow_cookie:
        token = request.cookies.get(COOKIE)
    hub = request.app[HUB]
    return await sessions.resolve(hub.db, token, max_idle=hub.settings.webchat_session_idle, seen=seen)


async def _slow_down(hub: Hub, address: str) -> web.Response | None:
    """The per-session rate limit, shared by messages and photos."""
    wait = await ratelimit.chat_message(hub.db, hub.settings, NAME, address)
    if wait is None:
        return None
    return error(
        429,
        "You're sending messages very fast. Please wait a moment.",
        **{"Retry-After": str(int(wait))},
    )


async def index(request: web.Request) -> web.Response:
    return web.Response(
        text=request.app[PAGE],
        content_type="text/html",
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"},
    )


def _foreign(request: web.Request) -> bool:
    """Sent by a page of another site: its Origin (browsers send one with every POST) is not
    this server's. Requests without one (curl, other servers) are not pages."""
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    # By host only: behind a proxy that ends TLS the page is https and this server sees http.
    ours = {request.host, urlsplit(request.app[HUB].settings.PUBLIC_URL).netloc}
    try:
        return urlsplit(origin).netloc not in ours
    except ValueError:  # "http://[::1": no page of ours sends that
        return True


async def _json_body(request: web.Request) -> Any:
    """The JSON body (None when there is none), or the response that says what is wrong.

    Only `application/json`: a page on another site can POST text/plain or a form without
    asking the browser first (a "simple" request), but not JSON. Nesting thousands deep
    (which exhausts the parser's recursion) is refused like any other unreadable body."""
    if not request.can_read_body:
        return None
    if request.content_type != "application/json":
        return error(415, "Send the request body as JSON (Content-Type: application/json).")
    if (request.content_length or 0) > MAX_JSON_BYTES:  # said before a byte is read
        return error(413, "The request body is too large for a chat message.")
    try:
        return await request.json()
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, 5,000-digit numbers
        return error(400, "The request body is not valid JSON.")


async def create_session(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    if request.content_type != "application/json" or _foreign(request):
        # A page on another site could otherwise open sessions in a visitor's name
        # with a form or text/plain POST, which browsers send without asking first.
        return error(403, "New chats are opened by the city's chat page.")
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    if body not in ({}, None):
        return error(422, "A new session takes no fields: send {}.")
    wait = await ratelimit.hit(
        hub.db,
        f"webchat-session:{client_address(request, request.app[HUB].settings.trusted_proxies)}",
        limit=SESSIONS_PER_IP_PER_MINUTE,
        window=timedelta(minutes=1),
    )
    if wait is not None:
        return error(
            429, "Too many new chats from here. Please wait a minute.", **{"Retry-After": str(int(wait))}
        )
    token, address = await sessions.create(hub.db)
    result = await hub.engine.handle(
        Incoming(channel=NAME, conversation=address, message_id=f"{address}:start", text="/start")
    )
    response = web.json_response(
        {"token": token, "messages": [to_message(t) for t in result.transcript if _visible(t)]},
        status=201,
    )
    _set_cookie(request, response, token)
    return response


async def history(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    token = _bearer(request) or request.cookies.get(COOKIE)
    address = await sessions.resolve(hub.db, token, max_idle=hub.settings.webchat_session_idle)
    if address is None:
        return error(401, EXPIRED)
    rows = await messages_after(hub.db, NAME, address, 0, limit=1000)
    response = web.json_response({"messages": [to_message(r) for r in rows if _visible(r)]})
    if token:
        _set_cookie(request, response, token)
    return response


async def _read_message(request: web.Request, max_chars: int) -> MessageIn | web.Response:
    """The message body, checked; or the response that says what is wrong with it."""
    if request.content_length and request.content_length > 8 * max_chars + 4096:
        return error(413, f"That message is too long. Please keep it under {max_chars:,} characters.")
    raw = await _json_body(request)
    if isinstance(raw, web.Response):
        return raw
    try:
        body = MessageIn.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        return error(422, f"{where}: {first['msg']}")
    given = [x for x in (body.text, body.choice, body.location) if x is not None]
    if len(given) != 1:
        return error(422, "Send exactly one of text, choice or location.")
    if body.text is not None:
        if len(body.text) > max_chars:
            return error(
                413,
                f"That message is too long ({len(body.text):,} characters). "
                f"Please keep it under {max_chars:,}.",
            )
        if not body.text.strip():
            return error(422, "Type a message first.")
    return body


def _incoming(address: str, client_id: str, **content: Any) -> Incoming:
    """A resident's message; the page's client id makes a retried request the same message."""
    return Incoming(
        channel=NAME, conversation=address, message_id=f"{address}:{client_id}", sender=address, **content
    )


async def post_message(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    address = await _authenticate(request, allow_cookie=False, seen=True)
    if address is None:
        return error(401, EXPIRED)
    body = await _read_message(request, hub.settings.MAX_MESSAGE_CHARS)
    if isinstance(body, web.Response):
        return body
    refused = await _slow_down(hub, address)
    if refused is not None:
        return refused
    location = Location(body.location.lat, body.location.lon) if body.location is not None else None
    result = await hub.engine.handle(
        _incoming(
            address, body.client_id, text=(body.text or "").strip(), choice=body.choice, location=location
        )
    )
    hub.feed.nudge()  # the chat's other open windows in this process show the turn now
    return turn_response(result)


async def post_photo(request: web.Request) -> web.Response:
    """One photo as a message of its own: stored (cleaned) first, then one turn like any message.

    Nothing is kept when anything fails: a refused photo is never written, and
    a stored one whose turn is not recorded (an error, a retried upload that
    the engine answers from the first time) is removed again.
    """
    hub = request.app[HUB]
    address = await _authenticate(request, allow_cookie=False, seen=True)
    if address is None:
        return error(401, EXPIRED)
    store = hub.services.media
    if store is None:
        return error(503, "Photos can't be received right now. Please describe what you see in words.")
    try:
        check_announced_size(request, store.max_bytes)
        upload = await read_photo_upload(request, store.max_bytes)
    except MediaError as exc:
        return _refused_photo(exc)
    except UploadError as exc:
        return error(exc.status, exc.message)
    if not CLIENT_ID.match(upload.client_id):
        return error(422, "client_id must be 1-100 letters, digits, '-' or '_'")
    refused = await _slow_down(hub, address)
    if refused is not None:
        return refused
    try:
        photo = await store.save(upload.photo)
    except MediaError as exc:
        return _refused_photo(exc)
    # A turn that fails, or a retried upload answered from the first, removes this photo.
    result = await hub.engine.handle(_incoming(address, upload.client_id, photos=(photo,)))
    hub.feed.nudge()
    return turn_response(result)


def _refused_photo(exc: MediaError) -> web.Response:
    """A photo refused (413, 415) or not storable now (503: a full disk, with a time to retry)."""
    later = {"Retry-After": "60"} if exc.status == 503 else {}
    return error(exc.status, str(exc), **later)


async def events(request: web.Request) -> web.StreamResponse:
    address = await _authenticate(request, allow_cookie=True)
    if address is None:
        return error(401, EXPIRED)
    raw = (request.headers.get("Last-Event-ID") or request.query.get("after", "0")).strip()
    # Ids are whole numbers within the column's range (32 bits): anything else (a word, "²",
    # a number PostgreSQL would refuse mid-stream) is a bad request, not a broken stream.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10 and int(raw) <= MAX_MESSAGE_ID):
        return error(400, "'after' must be a message id (a whole number).")
    after = int(raw)
    streams = request.app[STREAMS]
    if streams[address] >= MAX_STREAMS_PER_SESSION:
        return error(
            429, "This chat is open in too many windows. Close one, then reload.", **{"Retry-After": "30"}
        )
    streams[address] += 1
    try:
        return await _open_stream(request, address, after)
    finally:
        streams[address] -= 1
        if streams[address] <= 0:
            del streams[address]


async def _open_stream(request: web.Request, address: str, after: int) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    # The page going away is normal; EventSource reconnects with Last-Event-ID.
    try:
        await _stream(request, response, address, after)
    except ConnectionResetError:
        pass
    except UNAVAILABLE as exc:
        # The headers are sent: a 503 can no longer be said. Ending the stream is, and the
        # page's EventSource then reconnects (after `retry`) from the last id it saw.
        log.info("event stream ended, the database is unavailable: %s", exc)
    return response


async def _stream(request: web.Request, response: web.StreamResponse, address: str, after: int) -> None:
    """Messages as they are written: the page sleeps until the process's transcript feed
    wakes it (one poll per process, not one per page), then reads what is new. An idle page
    costs no query: between wake-ups it only sends a heartbeat. A page that has gone is woken
    by `_notice_gone_pages` within a second, and its slot among the session's streams freed."""
    hub, stopping = request.app[HUB], request.app[STOPPING]
    open_streams = request.app[OPEN_STREAMS]
    with hub.feed.watch(NAME, address) as woken:
        open_streams[id(request)] = (request, woken)
        try:
            while not stopping.is_set() and not _gone(request):
                woken.clear()  # before reading: a message written meanwhile wakes us again
                rows = await messages_after(hub.db, NAME, address, after, limit=100)
                for row in rows:
                    after = row.id
                    if _visible(row):
                        data = json.dumps(to_message(row), ensure_ascii=False)
                        await response.write(f"id: {row.id}\ndata: {data}\n\n".encode())
                if len(rows) == 100:
                    continue  # more to catch up on
                # Quiet: heartbeats only, no reads, until the feed (or the page going) wakes us.
                while not await first_of(woken, stopping, within_s=HEARTBEAT_S):
                    await response.write(b": keep-alive\n\n")
        finally:
            open_streams.pop(id(request), None)


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _notice_gone_pages(app: web.Application, stop: asyncio.Event) -> None:
    """Once a second, wake the streams whose page has gone (its connection is closing), so
    their slots are free at once; one loop for all of them, which costs no task per stream."""
    while not await first_of(stop, within_s=GONE_CHECK_S):
        for request, woken in list(app[OPEN_STREAMS].values()):
            if _gone(request):
                woken.set()
