"""A fake Telegram Bot API on 127.0.0.1, for driving the real python-telegram-bot over HTTP.

Our Telegram channel is tested through the library it ships with, so what PTB really sends
(form or multipart bodies, JSON-encoded fields, the token in the path) and how it turns
answers into exceptions (429 → RetryAfter, 403 → Forbidden, ...) are exercised, not imagined.

    async with telegram_api() as fake:
        bot = telegram.Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url)

This module serves the Bot API, scripts faults, records calls and plays Telegram's part
towards a webhook; telegram_state.py is what the methods do, telegram_format.py what text
and markup they refuse, telegram_updates.py (`fake.updates`) writes incoming updates.
`run_in_thread()` serves it from its own loop, for a `civic311 serve` run as a subprocess;
every accessor takes the fake's lock, so a test thread may read it while it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from tests.fakes.telegram_format import Refused
from tests.fakes.telegram_state import ApiError, Photo, TelegramState, WebhookState, number

__all__ = ["DEFAULT_TOKEN", "Call", "FakeTelegram", "Photo", "Upload", "WebhookDelivery", "WebhookState"]
__all__ += ["run_in_thread", "telegram_api"]

DEFAULT_TOKEN = "123456:TEST-token"
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
WEBHOOK_TIMEOUT_S = 30
# Free-text fields stay text even when they look like JSON ("123", "true"); the rest are decoded.
_TEXT_FIELDS = frozenset(
    (
        *("text", "caption", "parse_mode", "url", "secret_token", "callback_query_id", "file_id", "photo"),
        *("document", "voice", "sticker", "action", "inline_message_id", "language_code", "ip_address"),
        "emoji",
    )
)
_METHODS = (
    *("getMe", "setWebhook", "deleteWebhook", "getWebhookInfo", "getUpdates", "setMyCommands"),
    *("getMyCommands", "deleteMyCommands", "sendMessage", "sendPhoto", "sendChatAction", "editMessageText"),
    *("editMessageReplyMarkup", "answerCallbackQuery", "getFile"),
)
T = TypeVar("T")


@dataclass(frozen=True)
class Upload:
    name: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Call:
    """One request as the fake decoded it: JSON fields parsed, uploads as bytes in `params`."""

    method: str
    params: dict[str, Any]
    uploads: dict[str, Upload]
    token: str
    at: float  # time.monotonic() on arrival, to measure a client's pauses between tries
    via_webhook_reply: bool = False  # a method the bot answered a webhook delivery with
    status: int = 0  # 0 while unanswered (a long poll still waiting)
    response: dict[str, Any] | None = None


@dataclass(frozen=True)
class WebhookDelivery:
    update_id: int
    status: int  # 0: no HTTP answer (refused, timed out)
    body: str
    secret: str | None
    at: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299


@dataclass
class _Fault:
    method: str
    status: int | None  # None: only the delay, then the normal answer
    description: str
    parameters: dict[str, Any]
    chat_id: int | str | None
    delay: float
    times: int | None  # None: every call until clear_faults()
    body: str | None


@dataclass
class _Poll:
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    ended_by: str = ""


def _decode(raw: dict[str, str], uploads: dict[str, Upload]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, value in raw.items():
        if value.startswith("attach://") and value[9:] in uploads:
            params[name] = uploads[value[9:]].data
        elif name in _TEXT_FIELDS:
            params[name] = value
        else:
            try:
                params[name] = json.loads(value)
            except ValueError:
                params[name] = value
    for name, upload in uploads.items():
        params.setdefault(name, upload.data)
    return params


async def _read(request: web.Request) -> tuple[dict[str, str], dict[str, Upload]]:
    """Arguments from the query string and a form, multipart or JSON body, as the server reads them."""
    raw: dict[str, str] = dict(request.query)
    uploads: dict[str, Upload] = {}
    if request.content_type == "application/json":
        body = await request.json()
        raw |= {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
        return raw, uploads
    for name, value in (await request.post()).items():
        if isinstance(value, web.FileField):
            uploads[name] = Upload(name, value.filename, value.content_type, value.file.read())
        else:
            raw[name] = str(value)
    return raw, uploads


class FakeTelegram(TelegramState):
    def __init__(self, token: str = DEFAULT_TOKEN, **options: Any) -> None:
        super().__init__(token, **options)
        self.base_url = self.base_file_url = self.url = ""
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.downloads: list[str] = []  # file paths asked for at base_file_url, in order
        self._calls: list[Call] = []
        self._faults: list[_Fault] = []
        self._poll: _Poll | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        # Telegram's method names are case-insensitive: "sendmessage" works as well.
        self._methods = {
            m.lower(): getattr(self, "_" + re.sub("([A-Z])", r"_\1", m).lower()) for m in _METHODS
        }

    async def start(self) -> FakeTelegram:
        self._loop, self._closing = asyncio.get_running_loop(), asyncio.Event()
        app = web.Application(client_max_size=60 * 1024 * 1024)  # Telegram takes 50 MB uploads
        app.router.add_route("*", "/bot{token}/{method}", self._serve_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._serve_file)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        # No handler cancellation: a client that gives up does not undo a send, as with Telegram.
        self._runner = web.AppRunner(app, shutdown_timeout=2)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self.base_url, self.base_file_url = f"{self.url}/bot", f"{self.url}/file/bot"
        return self

    async def close(self) -> None:
        if self._closing is not None:
            self._closing.set()  # waiting long polls and scripted delays end now
        self._wake()
        if self._runner is not None:
            await self._runner.cleanup()

    def run_sync(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run e.g. `post_webhook(...)` on the fake's loop from another thread (run_in_thread mode)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # --- scripted answers ------------------------------------------------------------------

    def fail(
        self,
        method: str,
        status: int,
        description: str | None = None,
        *,
        chat_id: int | str | None = None,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        delay: float = 0.0,
        times: int | None = 1,
        body: str | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` (to `chat_id` only, if given) with this error.

        `body` replaces the JSON answer, e.g. with the HTML page a proxy in front of Telegram sends."""
        parameters: dict[str, Any] = {}
        if status == 429 or retry_after is not None:
            parameters["retry_after"] = 1 if retry_after is None else retry_after
        if migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = migrate_to_chat_id
        if description is None and migrate_to_chat_id is not None:
            description = "Bad Request: group chat was upgraded to a supergroup chat"
        elif description is None:
            description = {
                403: "Forbidden: bot was blocked by the user",
                409: CONFLICT_POLL,
                429: f"Too Many Requests: retry after {parameters.get('retry_after')}",
            }.get(status, HTTPStatus(status).phrase)
        fault = _Fault(method.lower(), status, description, parameters, chat_id, delay, times, body)
        with self._lock:
            self._faults.append(fault)

    def delay(self, method: str, seconds: float, *, chat_id: int | str | None = None, times: int = 1) -> None:
        """Answer the next calls normally, but only after `seconds` (for clients' timeouts)."""
        with self._lock:
            self._faults.append(_Fault(method.lower(), None, "", {}, chat_id, seconds, times, None))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def calls(self, method: str | None = None) -> list[Call]:
        """Every request in arrival order (failed ones too), or those of one method."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method.lower() == method.lower()]

    # --- Telegram calling the bot's webhook ------------------------------------------------

    async def post_webhook(self, update: dict[str, Any], *, secret: str | None = None) -> tuple[int, str]:
        """POST one update to the registered webhook, with the registered secret unless `secret`."""
        delivery = await self._deliver(update, secret)
        return delivery.status, delivery.body

    async def deliver_webhook(
        self,
        update: dict[str, Any],
        *,
        retries_on_error: int = 0,
        backoff_s: float = 0.0,
        secret: str | None = None,
    ) -> list[WebhookDelivery]:
        """Deliver until a 2xx, redelivering the same update as Telegram does, pauses doubling."""
        deliveries = [await self._deliver(update, secret)]
        for attempt in range(retries_on_error):
            if deliveries[-1].ok:
                break
            await asyncio.sleep(backoff_s * 2**attempt)
            deliveries.append(await self._deliver(update, secret))
        return deliveries

    async def flush_webhook(self) -> list[WebhookDelivery]:
        """Deliver the queued updates in order; a refused one stays queued, and so do those after it."""
        deliveries = []
        for update in self.pending_updates:
            deliveries.append(await self._deliver(update, None))
            if not deliveries[-1].ok:
                break
            with self._lock:
                self._queue = [u for u in self._queue if u["update_id"] != update["update_id"]]
        return deliveries

    async def _deliver(self, update: dict[str, Any], secret: str | None) -> WebhookDelivery:
        hook = self.webhook
        if hook is None:
            raise RuntimeError("no webhook is set: the bot has not called setWebhook")
        token = hook.secret_token if secret is None else secret
        headers = {"Content-Type": "application/json"}
        if token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        error = None
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S)) as session,
                session.post(hook.url, data=json.dumps(update).encode(), headers=headers) as response,
            ):
                status, body = response.status, await response.text()
                if not 200 <= status <= 299:
                    error = f"Wrong response from the webhook: {status} {response.reason}"
        except TimeoutError:
            status, body, error = 0, "", "Read timeout expired"
        except aiohttp.ClientError as exc:
            status, body, error = 0, str(exc), "Connection refused"
        delivery = WebhookDelivery(update["update_id"], status, body, token or None, time.monotonic())
        with self._lock:
            self.webhook_deliveries.append(delivery)
            if self._webhook is not None and error:
                self._webhook.last_error_date, self._webhook.last_error_message = int(time.time()), error
        if delivery.ok:
            await self._webhook_reply(body)
        return delivery

    async def _webhook_reply(self, body: str) -> None:
        """A bot may answer a delivery with one method call; Telegram runs it and tells nobody."""
        try:
            reply = json.loads(body) if body.strip() else None
        except ValueError:
            return
        if not isinstance(reply, dict) or not isinstance(reply.get("method"), str):
            return
        method = reply.pop("method")
        if method.lower().startswith("get") or method.lower() in ("setwebhook", "deletewebhook", "close"):
            return
        raw = {k: v if isinstance(v, str) else json.dumps(v) for k, v in reply.items()}
        await self._handle(self.token, method, raw, {}, via_webhook_reply=True)

    # --- HTTP ------------------------------------------------------------------------------

    async def _serve_api(self, request: web.Request) -> web.StreamResponse:
        raw, uploads = await _read(request)
        token, method = request.match_info["token"], request.match_info["method"]
        status, payload, body = await self._handle(token, method, raw, uploads)
        if body is not None:
            return web.Response(status=status, text=body, content_type="text/html")
        retry = payload.get("parameters", {}).get("retry_after")
        headers = {"Retry-After": str(retry)} if retry else None
        return web.json_response(payload, status=status, headers=headers)

    async def _serve_file(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        with self._lock:
            self.downloads.append(path)
            found = self._paths.get(path) if request.match_info["token"] == self.token else None
        if found is None:
            return await self._not_found(request)
        return web.Response(body=found.data, content_type=found.mime_type)

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    async def _handle(
        self,
        token: str,
        method: str,
        raw: dict[str, str],
        uploads: dict[str, Upload],
        via_webhook_reply: bool = False,
    ) -> tuple[int, dict[str, Any], str | None]:
        call = Call(method, _decode(raw, uploads), uploads, token, time.monotonic(), via_webhook_reply)
        with self._lock:
            self._calls.append(call)
        body = None
        try:
            result, description = await self._answer(token, method, call.params)
            payload: dict[str, Any] = {"ok": True, "result": result}
            payload |= {"description": description} if description else {}
            call.status = 200
        except ApiError as exc:
            body = exc.parameters.pop("_body", None)
            payload = {"ok": False, "error_code": exc.status, "description": exc.description}
            payload |= {"parameters": exc.parameters} if exc.parameters else {}
            call.status = exc.status
        call.response = payload
        return call.status, payload, body

    async def _answer(self, token: str, method: str, params: dict[str, Any]) -> tuple[Any, str]:
        if token != self.token:
            # Telegram: 401 for a token of the right shape that is no bot's, 404 for any other path
            raise (
                ApiError(401, "Unauthorized")
                if re.fullmatch(r"\d+:[\w-]+", token)
                else ApiError(404, "Not Found")
            )
        handler = self._methods.get(method.lower())
        if handler is None:
            raise ApiError(404, "Not Found")
        fault = self._take_fault(method, params)
        if fault is not None:
            await self._pause(fault.delay)
            if fault.status is not None:
                extra = {"_body": fault.body} if fault.body is not None else {}
                raise ApiError(fault.status, fault.description, fault.parameters | extra)
        try:
            with self._lock:
                result = handler(params)
            if asyncio.iscoroutine(result):
                result = await result
        except Refused as exc:
            raise ApiError(400, exc.description) from None
        return result if isinstance(result, tuple) else (result, "")

    def _take_fault(self, method: str, params: dict[str, Any]) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method == method.lower() and fault.chat_id in (None, params.get("chat_id")):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    async def _pause(self, seconds: float) -> None:
        if seconds > 0 and self._closing is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), seconds)

    # --- long polling ----------------------------------------------------------------------

    def _wake(self) -> None:
        if self._poll is not None:
            self._poll.wake.set()

    def _updates_arrived(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake)  # queue_update may come from a test's thread

    def _end_poll(self, reason: str) -> None:
        if self._poll is not None:
            self._poll.ended_by = reason
            self._poll.wake.set()

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        assert self._loop is not None and self._closing is not None
        with self._lock:
            if self._webhook is not None:
                raise ApiError(409, CONFLICT_WEBHOOK)
            offset = number(params.get("offset", 0), 0, -(2**31), 2**31)
            limit = number(params.get("limit", 100), 100, 1, 100)
            timeout = number(params.get("timeout", 0), 0, 0, 50)  # the server's longest long poll
            self._set_allowed(params.get("allowed_updates"))
            found = self._take_updates(offset, limit)
            if found or timeout == 0:
                return found
            self._end_poll(CONFLICT_POLL)  # the newer long poll wins, the waiting one is answered 409
            poll = self._poll = _Poll()
        deadline = self._loop.time() + timeout
        try:
            while True:
                with self._lock:
                    if poll.ended_by:
                        raise ApiError(409, poll.ended_by)
                    found = self._take_updates(0, limit)
                    if found or self._closing.is_set() or self._loop.time() >= deadline:
                        return found
                    poll.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(poll.wake.wait(), deadline - self._loop.time())
        finally:
            with self._lock:
                if self._poll is poll:
                    self._poll = None


@contextlib.asynccontextmanager
async def telegram_api(token: str = DEFAULT_TOKEN, **options: Any) -> AsyncIterator[FakeTelegram]:
    """The fake on this loop. Options: username, first_name, strict, known_chats_only."""
    fake = await FakeTelegram(token, **options).start()
    try:
        yield fake
    finally:
        await fake.close()


@contextlib.contextmanager
def run_in_thread(token: str = DEFAULT_TOKEN, **options: Any) -> Iterator[FakeTelegram]:
    """The fake on its own loop in a thread, for a bot in another process or on another loop."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-telegram", daemon=True)
    thread.start()
    fake = FakeTelegram(token, **options)
    try:
        asyncio.run_coroutine_threadsafe(fake.start(), loop).result(30)
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
