"""A fake Slack on 127.0.0.1: the Web API for the real slack_sdk, and Slack's side towards our app.

Our Slack channel is tested through the libraries it ships with (slack_sdk's AsyncWebClient,
slack_bolt's AsyncApp and AsyncSocketModeHandler), so what they really send (JSON for chat.* and
views.*, query strings for users.info, the token as a bearer header) and how they turn answers
into exceptions (ok:false → SlackApiError, 429 with Retry-After) are exercised, not imagined.

    async with FakeSlack() as fake:
        client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)

The other direction is Slack calling the app: `send_event`, `press_button`, `submit_view` and
`slash_command` POST payloads signed with the signing secret exactly as Slack signs them, or
(`socket_*`) push them through a Socket Mode websocket and return the app's ack. trigger_ids
and response_urls in those payloads are the fake's own, so a views.open or a response_url post
that follows is checked and recorded. slack_state.py is what the methods do, slack_blocks.py
which blocks and views Slack refuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import secrets
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from tests.fakes.slack_blocks import Invalid, check_blocks, with_ids
from tests.fakes.slack_state import ApiError, Channel, SlackState, User, api_message

__all__ = ["Ack", "ApiError", "Call", "Channel", "FakeSlack", "Reply", "ResponsePost", "User"]

T = TypeVar("T")
# Sent as JSON strings in form bodies; decoded so a call records what the caller meant.
_JSON_FIELDS = frozenset(("blocks", "attachments", "view", "metadata"))
_BOOL_FIELDS = frozenset(
    ("reply_broadcast", "unfurl_links", "unfurl_media", "mrkdwn", "as_user", "link_names")
)
_APP_TOKEN_METHODS = frozenset(("apps.connections.open",))
SLACK_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


@dataclass
class Call:
    """One Web API request as the fake decoded it. Unpacks as (method, params, at)."""

    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() on arrival
    token: str | None = None
    status: int = 0
    response: dict[str, Any] | None = None

    def __iter__(self) -> Any:
        return iter((self.method, self.params, self.at))


@dataclass(frozen=True)
class Reply:
    """The app's HTTP answer to something the fake sent it (status 0: no answer in time)."""

    status: int
    headers: CIMultiDict[str]
    body: str
    sent: dict[str, Any]  # the envelope or payload the fake sent
    timed_out: bool = False

    def json(self) -> Any:
        return json.loads(self.body) if self.body.strip() else None


@dataclass(frozen=True)
class Ack:
    """The app's Socket Mode acknowledgement of an envelope (acked False: none in time)."""

    envelope_id: str
    payload: dict[str, Any] | None
    acked: bool
    sent: dict[str, Any]


@dataclass(frozen=True)
class ResponsePost:
    """A POST to a response_url the fake handed out."""

    url: str
    body: dict[str, Any]
    at: float


@dataclass
class _Fault:
    method: str
    error: str
    status: int
    retry_after: int | None
    channel: str | None
    times: int | None  # None: until clear_faults()


@dataclass
class _ResponseUrl:
    channel: str
    user: str
    message_ts: str | None  # set when it came with a button press on a message


@dataclass
class _Socket:
    id: str
    ws: web.WebSocketResponse
    acks: dict[str, asyncio.Future[dict[str, Any] | None]] = field(default_factory=dict)


