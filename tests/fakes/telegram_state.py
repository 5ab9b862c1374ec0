"""What the fake Bot API knows (chats, messages, files, commands, the webhook, the update queue)
and what each Bot API method does with it; telegram_api.py serves it over HTTP.

Behaviour and error texts follow the Bot API server (tdlib/telegram-bot-api, Client.cpp), so
a refusal reads as Telegram's would and PTB turns it into the same exception. Where the fake
is deliberately narrower than Telegram (no inline mode, HTML but not Markdown parsing) it says
so in its error text rather than accepting what it cannot check.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from PIL import Image

from tests.fakes.telegram_format import bad_request, formatted, reply_markup
from tests.fakes.telegram_updates import UpdateFactory

UPDATE_TYPES = [
    *("message", "edited_message", "channel_post", "edited_channel_post", "business_connection"),
    *("business_message", "edited_business_message", "deleted_business_messages", "message_reaction"),
    *("message_reaction_count", "inline_query", "chosen_inline_result", "callback_query", "shipping_query"),
    *("pre_checkout_query", "purchased_paid_media", "poll", "poll_answer", "my_chat_member", "chat_member"),
    *("chat_join_request", "chat_boost", "removed_chat_boost"),
]
# What a bot gets when it never chose, or chose []: no chat_member, no reactions.
DEFAULT_UPDATES = frozenset(UPDATE_TYPES) - {"chat_member", "message_reaction", "message_reaction_count"}
CHAT_ACTIONS = frozenset(
    (
        *("cancel", "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice"),
        *("upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note"),
    )
)
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a "
    "current content and reply markup of the message"
)
CONFLICT_SET_WEBHOOK = "Conflict: terminated by setWebhook request"
_THUMBNAILS = (90, 320, 800, 1280)  # the long side of the smaller copies Telegram makes of a photo
_KICKED = {
    "private": "Forbidden: bot was blocked by the user",
    "group": "Forbidden: bot was kicked from the group chat",
    "supergroup": "Forbidden: bot was kicked from the supergroup chat",
}


class ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters or {}


@dataclass(frozen=True)
class Photo:
    file_id: str  # of the largest size
    data: bytes  # what a download of the largest size gives
    source: str | None  # the URL or file_id it was sent by; None for an upload
    caption: str


@dataclass
class WebhookState:
    url: str
    secret_token: str
    max_connections: int
    ip_address: str
    has_custom_certificate: bool
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class _File:
    file_id: str
    unique_id: str
    path: str
    data: bytes
    mime_type: str
    photo: list[dict[str, Any]] | None = None  # all sizes, when this is one size of a photo


def flag(value: object) -> bool:
    return value is True or value in ("true", "True", "1", 1)


def number(value: object, default: int, low: int, high: int) -> int:
    """An integer argument as the server reads it: out of range is clamped, not refused."""
    try:
        return min(max(int(str(value)), low), high)
    except ValueError:
        return default


def _scope_key(params: dict[str, Any]) -> tuple[str, str]:
    scope = params.get("scope")
    scope = scope if isinstance(scope, dict) else {"type": "default"}
    return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")


class TelegramState:
    def __init__(
        self,
        token: str,
        *,
        username: str = "civic311_test_bot",
        first_name: str = "Civic311 Test",
        strict: bool = True,
        known_chats_only: bool = True,
    ) -> None:
        self.token, self.strict, self.known_chats_only = token, strict, known_chats_only
        self.bot_user: dict[str, Any] = {"id": int(token.split(":")[0]), "is_bot": True}
        self.bot_user |= {"first_name": first_name, "username": username}
        self.updates = UpdateFactory(self)
        self.dropped_updates: list[dict[str, Any]] = []  # queued while their type was not allowed
        self._lock = threading.RLock()
        self._chats: dict[int, dict[str, Any]] = {}
        self._messages: dict[int, dict[int, dict[str, Any]]] = {}
        self._bot_messages: dict[int, list[int]] = {}
        self._sent: dict[int, list[str | Photo]] = {}
        self._message_ids: dict[int, int] = {}
        self._files: dict[str, _File] = {}
        self._paths: dict[str, _File] = {}
        self._queue: list[dict[str, Any]] = []
        self._last_update_id = 0
        self._allowed = DEFAULT_UPDATES
        self._webhook: WebhookState | None = None
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._callbacks: dict[str, dict[str, Any] | None] = {}
        self._kicked: set[int] = set()
        self._migrated: dict[int, int] = {}

    def _updates_arrived(self) -> None:
        """Wake a waiting long poll; the server side fills this in."""

    def _end_poll(self, reason: str) -> None:
        """Answer a waiting long poll 409 with `reason`; the server side fills this in."""

    # --- what tests and update builders register --------------------------------------------

    def add_chat(self, chat: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._chats[chat["id"]] = copy.deepcopy(chat)
        return chat

    def upgrade_group(self, group_id: int, supergroup_id: int) -> None:
        """Turn a group into a supergroup: sends to the old id are then answered migrate_to_chat_id."""
        with self._lock:
            title = self._chats.get(group_id, {}).get("title", "Group")
            self._chats[supergroup_id] = {"id": supergroup_id, "title": title, "type": "supergroup"}
            self._migrated[group_id] = supergroup_id

    def set_member_status(self, chat_id: int, status: str) -> None:
        """ "kicked" (a user blocked the bot, a group removed it) makes sends to the chat 403."""
        with self._lock:
            if status in ("kicked", "left"):
                self._kicked.add(chat_id)
            else:
                self._kicked.discard(chat_id)

    def add_file(
        self, data: bytes, *, kind: str = "documents", extension: str = "", mime_type: str = ""
    ) -> str:
        """Register a file the bot can getFile and download; returns its file_id."""
        with self._lock:
            n = len(self._files)
            file_id = base64.urlsafe_b64encode(f"{self.bot_user['id']}:{kind}:{n}".encode()).decode()
            path = f"{kind}/file_{n}" + (f".{extension.lstrip('.')}" if extension else "")
            entry = _File(
                file_id.rstrip("="), f"AQAD{n:06d}", path, data, mime_type or "application/octet-stream"
            )
            self._files[entry.file_id] = self._paths[path] = entry
        return entry.file_id

    def add_photo(self, data: bytes) -> list[dict[str, Any]]:
        """The PhotoSize list Telegram makes of an image: smaller JPEGs, then the bytes given, largest."""
        try:
            with Image.open(io.BytesIO(data)) as image:
                full = image.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise ValueError("not an image") from exc
        variants: list[tuple[bytes, int, int]] = []
        for side in _THUMBNAILS:
            if max(full.size) > side:
                small = full.copy()
                small.thumbnail((side, side))
                out = io.BytesIO()
                small.save(out, "JPEG", quality=80)
                variants.append((out.getvalue(), *small.size))
        sizes: list[dict[str, Any]] = []
        with self._lock:
            for blob, width, height in [*variants, (data, *full.size)]:
                entry = self._files[
                    self.add_file(blob, kind="photos", extension="jpg", mime_type="image/jpeg")
                ]
                entry.photo = sizes
                sizes.append(
                    {"file_id": entry.file_id, "file_unique_id": entry.unique_id} | {"file_size": len(blob)}
                )
                sizes[-1] |= {"width": width, "height": height}
            return copy.deepcopy(sizes)

    def next_update_id(self) -> int:
        with self._lock:
            self._last_update_id += 1
            return self._last_update_id

    def next_message_id(self, chat_id: int) -> int:
        """Per chat, and shared by both sides, as in Telegram's private chats and groups."""
        with self._lock:
            self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
            return self._message_ids[chat_id]

    def remember(self, message: dict[str, Any]) -> None:
        with self._lock:
            self.add_chat(message["chat"])
            self._messages.setdefault(message["chat"]["id"], {})[message["message_id"]] = copy.deepcopy(
                message
            )

    def issue_callback_query(self, query_id: str) -> None:
        with self._lock:
            self._callbacks[query_id] = None

    def queue_update(self, update: dict[str, Any]) -> bool:
        """Queue an update for getUpdates; False if its type is not allowed, as Telegram drops those."""
        with self._lock:
            update = copy.deepcopy(update)
            if "update_id" not in update:
                update["update_id"] = self.next_update_id()
            if next(key for key in update if key != "update_id") not in self._allowed:
                self.dropped_updates.append(update)
                return False
            if self._queue and update["update_id"] <= self._queue[-1]["update_id"]:
                raise ValueError(f"update_id {update['update_id']} after {self._queue[-1]['update_id']}")
            self._queue.append(update)
            self._last_update_id = max(self._last_update_id, update["update_id"])
        self._updates_arrived()
        return True

    # --- what tests read ----------------------------------------------------------------

    def sent_to(self, chat_id: int) -> list[str | Photo]:
        """Texts (as a reader sees them) and photos the bot sent to a chat, in order, as first sent."""
        with self._lock:
            return list(self._sent.get(chat_id, []))

    def messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's Message objects in a chat as they are now, edits applied."""
        with self._lock:
            return [copy.deepcopy(self._messages[chat_id][i]) for i in self._bot_messages.get(chat_id, [])]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        with self._lock:
            return copy.deepcopy(self._messages.get(chat_id, {}).get(message_id))

    def file_bytes(self, file_id: str) -> bytes:
        with self._lock:
            return self._files[file_id].data

    def file_unique_id(self, file_id: str) -> str:
        with self._lock:
            return self._files[file_id].unique_id

    def callback_answer(self, query_id: str) -> dict[str, Any] | None:
        with self._lock:
            return copy.deepcopy(self._callbacks.get(query_id))

    def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(
                self._commands.get(_scope_key({"scope": scope, "language_code": language_code}), [])
            )

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._queue)

    @property
    def webhook(self) -> WebhookState | None:
        with self._lock:
            return copy.copy(self._webhook)

    # --- shared by the methods ----------------------------------------------------------

    def _chat(self, params: dict[str, Any]) -> dict[str, Any]:
        wanted = params.get("chat_id")
        if wanted in (None, ""):
            raise bad_request("chat_id is empty")
        if isinstance(wanted, str):
            named = [c["id"] for c in self._chats.values() if f"@{c.get('username')}" == wanted]
            if not named:
                raise bad_request("chat not found")
            wanted = named[0]
        if wanted in self._migrated:
            parameters = {"migrate_to_chat_id": self._migrated[wanted]}
            raise ApiError(400, "Bad Request: group chat was upgraded to a supergroup chat", parameters)
        chat = self._chats.get(wanted)
        if chat is None:
            if self.known_chats_only or not isinstance(wanted, int) or wanted < 0:
                raise bad_request("chat not found")
            chat = self.add_chat({"id": wanted, "type": "private", "first_name": "User"})
        if wanted in self._kicked:
            raise ApiError(
                403, _KICKED.get(chat["type"], "Forbidden: bot is not a member of the channel chat")
            )
        return chat

    def _reply_to(self, params: dict[str, Any], chat_id: int) -> dict[str, Any]:
        wanted, allow = params.get("reply_to_message_id"), flag(params.get("allow_sending_without_reply"))
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            wanted, allow = reply.get("message_id"), allow or flag(reply.get("allow_sending_without_reply"))
        if wanted is None:
            return {}
        target = self._messages.get(chat_id, {}).get(int(wanted))
        if target is None:
            if allow:
                return {}
            raise bad_request("message to be replied not found")
        return {"reply_to_message": {k: v for k, v in target.items() if k != "reply_to_message"}}

    def _post(self, chat: dict[str, Any], shown: str | Photo, content: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self.next_message_id(chat["id"]),
            "from": dict(self.bot_user),
            "chat": copy.deepcopy(chat),
            "date": int(time.time()),
        }
        message.update((k, v) for k, v in content.items() if v)  # Telegram leaves out empty fields
        self.remember(message)
        self._bot_messages.setdefault(chat["id"], []).append(message["message_id"])
        self._sent.setdefault(chat["id"], []).append(shown)
        return message

    def _editable(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")  # this fake sends no inline-mode messages
        chat = self._chat(params)
        if params.get("message_id") in (None, ""):
            raise bad_request("message identifier is not specified")
        message = self._messages.get(chat["id"], {}).get(int(params["message_id"]))
        if message is None:
            raise bad_request("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_user["id"]:
            raise bad_request("message can't be edited")
        return message

    def _edit(self, message: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        if all((message.get(k) or None) == (v or None) for k, v in changes.items()):
            raise bad_request(NOT_MODIFIED)
        for key, value in changes.items():
            if value:
                message[key] = value
            else:
                message.pop(key, None)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    def _set_allowed(self, value: object) -> None:
        """A list replaces the bot's choice, kept across calls; [] is the default; no list: no change."""
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            self._allowed = frozenset(v.lower() for v in value) & frozenset(UPDATE_TYPES) or DEFAULT_UPDATES

    def _take_updates(self, offset: int, limit: int) -> list[dict[str, Any]]:
        """Offset confirms (forgets) every update below it; a negative one keeps only the last -offset."""
        if offset < 0:
            self._queue = self._queue[offset:]
        elif offset > 0:
            self._queue = [u for u in self._queue if u["update_id"] >= offset]
        return copy.deepcopy(self._queue[:limit])

    # --- the methods: params decoded, the lock held unless a method is a coroutine --------

    def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.bot_user | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _set_webhook(self, params: dict[str, Any]) -> tuple[bool, str]:
        url = str(params.get("url") or "")
        if not url:
            return self._delete_webhook(params)
        # Telegram also demands https on port 443, 80, 88 or 8443; tests' servers are http, any port.
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise bad_request("invalid webhook URL specified")
        secret = str(params.get("secret_token") or "")
        if len(secret) > 256:
            raise bad_request("secret token is too long")
        if not re.fullmatch(r"[A-Za-z0-9_-]*", secret):
            raise bad_request("secret token contains unallowed characters")
        connections = number(params.get("max_connections", 40), 40, 1, 100)
        hook = WebhookState(
            url, secret, connections, str(params.get("ip_address") or ""), "certificate" in params
        )
        self._set_allowed(params.get("allowed_updates"))
        drop, old = flag(params.get("drop_pending_updates")), self._webhook
        if old is not None and not drop and _same_hook(old, hook):
            return True, "Webhook is already set"
        self._end_poll(CONFLICT_SET_WEBHOOK)
        if drop:
            self._queue.clear()
        self._webhook = hook
        return True, "Webhook was set"

    def _delete_webhook(self, params: dict[str, Any]) -> tuple[bool, str]:
        if flag(params.get("drop_pending_updates")):
            self._queue.clear()
        was, self._webhook = self._webhook, None
        return True, "Webhook was deleted" if was else "Webhook is already deleted"

    def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        hook = self._webhook
        info: dict[str, Any] = {"url": hook.url if hook else "", "has_custom_certificate": False}
        info["pending_update_count"] = len(self._queue)
        if hook:
            info |= {
                "has_custom_certificate": hook.has_custom_certificate,
                "max_connections": hook.max_connections,
            }
            info["ip_address"] = hook.ip_address or "127.0.0.1"
            if hook.last_error_date:
                info |= {
                    "last_error_date": hook.last_error_date,
                    "last_error_message": hook.last_error_message,
                }
        if self._allowed != DEFAULT_UPDATES:
            info["allowed_updates"] = [t for t in UPDATE_TYPES if t in self._allowed]
        return info

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise bad_request(
                "Can't parse commands JSON object" if commands is None else "Expected an Array of BotCommand"
            )
        for command in commands:
            if not isinstance(command, dict) or not {"command", "description"} <= command.keys():
                raise bad_request('Can\'t parse BotCommand: Can\'t find field "command" or "description"')
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command["command"]).lower()):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command["description"]).strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        if len(commands) > 100:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        kept = [
            {"command": str(c["command"]).lower(), "description": str(c["description"])} for c in commands
        ]
        self._commands[_scope_key(params)] = kept
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return copy.deepcopy(self._commands.get(_scope_key(params), []))

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self._commands.pop(_scope_key(params), None)
        return True

    def _text(self, params: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        text, mode, entities = str(params.get("text") or ""), params.get("parse_mode"), params.get("entities")
        return formatted(text, mode, entities, caption=False, strict=self.strict)

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        text, entities = self._text(params)
        markup = reply_markup(params.get("reply_markup"), strict=self.strict)
        content = {"text": text, "entities": entities, "reply_markup": markup}
        return self._post(chat, text, content | self._reply_to(params, chat["id"]))

    async def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            chat = self._chat(params)
            caption, entities = formatted(
                str(params.get("caption") or ""),
                params.get("parse_mode"),
                params.get("caption_entities"),
                caption=True,
                strict=self.strict,
            )
            content: dict[str, Any] = {"caption": caption, "caption_entities": entities}
            content |= {"reply_markup": reply_markup(params.get("reply_markup"), strict=self.strict)}
            content |= self._reply_to(params, chat["id"])
            photo = params.get("photo")
            known = self._files.get(photo) if isinstance(photo, str) else None
        source = photo if isinstance(photo, str) else None
        if known is not None:
            if known.photo is None:
                raise bad_request("wrong file identifier/HTTP URL specified")
            sizes = copy.deepcopy(known.photo)
        else:
            if isinstance(photo, str) and photo.startswith(("http://", "https://")):
                photo = await self._fetch(photo)
            elif isinstance(photo, str) and photo:
                raise bad_request("wrong file identifier/HTTP URL specified")
            if not isinstance(photo, bytes):
                raise bad_request("There is no photo in the request")
            try:
                sizes = self.add_photo(photo)
            except ValueError:
                raise bad_request("IMAGE_PROCESS_FAILED") from None
        with self._lock:
            largest = self._files[sizes[-1]["file_id"]]
            return self._post(
                chat, Photo(largest.file_id, largest.data, source, caption), {"photo": sizes} | content
            )

    async def _fetch(self, url: str) -> bytes:
        """Telegram downloads a photo given by URL itself; a test can point it at a local server."""
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
                session.get(url) as response,
            ):
                if response.status == 200:
                    return await response.read()
        except (aiohttp.ClientError, TimeoutError):
            pass
        raise bad_request("failed to get HTTP URL content")

    def _send_chat_action(self, params: dict[str, Any]) -> bool:
        self._chat(params)
        if str(params.get("action", "")).lower() not in CHAT_ACTIONS:
            raise bad_request("Wrong parameter action in request")
        return True

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._editable(params)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._text(params)
        markup = reply_markup(params.get("reply_markup"), strict=self.strict)
        return self._edit(message, {"text": text, "entities": entities, "reply_markup": markup})

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        markup = reply_markup(params.get("reply_markup"), strict=self.strict)
        return self._edit(self._editable(params), {"reply_markup": markup})

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._callbacks or self._callbacks[query_id] is not None:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        text = str(params.get("text") or "")
        if len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        answer = {"text": text, "show_alert": flag(params.get("show_alert")), "url": params.get("url")}
        self._callbacks[query_id] = answer | {"cache_time": params.get("cache_time", 0)}
        return True

    def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        found = self._files.get(str(params.get("file_id") or ""))
        if found is None:
            raise bad_request("invalid file_id")
        if len(found.data) > 20 * 1024 * 1024:
            raise bad_request("file is too big")
        return {"file_id": found.file_id, "file_unique_id": found.unique_id} | {
            "file_size": len(found.data),
            "file_path": found.path,
        }


def _same_hook(old: WebhookState, new: WebhookState) -> bool:
    """Setting the webhook it already has is a no-op ("Webhook is already set"), errors kept."""
    same = all(
        getattr(old, k) == getattr(new, k) for k in ("url", "secret_token", "max_connections", "ip_address")
    )
    return same and not new.has_custom_certificate
