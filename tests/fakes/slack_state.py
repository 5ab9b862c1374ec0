"""The fake Slack workspace and what its Web API methods do to it; slack_api.py serves them over HTTP.

One team, one bot user, the users and channels a test adds. Each `_method` takes the decoded
parameters and returns the answer's fields (without "ok"), or raises ApiError with Slack's error
code. The checks are those real Slack makes and our code could trip over: the bot must be in a
channel to post there (no chat:write.public scope), a message needs text or blocks, a
trigger_id is good once and for three seconds, a view's hash must be the current one.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fakes.slack_blocks import Invalid, check_blocks, check_view, with_ids

__all__ = ["ApiError", "Channel", "SlackState", "User"]

MAX_TEXT = 40_000
FIRST_TS = 1_700_000_000_000_100  # microseconds: "1700000000.000100"
# Kept on stored messages for tests, left out of what the API answers with.
LOCAL_KEYS = frozenset(("channel", "edits", "unfurl_links", "unfurl_media", "mrkdwn", "reply_broadcast"))


class ApiError(Exception):
    """An `{"ok": false, "error": ...}` answer, with its HTTP status, headers and extra fields."""

    def __init__(
        self,
        error: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(error)
        self.error, self.status = error, status
        self.headers = headers or {}
        self.extra = extra or {}

    @classmethod
    def refused(cls, invalid: Invalid) -> ApiError:
        extra: dict[str, Any] = {
            "response_metadata": {"messages": [f"[ERROR] {p}" for p in invalid.problems]}
        }
        if invalid.error == "invalid_blocks":
            extra["errors"] = list(invalid.problems)
        return cls(invalid.error, extra=extra)


@dataclass
class User:
    id: str
    name: str
    real_name: str
    team_id: str
    is_bot: bool = False
    deleted: bool = False
    display_name: str = ""
    bot_id: str | None = None

    def info(self) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "real_name": self.real_name,
            "real_name_normalized": self.real_name,
            "display_name": self.display_name,
            "display_name_normalized": self.display_name,
            "team": self.team_id,
        }
        if self.bot_id:
            profile["bot_id"] = self.bot_id
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": self.real_name,
            "tz": "America/New_York",
            "is_admin": False,
            "is_owner": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "profile": profile,
        }


@dataclass
class Channel:
    id: str
    name: str
    bot_member: bool = True
    is_private: bool = False
    is_archived: bool = False
    user: str | None = None  # the other member of a direct message ("D…")

    def info(self) -> dict[str, Any]:
        if self.user is not None:
            return {"id": self.id, "is_im": True, "user": self.user, "created": 1_700_000_000}
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_member": self.bot_member,
            "created": 1_700_000_000,
        }


def api_message(message: dict[str, Any]) -> dict[str, Any]:
    """A stored message as the Web API and interaction payloads show it."""
    shown = {k: v for k, v in message.items() if k not in LOCAL_KEYS and v is not None}
    if not shown.get("blocks"):
        shown.pop("blocks", None)
    return copy.deepcopy(shown)


def _check_content(params: dict[str, Any]) -> list[dict[str, Any]] | None:
    text, blocks = params.get("text"), params.get("blocks")
    if not text and not blocks and not params.get("attachments"):
        raise ApiError("no_text")
    if isinstance(text, str) and len(text) > MAX_TEXT:
        raise ApiError("msg_too_long")
    if blocks is None:
        return None
    try:
        check_blocks(blocks)
    except Invalid as invalid:
        raise ApiError.refused(invalid) from None
    return with_ids(blocks)


class SlackState:
    def __init__(
        self,
        *,
        bot_token: str,
        app_token: str,
        signing_secret: str,
        team_id: str,
        team_domain: str,
        trigger_ttl: float,
        clock: Callable[[], float],
    ) -> None:
        self.bot_token, self.app_token, self.signing_secret = bot_token, app_token, signing_secret
        self.team_id, self.team_domain = team_id, team_domain
        self.bot_user_id, self.bot_id, self.app_id = "U0BOT", "B0BOT", "A0CIVIC"
        self.trigger_ttl = trigger_ttl
        self.clock = clock  # time.monotonic unless a test wants to age trigger_ids
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.ephemerals: list[dict[str, Any]] = []  # chat.postEphemeral and ephemeral response_url posts
        self.deleted: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}  # by id, as last opened or updated
        self.opened_views: list[dict[str, Any]] = []  # views.open and views.push, in order
        self.closed_views: set[str] = set()
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._triggers: dict[str, tuple[float, bool]] = {}  # id -> (issued at, used)
        self._micros = itertools.count(FIRST_TS, 100)
        self._serial = itertools.count(1)
        self.add_user(self.bot_user_id, "civic311", "Civic 311", is_bot=True)
        self.users[self.bot_user_id].bot_id = self.bot_id

    # --- setting the scene -----------------------------------------------------------------

    def add_user(
        self,
        id: str,
        name: str,
        real_name: str = "",
        team_id: str | None = None,
        is_bot: bool = False,
        deleted: bool = False,
        display_name: str = "",
    ) -> User:
        user = User(id, name, real_name or name, team_id or self.team_id, is_bot, deleted, display_name)
        self.users[id] = user
        return user

    def add_channel(
        self,
        id: str,
        name: str,
        bot_member: bool = True,
        *,
        is_private: bool = False,
        is_archived: bool = False,
    ) -> Channel:
        channel = Channel(id, name, bot_member, is_private, is_archived)
        self.channels[id] = channel
        return channel

    # --- reading what happened -------------------------------------------------------------

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Every message in the channel, replies included, in order of posting (ts order)."""
        return [copy.deepcopy(m) for m in self._messages.get(channel, [])]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        found = self._find(channel, ts)
        return None if found is None else copy.deepcopy(found)

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """The parent and its replies, in order."""
        return [m for m in self.messages(channel) if m["ts"] == ts or m.get("thread_ts") == ts]

    def _find(self, channel: str, ts: str) -> dict[str, Any] | None:
        return next((m for m in self._messages.get(channel, []) if m["ts"] == ts), None)

    # --- identifiers -----------------------------------------------------------------------

    def new_ts(self) -> str:
        micros = next(self._micros)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def new_trigger_id(self) -> str:
        trigger = f"{next(self._serial)}.{int(time.time())}.{secrets.token_hex(16)}"
        self._triggers[trigger] = (self.clock(), False)
        return trigger

    def expire_triggers(self) -> None:
        """Age every trigger_id issued so far past Slack's three seconds."""
        self._triggers = {t: (at - self.trigger_ttl - 1, used) for t, (at, used) in self._triggers.items()}

    def _take_trigger(self, trigger: Any) -> None:
        found = self._triggers.get(trigger) if isinstance(trigger, str) else None
        if found is None:
            raise ApiError("invalid_trigger_id")
        issued, used = found
        if used:
            raise ApiError("exchanged_trigger_id")
        if self.clock() - issued > self.trigger_ttl:
            raise ApiError("expired_trigger_id")
        self._triggers[trigger] = (issued, True)

    # --- storing messages ------------------------------------------------------------------

    def _target(self, channel: Any, *, posting: bool = True) -> Channel:
        """The channel a method names: an id, a name ("#staff" or "staff"), or a user id for a DM."""
        if not isinstance(channel, str) or not channel:
            raise ApiError("channel_not_found")
        found = self.channels.get(channel) or next(
            (c for c in self.channels.values() if c.user is None and c.name == channel.lstrip("#")), None
        )
        if found is None and channel in self.users and not self.users[channel].is_bot:
            found = self.channels.setdefault("D" + channel[1:], Channel("D" + channel[1:], "", user=channel))
        if found is None or (found.is_private and not found.bot_member):
            raise ApiError("channel_not_found")
        if posting and found.is_archived:
            raise ApiError("is_archived")
        if posting and not found.bot_member:
            raise ApiError("not_in_channel")
        return found

    def store(self, channel: str, message: dict[str, Any]) -> dict[str, Any]:
        """Keep a message (the bot's, or a resident's from an event the fake sent), once per ts."""
        existing = self._find(channel, message["ts"])
        if existing is not None:
            return existing
        stored = {"channel": channel, "thread_ts": None, "text": "", "blocks": [], "edits": []} | message
        self._messages.setdefault(channel, []).append(stored)
        self._messages[channel].sort(key=lambda m: float(m["ts"]))
        return stored

    def post(
        self, channel: Channel, params: dict[str, Any], blocks: list[dict[str, Any]] | None
    ) -> dict[str, Any]:
        thread_ts = params.get("thread_ts") or None
        parent = self._find(channel.id, thread_ts) if thread_ts else None
        if parent is not None and parent.get("thread_ts"):
            thread_ts = parent["thread_ts"]  # a reply to a reply joins the parent's thread
            parent = self._find(channel.id, thread_ts)
        broadcast = bool(params.get("reply_broadcast")) and thread_ts is not None
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "thread_broadcast" if broadcast else None,
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "ts": self.new_ts(),
            "text": params.get("text") or "",
            "blocks": blocks or [],
            "attachments": params.get("attachments"),
            "thread_ts": thread_ts,
            "parent_user_id": parent.get("user") if parent is not None else None,
            "reply_broadcast": broadcast,
            "unfurl_links": params.get("unfurl_links"),
            "unfurl_media": params.get("unfurl_media"),
            "mrkdwn": params.get("mrkdwn"),
        }
        return self.store(channel.id, message)

    def edit(
        self, message: dict[str, Any], params: dict[str, Any], blocks: list[dict[str, Any]] | None
    ) -> None:
        """Slack keeps text or blocks a chat.update leaves out; `edits` keeps what was replaced."""
        message["edits"].append(
            {"text": message["text"], "blocks": message["blocks"], "edited": message.get("edited")}
        )
        if "text" in params:
            message["text"] = params["text"] or ""
        if blocks is not None:
            message["blocks"] = blocks
        message["edited"] = {"user": self.bot_user_id, "ts": self.new_ts()}

    def _own_message(
        self, params: dict[str, Any], ts_field: str, refusal: str
    ) -> tuple[Channel, dict[str, Any]]:
        channel = self._target(params.get("channel"), posting=False)
        message = self._find(channel.id, params.get(ts_field, ""))
        if message is None:
            raise ApiError("message_not_found")
        if message.get("user") != self.bot_user_id:
            raise ApiError(refusal)
        return channel, message

    # --- Web API methods -------------------------------------------------------------------

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": "Civic City",
            "user": self.users[self.bot_user_id].name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._target(params.get("channel"))
        message = self.post(channel, params, _check_content(params))
        return {"channel": channel.id, "ts": message["ts"], "message": api_message(message)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, message = self._own_message(params, "ts", "cant_update_message")
        blocks: list[dict[str, Any]] | None = None
        if params.get("blocks") == []:
            blocks = []
        elif "text" in params or "blocks" in params:
            check = {"text": params.get("text", message["text"]), "blocks": params.get("blocks")}
            blocks = _check_content(check | {"attachments": message.get("attachments")})
        else:
            raise ApiError("no_text")
        self.edit(message, params, blocks)
        shown = api_message(message)
        return {"channel": channel.id, "ts": message["ts"], "text": message["text"], "message": shown}

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, message = self._own_message(params, "ts", "cant_delete_message")
        self._messages[channel.id].remove(message)
        self.deleted.append(message)
        return {"channel": channel.id, "ts": message["ts"]}

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._target(params.get("channel"))
        user = self.users.get(params.get("user", ""))
        if user is None or user.deleted:
            raise ApiError("user_not_found")
        blocks = _check_content(params)
        ts = self.new_ts()
        ephemeral = {"channel": channel.id, "user": user.id, "ts": ts, "text": params.get("text") or ""}
        self.ephemerals.append(ephemeral | {"blocks": blocks or [], "thread_ts": params.get("thread_ts")})
        return {"message_ts": ts}

    def _chat_get_permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._target(params.get("channel"), posting=False)
        message = self._find(channel.id, params.get("message_ts", ""))
        if message is None:
            raise ApiError("message_not_found")
        link = f"https://{self.team_domain}.slack.com/archives/{channel.id}/p{message['ts'].replace('.', '')}"
        if message.get("thread_ts") and message["thread_ts"] != message["ts"]:
            link += f"?thread_ts={message['thread_ts']}&cid={channel.id}"
        return {"channel": channel.id, "permalink": link}

    def _checked_view(self, params: dict[str, Any]) -> dict[str, Any]:
        view = params.get("view")
        try:
            check_view(view)
        except Invalid as invalid:
            raise ApiError.refused(invalid) from None
        assert isinstance(view, dict)
        return view

    def _store_view(
        self, view: dict[str, Any], *, id: str | None = None, previous: str | None = None
    ) -> dict[str, Any]:
        id = id or f"V0{next(self._serial):08d}"
        stored = {
            "id": id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": with_ids(view.get("blocks", [])),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": view["title"],
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": previous,
            "root_view_id": self.views[previous]["root_view_id"] if previous in self.views else id,
            "app_id": self.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self.views[id] = stored
        return stored

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        self._take_trigger(params.get("trigger_id"))
        stored = self._store_view(self._checked_view(params))
        self.opened_views.append(stored)
        return {"view": copy.deepcopy(stored)}

    def _views_push(self, params: dict[str, Any]) -> dict[str, Any]:
        self._take_trigger(params.get("trigger_id"))
        view = self._checked_view(params)
        open_ids = [v["id"] for v in self.opened_views if v["id"] not in self.closed_views]
        stored = self._store_view(view, previous=open_ids[-1] if open_ids else None)
        self.opened_views.append(stored)
        return {"view": copy.deepcopy(stored)}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id = params.get("view_id")
        if not view_id and params.get("external_id"):
            view_id = next(
                (i for i, v in self.views.items() if v["external_id"] == params["external_id"]), None
            )
        current = self.views.get(view_id or "")
        if current is None or current["id"] in self.closed_views:
            raise ApiError("not_found")
        view = self._checked_view(params)
        if params.get("hash") and params["hash"] != current["hash"]:
            raise ApiError("hash_conflict")
        stored = self._store_view(view, id=current["id"], previous=current["previous_view_id"])
        return {"view": copy.deepcopy(stored)}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(params.get("user", ""))
        if user is None:
            raise ApiError("user_not_found")
        return {"user": user.info()}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"channel": self._target(params.get("channel"), posting=False).info()}

    def _conversations_join(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(params.get("channel", ""))
        if channel is None or (channel.is_private and not channel.bot_member):
            raise ApiError("channel_not_found")
        if channel.is_private or channel.user is not None:
            raise ApiError("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise ApiError("is_archived")
        answer: dict[str, Any] = {}
        if channel.bot_member:
            answer = {
                "warning": "already_in_channel",
                "response_metadata": {"warnings": ["already_in_channel"]},
            }
        channel.bot_member = True
        return {"channel": channel.info()} | answer

    def methods(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "users.info": self._users_info,
            "conversations.info": self._conversations_info,
            "conversations.join": self._conversations_join,
        }