def _decode(raw: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, value in raw.items():
        if isinstance(value, str) and name in _JSON_FIELDS:
            with contextlib.suppress(ValueError):  # else left a string, refused as Slack would
                value = json.loads(value)
        elif isinstance(value, str) and name in _BOOL_FIELDS:
            value = value.lower() in ("1", "true")
        params[name] = value
    return params


class FakeSlack(SlackState):
    def __init__(
        self,
        bot_token: str = "xoxb-test-token",
        signing_secret: str = "test-signing-secret",
        app_token: str = "xapp-test-token",
        *,
        team_id: str = "T0CITY",
        team_domain: str = "civic-city",
        trigger_ttl: float = 3.0,
        ack_timeout: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            bot_token=bot_token,
            app_token=app_token,
            signing_secret=signing_secret,
            team_id=team_id,
            team_domain=team_domain,
            trigger_ttl=trigger_ttl,
            clock=clock,
        )
        self.ack_timeout = ack_timeout  # Slack gives an app 3 s to answer or ack, then retries
        self.url = self.api_url = ""
        self.calls: list[Call] = []
        self.deliveries: list[Reply] = []
        self.acks: list[Ack] = []
        self.responses: list[ResponsePost] = []
        self.socket_connections = 0  # websockets accepted so far
        self._faults: list[_Fault] = []
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._tickets: set[str] = set()
        self._sockets: list[_Socket] = []
        self._changed = asyncio.Condition()
        self._events = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._methods = self.methods()

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._serve_api)
        app.router.add_get("/socket/{ticket}", self._serve_socket)
        app.router.add_post("/response/{id}", self._serve_response_url)
        self._runner = web.AppRunner(app, shutdown_timeout=2)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self.api_url = f"{self.url}/api/"
        return self

    async def close(self) -> None:
        for socket in list(self._sockets):
            await socket.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # --- scripted faults, records, waiting -------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        retry_after: int | None = None,
        times: int | None = 1,
        channel: str | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` (to `channel` only, if given) with an error.

        status=429 answers {"ok": false, "error": "ratelimited"} with Retry-After (default 1);
        a 5xx answers "internal_error" unless `error`; status=200 needs `error`, e.g. "channel_not_found"."""
        if error is None:
            error = {429: "ratelimited"}.get(status, "internal_error" if status >= 500 else "fatal_error")
        if status == 429 and retry_after is None:
            retry_after = 1
        self._faults.append(_Fault(method, error, status, retry_after, channel, times))

    def clear_faults(self) -> None:
        self._faults.clear()

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 10) -> T:  # noqa: ASYNC109
        """Wait until predicate() is truthy, re-checked whenever the fake's state changes; returns it."""
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    return await self._changed.wait_for(predicate)
            except TimeoutError:
                raise TimeoutError(f"still false after {timeout} s: {predicate}") from None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # --- the Web API -----------------------------------------------------------------------

    async def _serve_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        raw: dict[str, Any] = dict(request.query)
        token_in_body = None
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                return web.json_response({"ok": False, "error": "invalid_json"})
            # Slack ignores a token in a JSON body: it must come as a bearer header.
            raw |= {k: v for k, v in (body if isinstance(body, dict) else {}).items() if k != "token"}
        else:
            raw |= {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        token_in_body = raw.pop("token", None)
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.startswith("Bearer ") else token_in_body
        call = Call(method, _decode(raw), time.monotonic(), token)
        self.calls.append(call)
        headers = {"X-OAuth-Scopes": "chat:write,commands,users:read,channels:read,channels:join"}
        try:
            result = self._answer(method, token, call.params, request)
            payload: dict[str, Any] = {"ok": True, **result}
            call.status = 200
        except ApiError as exc:
            payload = {"ok": False, "error": exc.error, **exc.extra}
            call.status = exc.status
            headers |= exc.headers
        call.response = payload
        await self._notify()
        return web.json_response(payload, status=call.status, headers=headers)

    def _answer(
        self, method: str, token: str | None, params: dict[str, Any], request: web.Request
    ) -> dict[str, Any]:
        if method not in self._methods and method not in _APP_TOKEN_METHODS:
            raise ApiError("unknown_method", extra={"req_method": method})
        if not token:
            raise ApiError("not_authed")
        if token not in (self.bot_token, self.app_token):
            raise ApiError("invalid_auth")
        if (token == self.app_token) != (method in _APP_TOKEN_METHODS):
            raise ApiError("not_allowed_token_type")
        fault = self._take_fault(method, params)
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            raise ApiError(fault.error, status=fault.status, headers=headers)
        if method == "apps.connections.open":
            ticket = secrets.token_hex(16)
            self._tickets.add(ticket)
            return {"url": f"ws://{request.host}/socket/{ticket}"}
        return self._methods[method](params)

    def _take_fault(self, method: str, params: dict[str, Any]) -> _Fault | None:
        for fault in self._faults:
            if fault.method == method and fault.channel in (None, params.get("channel")):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    # --- response_url ----------------------------------------------------------------------

    def _new_response_url(self, channel: str, user: str, message_ts: str | None) -> str:
        key = secrets.token_hex(12)
        self._response_urls[key] = _ResponseUrl(channel, user, message_ts)
        return f"{self.url}/response/{key}"

    async def _serve_response_url(self, request: web.Request) -> web.StreamResponse:
        target = self._response_urls.get(request.match_info["id"])
        if target is None:
            return web.json_response({"ok": False, "error": "invalid_url"}, status=404)
        try:
            body = json.loads(await request.text())
        except ValueError:
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        self.responses.append(ResponsePost(str(request.url), body, time.monotonic()))
        try:
            self._respond(target, body if isinstance(body, dict) else {})
            answer: dict[str, Any] = {"ok": True}
            status = 200
        except ApiError as exc:
            answer, status = {"ok": False, "error": exc.error, **exc.extra}, 400
        await self._notify()
        return web.json_response(answer, status=status)

    def _respond(self, target: _ResponseUrl, body: dict[str, Any]) -> None:
        """What Slack does with a response_url post: replace, delete, or post (ephemeral by default)."""
        original = self._find(target.channel, target.message_ts) if target.message_ts else None
        if original is not None and str(body.get("delete_original")).lower() == "true":
            self._messages[target.channel].remove(original)
            self.deleted.append(original)
            return
        blocks = None
        if body.get("blocks") is not None:
            try:
                check_blocks(body["blocks"])
            except Invalid as invalid:
                raise ApiError.refused(invalid) from None
            blocks = with_ids(body["blocks"])
        if original is not None and str(body.get("replace_original")).lower() == "true":
            self.edit(original, body, blocks)
        elif body.get("response_type") == "in_channel":
            self.post(self.channels.get(target.channel) or Channel(target.channel, ""), body, blocks)
        else:
            ephemeral = {"channel": target.channel, "user": target.user, "ts": self.new_ts()}
            self.ephemerals.append(ephemeral | {"text": body.get("text", ""), "blocks": blocks or []})

    # --- Slack calling the app over HTTP ---------------------------------------------------

    def sign(self, body: str, timestamp: str, secret: str | None = None) -> str:
        """X-Slack-Signature for a body: v0= and the hex HMAC-SHA256 of "v0:{timestamp}:{body}"."""
        key = (secret if secret is not None else self.signing_secret).encode()
        digest = hmac.new(key, f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
        return f"v0={digest}"

    async def post_signed(
        self,
        url: str,
        body: str,
        content_type: str,
        sent: dict[str, Any],
        *,
        headers: dict[str, str] | None = None,
        timestamp: float | None = None,
        secret: str | None = None,
    ) -> Reply:
        stamp = str(int(time.time() if timestamp is None else timestamp))
        all_headers = {
            "Content-Type": content_type,
            "User-Agent": SLACK_USER_AGENT,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": self.sign(body, stamp, secret),
            **(headers or {}),
        }
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.ack_timeout)) as session,
                session.post(url, data=body.encode(), headers=all_headers) as response,
            ):
                reply = Reply(response.status, CIMultiDict(response.headers), await response.text(), sent)
        except TimeoutError:
            reply = Reply(0, CIMultiDict(), "", sent, timed_out=True)
        self.deliveries.append(reply)
        await self._notify()
        return reply

    async def _post_form(self, url: str, fields: dict[str, str], sent: dict[str, Any], **kw: Any) -> Reply:
        body = urllib.parse.urlencode(fields)
        return await self.post_signed(url, body, "application/x-www-form-urlencoded", sent, **kw)

    def message_event(
        self, channel: str, user: str, text: str, thread_ts: str | None = None, ts: str | None = None
    ) -> dict[str, Any]:
        """A resident's message event, in a thread if thread_ts; the fake keeps it once it is sent."""
        ts = ts or self.new_ts()
        event: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "user": user,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            "team": self.team_id,
            "client_msg_id": str(uuid.uuid4()),
            "channel_type": "im" if channel.startswith("D") else "channel",
            "blocks": [
                {
                    "type": "rich_text",
                    "block_id": secrets.token_hex(2),
                    "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
                }
            ],
        }
        if thread_ts is not None:
            parent = self._find(channel, thread_ts)
            event |= {
                "thread_ts": thread_ts,
                "parent_user_id": parent["user"] if parent else self.bot_user_id,
            }
        return event

    def event_envelope(self, event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        """The event_callback body Slack wraps an event in (Events API and Socket Mode alike)."""
        event = dict(event)
        event.setdefault("event_ts", f"{time.time():.6f}")
        return {
            "token": "fake-verification-token",
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev0{next(self._events):08d}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{secrets.token_hex(12)}",
        }

    def _keep_message(self, event: dict[str, Any]) -> None:
        if (
            event.get("type") == "message"
            and "subtype" not in event
            and event.get("ts")
            and event.get("channel")
        ):
            kept = {k: event.get(k) for k in ("type", "user", "text", "ts", "team", "blocks", "thread_ts")}
            self.store(event["channel"], kept | {"parent_user_id": event.get("parent_user_id")})

    async def send_event(
        self,
        url: str,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        timestamp: float | None = None,
        secret: str | None = None,
    ) -> Reply:
        """POST an event_callback; a retry (retry_num) carries X-Slack-Retry-Num/-Reason."""
        envelope = self.event_envelope(event, event_id=event_id)
        self._keep_message(event)
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        body = json.dumps(envelope)
        kw: dict[str, Any] = {"headers": headers, "timestamp": timestamp, "secret": secret}
        return await self.post_signed(url, body, "application/json", envelope, **kw)

    async def url_verification(self, url: str) -> Reply:
        """The challenge Slack sends when the Request URL is set; `reply.sent["challenge"]` to compare."""
        sent = {
            "token": "fake-verification-token",
            "challenge": secrets.token_urlsafe(24),
            "type": "url_verification",
        }
        return await self.post_signed(url, json.dumps(sent), "application/json", sent)

    def _user(self, user: str) -> dict[str, Any]:
        known = self.users.get(user)
        name = known.name if known else user
        return {"id": user, "username": name, "name": name, "team_id": self.team_id}

    def _team(self) -> dict[str, Any]:
        return {"id": self.team_id, "domain": self.team_domain}

    def _action(
        self, message: dict[str, Any], action_id: str, block_id: str | None, value: str | None
    ) -> dict[str, Any]:
        for block in message.get("blocks") or []:
            if block_id is not None and block.get("block_id") != block_id:
                continue
            for el in [block.get("accessory"), *(block.get("elements") or [])]:
                if isinstance(el, dict) and el.get("action_id") == action_id:
                    action = {"action_id": action_id, "block_id": block["block_id"], "type": el["type"]}
                    action["action_ts"] = f"{time.time():.6f}"
                    if el["type"] != "button":
                        options = el.get("options") or []
                        option = next((o for o in options if o.get("value") == value), None)
                        return action | {"selected_option": option}
                    return action | {
                        "text": el.get("text"),
                        "value": el.get("value") if value is None else value,
                    }
        raise LookupError(f"no element with action_id {action_id!r} in message {message.get('ts')}")

    def block_actions_payload(
        self,
        *,
        channel: str,
        message_ts: str,
        action_id: str,
        user: str,
        value: str | None = None,
        block_id: str | None = None,
    ) -> dict[str, Any]:
        """A block_actions payload for a press on a stored message's element (value: the element's own)."""
        message = self._find(channel, message_ts)
        if message is None:
            raise LookupError(f"no message {message_ts} in {channel}")
        known = self.channels.get(channel)
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        }
        if message.get("thread_ts"):
            container["thread_ts"] = message["thread_ts"]
        return {
            "type": "block_actions",
            "user": self._user(user),
            "api_app_id": self.app_id,
            "token": "fake-verification-token",
            "container": container,
            "trigger_id": self.new_trigger_id(),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": known.name if known else ""},
            "message": api_message(message),
            "state": {"values": {}},
            "response_url": self._new_response_url(channel, user, message_ts),
            "actions": [self._action(message, action_id, block_id, value)],
        }

    async def press_button(
        self,
        url: str,
        *,
        channel: str,
        message_ts: str,
        action_id: str,
        user: str,
        value: str | None = None,
        block_id: str | None = None,
    ) -> Reply:
        payload = self.block_actions_payload(
            channel=channel,
            message_ts=message_ts,
            action_id=action_id,
            user=user,
            value=value,
            block_id=block_id,
        )
        return await self._post_form(url, {"payload": json.dumps(payload)}, payload)

    def view_submission_payload(
        self,
        *,
        user: str,
        view_id: str | None = None,
        callback_id: str | None = None,
        private_metadata: str | None = None,
        values: dict[str, dict[str, dict[str, Any]]] | None = None,
    ) -> dict[str, Any]:
        """A view_submission of a view the fake opened (view_id), or of one made up from the arguments."""
        if view_id is not None:
            if view_id not in self.views:
                raise LookupError(f"no view {view_id} was opened")
            view = dict(self.views[view_id])
        else:
            title = {"type": "plain_text", "text": "Form"}
            view = self._store_view({"type": "modal", "title": title, "blocks": []})
        if callback_id is not None:
            view["callback_id"] = callback_id
        if private_metadata is not None:
            view["private_metadata"] = private_metadata
        view["state"] = {"values": values or {}}
        return {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user),
            "api_app_id": self.app_id,
            "token": "fake-verification-token",
            "trigger_id": self.new_trigger_id(),
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }

    def _after_submission(self, view_id: str, answer: Any) -> None:
        """Slack closes a submitted modal unless the app answers errors, update or push."""
        action = answer.get("response_action") if isinstance(answer, dict) else None
        if action == "update" and isinstance(answer.get("view"), dict):
            self._store_view(answer["view"], id=view_id, previous=self.views[view_id]["previous_view_id"])
        elif action == "push" and isinstance(answer.get("view"), dict):
            self.opened_views.append(self._store_view(answer["view"], previous=view_id))
        elif action == "clear":
            self.closed_views.update(v["id"] for v in self.opened_views)
        elif action != "errors":
            self.closed_views.add(view_id)

    async def submit_view(
        self,
        url: str,
        *,
        user: str,
        view_id: str | None = None,
        callback_id: str | None = None,
        private_metadata: str | None = None,
        values: dict[str, dict[str, dict[str, Any]]] | None = None,
    ) -> Reply:
        payload = self.view_submission_payload(
            user=user,
            view_id=view_id,
            callback_id=callback_id,
            private_metadata=private_metadata,
            values=values,
        )
        reply = await self._post_form(url, {"payload": json.dumps(payload)}, payload)
        if reply.status == 200:
            with contextlib.suppress(ValueError):
                self._after_submission(payload["view"]["id"], reply.json())
        return reply

    def last_open_view(self) -> dict[str, Any]:
        for view in reversed(self.opened_views):
            if view["id"] not in self.closed_views:
                return self.views[view["id"]]
        raise LookupError("no view is open: the app has not called views.open")

    def state_values(self, view: dict[str, Any], inputs: dict[str, Any] | None = None) -> dict[str, Any]:
        """view.state.values as Slack fills them: `inputs` by block_id or action_id, else initial values."""
        inputs = dict(inputs or {})
        values: dict[str, Any] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            el, block_id = block["element"], block["block_id"]
            action_id, kind = el["action_id"], el["type"]
            given = inputs.pop(block_id, inputs.pop(action_id, None))
            if kind in ("static_select", "radio_buttons", "external_select"):
                options = el.get("options") or []
                chosen = next((o for o in options if o.get("value") == given), el.get("initial_option"))
                state: dict[str, Any] = {"selected_option": chosen}
            elif kind in ("checkboxes", "multi_static_select"):
                wanted = [given] if isinstance(given, str) else list(given or [])
                chosen_all = [o for o in el.get("options") or [] if o.get("value") in wanted]
                state = {"selected_options": chosen_all or el.get("initial_options", [])}
            elif kind in ("users_select", "conversations_select", "channels_select"):
                state = {f"selected_{kind.split('_')[0].rstrip('s')}": given}
            elif kind in ("datepicker", "timepicker"):
                state = {f"selected_{kind[:-6]}": given}
            else:
                state = {"value": given if given is not None else el.get("initial_value")}
            if not block.get("optional") and all(v in (None, []) for v in state.values()):
                raise ValueError(
                    f"required input {block_id}/{action_id} has no value: Slack would not submit"
                )
            values[block_id] = {action_id: {"type": kind, **state}}
        if inputs:
            raise LookupError(f"no input block or action_id {sorted(inputs)} in view {view.get('id')}")
        return values

    async def submit_last_view(self, url: str, *, user: str, inputs: dict[str, Any] | None = None) -> Reply:
        """Submit the newest open modal the app opened, its inputs filled from `inputs`."""
        view = self.last_open_view()
        return await self.submit_view(
            url, user=user, view_id=view["id"], values=self.state_values(view, inputs)
        )

    def slash_command_payload(self, *, command: str, text: str, user: str, channel: str) -> dict[str, str]:
        known = self.channels.get(channel)
        return {
            "token": "fake-verification-token",
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel,
            "channel_name": known.name if known else "directmessage",
            "user_id": user,
            "user_name": self._user(user)["name"],
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": self._new_response_url(channel, user, None),
            "trigger_id": self.new_trigger_id(),
        }

    async def slash_command(self, url: str, *, command: str, text: str, user: str, channel: str) -> Reply:
        payload = self.slash_command_payload(command=command, text=text, user=user, channel=channel)
        return await self._post_form(url, payload, dict(payload))

    # --- Socket Mode -----------------------------------------------------------------------

    def _open_socket(self) -> _Socket | None:
        live = [s for s in self._sockets if not s.ws.closed]
        return live[-1] if live else None

    async def _serve_socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.match_info["ticket"]
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        self._tickets.discard(ticket)  # a Socket Mode URL is good for one connection
        ws = web.WebSocketResponse(autoping=True)  # answers the SDK's pings with pongs
        await ws.prepare(request)
        socket = _Socket(ticket, ws)
        hello = {
            "type": "hello",
            "num_connections": len([s for s in self._sockets if not s.ws.closed]) + 1,
            "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }
        await ws.send_str(json.dumps(hello))
        self._sockets.append(socket)
        self.socket_connections += 1
        await self._notify()
        try:
            async for frame in ws:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    continue
                with contextlib.suppress(ValueError):
                    ack = json.loads(frame.data)
                    waiting = socket.acks.pop(str(ack.get("envelope_id")), None)
                    if waiting is not None and not waiting.done():
                        waiting.set_result(ack.get("payload"))
        finally:
            for waiting in socket.acks.values():
                if not waiting.done():
                    waiting.set_exception(ConnectionResetError("the app closed the Socket Mode connection"))
            self._sockets.remove(socket)
            await self._notify()
        return ws

    @property
    def socket_open(self) -> bool:
        """Whether an app holds a Socket Mode connection now."""
        return self._open_socket() is not None

    async def socket_connected(self, timeout: float = 10) -> None:  # noqa: ASYNC109
        """Wait until an app holds a Socket Mode connection (it has had its hello)."""
        await self.wait_for(self._open_socket, timeout)

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Tell the connected app to reconnect, as Slack does every few hours."""
        socket = self._open_socket()
        if socket is not None:
            await socket.ws.send_str(
                json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}})
            )

    async def socket_send(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = False,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> Ack:
        """Push one envelope ("events_api", "interactive", "slash_commands") and wait for its ack."""
        socket = await self.wait_for(self._open_socket, self.ack_timeout)
        assert socket is not None
        envelope: dict[str, Any] = {
            "envelope_id": str(uuid.uuid4()),
            "payload": payload,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope |= {"retry_attempt": retry_attempt, "retry_reason": retry_reason}
        waiting: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        socket.acks[envelope["envelope_id"]] = waiting
        await socket.ws.send_str(json.dumps(envelope))
        try:
            async with asyncio.timeout(self.ack_timeout):
                answer = await waiting
            ack = Ack(envelope["envelope_id"], answer, True, envelope)
        except (TimeoutError, ConnectionResetError):
            socket.acks.pop(envelope["envelope_id"], None)
            ack = Ack(envelope["envelope_id"], None, False, envelope)
        self.acks.append(ack)
        await self._notify()
        return ack

    async def socket_event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> Ack:
        envelope = self.event_envelope(event, event_id=event_id)
        self._keep_message(event)
        return await self.socket_send(
            "events_api", envelope, retry_attempt=retry_attempt, retry_reason=retry_reason
        )

    async def socket_press_button(
        self,
        *,
        channel: str,
        message_ts: str,
        action_id: str,
        user: str,
        value: str | None = None,
        block_id: str | None = None,
    ) -> Ack:
        payload = self.block_actions_payload(
            channel=channel,
            message_ts=message_ts,
            action_id=action_id,
            user=user,
            value=value,
            block_id=block_id,
        )
        return await self.socket_send("interactive", payload)

    async def socket_submit_view(
        self,
        *,
        user: str,
        view_id: str | None = None,
        callback_id: str | None = None,
        private_metadata: str | None = None,
        values: dict[str, dict[str, dict[str, Any]]] | None = None,
    ) -> Ack:
        payload = self.view_submission_payload(
            user=user,
            view_id=view_id,
            callback_id=callback_id,
            private_metadata=private_metadata,
            values=values,
        )
        ack = await self.socket_send("interactive", payload, accepts_response_payload=True)
        if ack.acked:
            self._after_submission(payload["view"]["id"], ack.payload)
        return ack

    async def socket_submit_last_view(self, *, user: str, inputs: dict[str, Any] | None = None) -> Ack:
        view = self.last_open_view()
        return await self.socket_submit_view(
            user=user, view_id=view["id"], values=self.state_values(view, inputs)
        )

    async def socket_slash_command(self, *, command: str, text: str, user: str, channel: str) -> Ack:
        payload = self.slash_command_payload(command=command, text=text, user=user, channel=channel)
        return await self.socket_send("slash_commands", dict(payload), accepts_response_payload=True)
