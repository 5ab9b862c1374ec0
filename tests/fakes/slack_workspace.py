"""A fake Slack workspace on 127.0.0.1: the Web API our desk calls through slack_sdk, and
Slack's side of the requests it sends our app (signed events, button presses, modal
submissions, slash commands), so slack-bolt is exercised as it runs in production.

    async with slack_workspace() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)

What is modelled, because our bugs would show there: the token (invalid_auth), channels
the bot is not in (channel_not_found, not_in_channel), Block Kit limits Slack enforces
(invalid_blocks), modals opened only with a fresh, unused trigger_id (expired_trigger_id),
429 with Retry-After, and v0 request signatures. Messages keep their edits, so a test reads
what staff would see.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

BOT_TOKEN = "xoxb-1-fake-bot-token"
SIGNING_SECRET = "fake-signing-secret-0123456789"
APP_TOKEN = "xapp-1-fake-app-token"
TEAM = "T0CITY"
BOT_USER = "U0BOT"
BOT_ID = "B0BOT"
TRIGGER_LIFETIME_S = 3.0
BLOCK_TYPES = frozenset(
    {"section", "actions", "context", "divider", "header", "image", "input", "rich_text", "file"}
)


class SlackError(Exception):
    def __init__(self, error: str, status: int = 200, headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.error, self.status, self.headers = error, status, headers or {}


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    user: str = BOT_USER
    bot_id: str | None = BOT_ID
    unfurl_links: Any = None
    unfurl_media: Any = None
    edits: list[dict[str, Any]] = field(default_factory=list)  # earlier versions, oldest first

    def buttons(self) -> list[dict[str, Any]]:
        return [
            dict(e, block_id=b.get("block_id"))
            for b in self.blocks
            if b.get("type") == "actions"
            for e in b.get("elements", [])
        ]

    def button(self, label: str) -> dict[str, Any]:
        for b in self.buttons():
            if b["text"]["text"] == label:
                return b
        raise AssertionError(
            f"no button {label!r} on {self.text!r}: {[b['text']['text'] for b in self.buttons()]}"
        )

    def words(self) -> str:
        """All the text staff see in it, blocks included."""
        found: list[str] = [self.text]

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if isinstance(node.get("text"), str):
                    found.append(node["text"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(self.blocks)
        return "\n".join(found)


@dataclass
class Fault:
    error: str | None
    status: int
    retry_after: float | None
    times: int


class FakeSlack:
    def __init__(self, *, bot_token: str = BOT_TOKEN, signing_secret: str = SIGNING_SECRET) -> None:
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        self.app_token = APP_TOKEN
        self.team = TEAM
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages_by_channel: dict[str, list[Message]] = {}
        self.calls: list[tuple[str, dict[str, Any], float]] = []
        self.opened_views: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []  # what was posted to response_urls
        self.faults: dict[str, list[Fault]] = {}
        self._triggers: dict[str, float] = {}
        self._clock = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.add_user("U0JANE", "jane", "Jane Doe")

    # -- the workspace --------------------------------------------------------------

    def add_user(self, user_id: str, name: str, real_name: str, *, team_id: str = TEAM) -> dict[str, Any]:
        user = {
            "id": user_id,
            "team_id": team_id,
            "name": name,
            "real_name": real_name,
            "is_bot": False,
            "deleted": False,
            "profile": {"real_name": real_name, "display_name": name},
        }
        self.users[user_id] = user
        return user

    def add_channel(self, channel_id: str, name: str, *, bot_member: bool = True) -> None:
        self.channels[channel_id] = {"id": channel_id, "name": name, "is_member": bot_member}
        self.messages_by_channel.setdefault(channel_id, [])

    def fail_next(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        retry_after: float | None = None,
        times: int = 1,
    ) -> None:
        self.faults.setdefault(method, []).append(Fault(error, status, retry_after, times))

    def messages(self, channel: str) -> list[Message]:
        """The channel's top-level messages, oldest first."""
        return [m for m in self.messages_by_channel.get(channel, []) if m.thread_ts in (None, m.ts)]

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The replies in a message's thread, oldest first."""
        return [m for m in self.messages_by_channel.get(channel, []) if m.thread_ts == ts and m.ts != ts]

    def message(self, channel: str, ts: str) -> Message:
        return next(m for m in self.messages_by_channel[channel] if m.ts == ts)

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params, _ in self.calls if name == method]

    async def wait_for(self, check: Callable[[], Any], timeout: float = 20.0) -> Any:
        """Until `check()` gives something true (then that), as the workspace changes."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                while not (found := check()):
                    await self._changed.wait()
                return found

    # -- serving --------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # slack_sdk reads some methods with GET
        app.router.add_post("/response/{id}", self._response_url)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _changed_now(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _response_url(self, request: web.Request) -> web.Response:
        self.responses.append(await request.json())
        await self._changed_now()
        return web.json_response({"ok": True})

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.method == "GET":
            params: dict[str, Any] = dict(request.query)
        elif request.content_type == "application/json":
            params = await request.json()
        else:
            params = dict(await request.post())
            for key in ("blocks", "view"):
                if isinstance(params.get(key), str):
                    params[key] = json.loads(params[key])
        self.calls.append((method, params, time.monotonic()))
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip() or params.get(
            "token"
        )
        try:
            fault = self._fault(method)
            if fault is not None:
                raise fault
            if not token:
                raise SlackError("not_authed")
            if token != (self.app_token if method == "apps.connections.open" else self.bot_token):
                raise SlackError("invalid_auth")
            handler = getattr(self, "_" + method.replace(".", "_"), None)
            if handler is None:
                raise SlackError("unknown_method", status=404)
            body = {"ok": True, **handler(params)}
        except SlackError as exc:
            return web.json_response(
                {"ok": False, "error": exc.error}, status=exc.status, headers=exc.headers
            )
        await self._changed_now()
        return web.json_response(body)

    def _fault(self, method: str) -> SlackError | None:
        queue = self.faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        headers = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after is not None else {}
        error = fault.error or ("ratelimited" if fault.status == 429 else "internal_error")
        return SlackError(error, fault.status, headers)

    # -- methods --------------------------------------------------------------------

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://city.slack.example/",
            "team": "City",
            "user": "civic311",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(params.get("user")))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user}

    def _channel(self, params: dict[str, Any]) -> str:
        channel = str(params.get("channel") or "")
        if channel not in self.channels:
            raise SlackError("channel_not_found")
        if not self.channels[channel]["is_member"]:
            raise SlackError("not_in_channel")
        return channel

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - Slack's name
        channel = self._channel(params)
        text, blocks = str(params.get("text") or ""), _blocks(params.get("blocks"))
        _check_message(text, blocks)
        thread_ts = params.get("thread_ts")
        if thread_ts and not any(m.ts == thread_ts for m in self.messages_by_channel[channel]):
            raise SlackError("thread_not_found")
        ts = f"1700000000.{next(self._clock):06d}"
        message = Message(
            channel,
            ts,
            text,
            blocks,
            thread_ts=str(thread_ts) if thread_ts else None,
            unfurl_links=params.get("unfurl_links"),
            unfurl_media=params.get("unfurl_media"),
        )
        self.messages_by_channel[channel].append(message)
        return {"channel": channel, "ts": ts, "message": {"text": text, "ts": ts, "blocks": blocks}}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        found = [m for m in self.messages_by_channel[channel] if m.ts == params.get("ts")]
        if not found:
            raise SlackError("message_not_found")
        message = found[0]
        text, blocks = str(params.get("text") or ""), _blocks(params.get("blocks"))
        _check_message(text, blocks)
        message.edits.append({"text": message.text, "blocks": message.blocks})
        message.text, message.blocks = text, blocks
        return {"channel": channel, "ts": message.ts, "text": text}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger = str(params.get("trigger_id") or "")
        issued = self._triggers.pop(trigger, None)
        if issued is None:
            raise SlackError("invalid_trigger_id")
        if time.monotonic() - issued > TRIGGER_LIFETIME_S:
            raise SlackError("expired_trigger_id")
        view = params.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        _check_view(view)
        opened = dict(view, id=f"V{len(self.opened_views) + 1:04d}")
        self.opened_views.append(opened)
        return {"view": opened}

    # -- Slack's requests to the app --------------------------------------------------

    def sign(self, body: str, *, timestamp: int | None = None, secret: str | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        base = f"v0:{stamp}:{body}".encode()
        digest = hmac.new((secret or self.signing_secret).encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}

    async def _send(
        self,
        url: str,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        sent = {
            "Content-Type": content_type,
            **self.sign(body, timestamp=timestamp, secret=secret),
            **(headers or {}),
        }
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, data=body.encode(), headers=sent) as response,
        ):
            return response.status, await response.text()

    def _trigger(self) -> str:
        trigger = f"{next(self._clock)}.{int(time.time())}.fake{len(self._triggers)}"
        self._triggers[trigger] = time.monotonic()
        return trigger

    def _user(self, user_id: str) -> dict[str, Any]:
        user = self.users[user_id]
        return {"id": user_id, "username": user["name"], "name": user["name"], "team_id": user["team_id"]}

    async def send_event(
        self,
        url: str,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        team_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> tuple[int, str]:
        envelope = {
            "token": "deprecated-verification-token",
            "team_id": team_id or self.team,
            "api_app_id": "A0CIVIC",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._clock):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": self.team, "user_id": BOT_USER, "is_bot": True}],
        }
        headers = (
            {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} if retry_num else {}
        )
        return await self._send(
            url, json.dumps(envelope), "application/json", timestamp=timestamp, secret=secret, headers=headers
        )

    def thread_message(self, channel: str, user: str, text: str, thread_ts: str) -> dict[str, Any]:
        """A staff member's message in a thread, as the `message` event carries it (and the
        workspace shows it)."""
        ts = f"1700000000.{next(self._clock):06d}"
        self.messages_by_channel[channel].append(
            Message(channel, ts, text, [], thread_ts, user=user, bot_id=None)
        )
        return {
            "type": "message",
            "channel": channel,
            "channel_type": "channel",
            "user": user,
            "text": text,
            "ts": ts,
            "thread_ts": thread_ts,
            "team": self.team,
        }

    async def url_verification(self, url: str, *, secret: str | None = None) -> tuple[int, str]:
        body = json.dumps({"token": "x", "challenge": "ch4llenge-311", "type": "url_verification"})
        return await self._send(url, body, "application/json", secret=secret)

    async def press(
        self, url: str, message: Message, label: str, *, user: str = "U0JANE", timestamp: int | None = None
    ) -> tuple[int, str]:
        """A staff member presses a button of a message, as Slack sends it (block_actions)."""
        pressed = message.button(label)
        payload = {
            "type": "block_actions",
            "team": {"id": self.users[user]["team_id"], "domain": "city"},
            "user": self._user(user),
            "api_app_id": "A0CIVIC",
            "token": "deprecated-verification-token",
            "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel},
            "trigger_id": self._trigger(),
            "channel": {"id": message.channel, "name": self.channels[message.channel]["name"]},
            "message": {"ts": message.ts, "text": message.text, "blocks": message.blocks},
            "response_url": f"{self.url}/response/{next(self._clock)}",
            "actions": [
                {
                    "action_id": pressed["action_id"],
                    "block_id": pressed.get("block_id") or "b",
                    "value": pressed.get("value", ""),
                    "type": "button",
                    "text": pressed["text"],
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return await self._send(
            url,
            urlencode({"payload": json.dumps(payload)}),
            "application/x-www-form-urlencoded",
            timestamp=timestamp,
        )

    async def submit(
        self, url: str, values: dict[str, Any], *, view: dict[str, Any] | None = None, user: str = "U0JANE"
    ) -> tuple[int, str]:
        """Submit a modal (the last opened, unless given): `values` by block id, a string for a
        text input, or {"option": value} for a select or radio buttons."""
        view = view or self.opened_views[-1]
        state: dict[str, dict[str, Any]] = {}
        for block in view["blocks"]:
            if block.get("type") != "input":
                continue
            element = block["element"]
            given = values.get(block["block_id"])
            if element["type"] == "plain_text_input":
                text = given if given is not None else element.get("initial_value")
                state[block["block_id"]] = {element["action_id"]: {"type": element["type"], "value": text}}
            else:
                option = element.get("initial_option")
                if isinstance(given, dict):
                    option = next(o for o in element["options"] if o["value"] == given["option"])
                state[block["block_id"]] = {
                    element["action_id"]: {"type": element["type"], "selected_option": option}
                }
        payload = {
            "type": "view_submission",
            "team": {"id": self.users[user]["team_id"], "domain": "city"},
            "user": self._user(user),
            "api_app_id": "A0CIVIC",
            "token": "deprecated-verification-token",
            "trigger_id": self._trigger(),
            "view": {
                "id": view["id"],
                "type": "modal",
                "callback_id": view["callback_id"],
                "private_metadata": view.get("private_metadata", ""),
                "blocks": view["blocks"],
                "state": {"values": state},
                "hash": "156772938.1827394",
            },
        }
        return await self._send(
            url, urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )

    async def command(
        self, url: str, text: str, *, user: str = "U0JANE", command: str = "/civic311"
    ) -> tuple[int, str]:
        form = {
            "token": "deprecated-verification-token",
            "team_id": self.users[user]["team_id"],
            "channel_id": "C0STAFF",
            "user_id": user,
            "user_name": self.users[user]["name"],
            "command": command,
            "text": text,
            "api_app_id": "A0CIVIC",
            "response_url": f"{self.url}/response/{next(self._clock)}",
            "trigger_id": self._trigger(),
        }
        return await self._send(url, urlencode(form), "application/x-www-form-urlencoded")


def _blocks(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = json.loads(raw)
    if not isinstance(raw, list):
        raise SlackError("invalid_blocks_format")
    return raw


def _check_message(text: str, blocks: list[dict[str, Any]]) -> None:
    if not text and not blocks:
        raise SlackError("no_text")
    if len(text) > 40_000:
        raise SlackError("msg_too_long")
    _check_blocks(blocks, limit=50)


def _check_view(view: dict[str, Any]) -> None:
    for key in ("title", "submit", "close"):
        if key in view and len(view[key]["text"]) > 24:
            raise SlackError("invalid_arguments")
    if len(view.get("private_metadata", "")) > 3000 or len(view.get("callback_id", "")) > 255:
        raise SlackError("invalid_arguments")
    _check_blocks(view.get("blocks", []), limit=100)


def _check_blocks(blocks: list[dict[str, Any]], *, limit: int) -> None:
    if len(blocks) > limit:
        raise SlackError("invalid_blocks")
    ids: set[str] = set()
    for block in blocks:
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            raise SlackError("invalid_blocks")
        if "block_id" in block:
            if block["block_id"] in ids or len(block["block_id"]) > 255:
                raise SlackError("invalid_blocks")
            ids.add(block["block_id"])
        if kind == "section":
            if "text" not in block and "fields" not in block:
                raise SlackError("invalid_blocks")
            if len(block.get("text", {}).get("text", "")) > 3000 or len(block.get("fields", [])) > 10:
                raise SlackError("invalid_blocks")
            if any(len(f["text"]) > 2000 for f in block.get("fields", [])):
                raise SlackError("invalid_blocks")
        elif kind == "header" and len(block["text"]["text"]) > 150:
            raise SlackError("invalid_blocks")
        elif kind == "actions":
            elements = block.get("elements", [])
            if not elements or len(elements) > 25:
                raise SlackError("invalid_blocks")
            for element in elements:
                if element.get("type") == "button" and (
                    len(element["text"]["text"]) > 75
                    or len(element.get("action_id", "")) > 255
                    or len(element.get("value", "")) > 2000
                ):
                    raise SlackError("invalid_blocks")
        elif kind == "image" and not (block.get("image_url") and block.get("alt_text")):
            raise SlackError("invalid_blocks")
        elif kind == "context" and not 0 < len(block.get("elements", [])) <= 10:
            raise SlackError("invalid_blocks")


@asynccontextmanager
async def slack_workspace(**kw: Any) -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(**kw)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()
