"""Updates written the way Telegram sends them, bound to one fake Bot API.

A test says what a resident did ("sent a photo", "pressed a button", "blocked the bot") and
gets the Update dict Telegram would deliver: real field names and types, message ids shared
with the bot's own messages in the chat, files the bot can download, callback query ids the
fake will accept in answerCallbackQuery. Building an update is the resident acting, so it
also changes what the fake knows (a blocked bot's sends are refused from then on); queueing
it (`fake.queue_update`) or posting it (`fake.post_webhook`) is Telegram telling the bot.
"""

from __future__ import annotations

import copy
import re
import time
from typing import TYPE_CHECKING, Any, Literal

from tests.fakes.telegram_format import utf16_length

if TYPE_CHECKING:
    from tests.fakes.telegram_state import TelegramState

Update = dict[str, Any]
# A command is a slash and up to 32 letters, digits or underscores, at the start or after white space.
_COMMAND = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@])")


def bot_command_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command entities Telegram marks in a text, with UTF-16 offsets."""
    return [
        {"type": "bot_command", "offset": utf16_length(text[: m.start()]), "length": utf16_length(m.group())}
        for m in _COMMAND.finditer(text)
    ]


class UpdateFactory:
    def __init__(self, fake: TelegramState) -> None:
        self._fake = fake
        self._queries = 0
        self.resident = self.user()

    def user(
        self,
        user_id: int = 7001,
        first_name: str = "Ana",
        *,
        last_name: str | None = None,
        username: str | None = "ana_resident",
        language_code: str | None = "en",
    ) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        extra = {"last_name": last_name, "username": username, "language_code": language_code}
        return user | {k: v for k, v in extra.items() if v is not None}

    def private_chat(self, user: dict[str, Any] | None = None) -> dict[str, Any]:
        user = user or self.resident
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        chat |= {k: user[k] for k in ("last_name", "username") if k in user}
        return self._fake.add_chat(chat)

    def group(
        self, chat_id: int = -1001234567890, title: str = "Elm Street neighbours", *, supergroup: bool = True
    ) -> dict[str, Any]:
        """A supergroup's id is -100 and ten digits; an ordinary group's is a small negative number."""
        kind = "supergroup" if supergroup else "group"
        return self._fake.add_chat({"id": chat_id, "title": title, "type": kind})

    def _message(
        self, content: dict[str, Any], user: dict[str, Any] | None, chat: dict[str, Any] | None
    ) -> dict[str, Any]:
        user = user or self.resident
        chat = self._fake.add_chat(chat) if chat else self.private_chat(user)
        message = {
            "message_id": self._fake.next_message_id(chat["id"]),
            "from": user,
            "chat": chat,
            "date": int(time.time()),
        } | content
        self._fake.remember(message)
        return message

    def _update(self, kind: str, payload: dict[str, Any]) -> Update:
        return {"update_id": self._fake.next_update_id(), kind: copy.deepcopy(payload)}

    def message(
        self,
        text: str,
        *,
        user: dict[str, Any] | None = None,
        chat: dict[str, Any] | None = None,
        reply_to: dict[str, Any] | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> Update:
        """A text message; commands in it get their bot_command entities unless `entities` is given."""
        content: dict[str, Any] = {"text": text}
        found = bot_command_entities(text) if entities is None else entities
        if found:
            content["entities"] = found
        if reply_to is not None:
            content["reply_to_message"] = {k: v for k, v in reply_to.items() if k != "reply_to_message"}
        return self._update("message", self._message(content, user, chat))

    def command(
        self,
        command: str,
        payload: str = "",
        *,
        user: dict[str, Any] | None = None,
        chat: dict[str, Any] | None = None,
        mention: bool = False,
    ) -> Update:
        """E.g. ("/start", "status_10234"): what a t.me/<bot>?start=status_10234 link makes the app send."""
        text = "/" + command.lstrip("/") + ("@" + self._fake.bot_user["username"] if mention else "")
        return self.message(text + (" " + payload if payload else ""), user=user, chat=chat)

    def photo(
        self,
        data: bytes,
        *,
        caption: str | None = None,
        user: dict[str, Any] | None = None,
        chat: dict[str, Any] | None = None,
    ) -> Update:
        """A photo as Telegram delivers it: sizes ascending, the largest downloads as `data`."""
        content: dict[str, Any] = {"photo": self._fake.add_photo(data)}
        if caption:
            content["caption"] = caption
        return self._update("message", self._message(content, user, chat))

    def document(
        self,
        data: bytes,
        file_name: str,
        mime_type: str,
        *,
        caption: str | None = None,
        user: dict[str, Any] | None = None,
        chat: dict[str, Any] | None = None,
    ) -> Update:
        """A file sent as a file (a photo sent "without compression" arrives like this)."""
        file_id = self._fake.add_file(
            data, kind="documents", extension=file_name.rpartition(".")[2], mime_type=mime_type
        )
        document: dict[str, Any] = {"file_id": file_id, "file_unique_id": self._unique(file_id)}
        document |= {"file_name": file_name, "mime_type": mime_type, "file_size": len(data)}
        content: dict[str, Any] = {"document": document} | ({"caption": caption} if caption else {})
        return self._update("message", self._message(content, user, chat))

    def location(
        self,
        latitude: float,
        longitude: float,
        *,
        user: dict[str, Any] | None = None,
        chat: dict[str, Any] | None = None,
    ) -> Update:
        """A location shared from the attachment menu or a request_location keyboard button."""
        content = {"location": {"latitude": float(latitude), "longitude": float(longitude)}}
        return self._update("message", self._message(content, user, chat))

    def voice(
        self,
        data: bytes = b"OggS fake voice",
        duration: int = 3,
        *,
        user: dict[str, Any] | None = None,
        chat: dict[str, Any] | None = None,
    ) -> Update:
        file_id = self._fake.add_file(data, kind="voice", extension="oga", mime_type="audio/ogg")
        voice: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": self._unique(file_id),
            "duration": duration,
        }
        voice |= {"mime_type": "audio/ogg", "file_size": len(data)}
        return self._update("message", self._message({"voice": voice}, user, chat))

    def sticker(
        self, emoji: str = "👍", *, user: dict[str, Any] | None = None, chat: dict[str, Any] | None = None
    ) -> Update:
        data = b"RIFF\x00\x00\x00\x00WEBPVP8 fake sticker"
        file_id = self._fake.add_file(data, kind="stickers", extension="webp", mime_type="image/webp")
        sticker: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": self._unique(file_id),
            "type": "regular",
        }
        sticker |= {"width": 512, "height": 512, "is_animated": False, "is_video": False, "emoji": emoji}
        return self._update(
            "message", self._message({"sticker": sticker | {"file_size": len(data)}}, user, chat)
        )

    def edited(self, update: Update, text: str) -> Update:
        """The resident edits a text message they sent: same message_id, new text, an edit_date."""
        message = copy.deepcopy(update.get("message") or update["edited_message"])
        message["text"], message["edit_date"] = text, int(time.time())
        message.pop("entities", None)
        if found := bot_command_entities(text):
            message["entities"] = found
        self._fake.remember(message)
        return self._update("edited_message", message)

    def callback(self, message: dict[str, Any], data: str, *, user: dict[str, Any] | None = None) -> Update:
        """The resident presses an inline button with callback_data `data` under the bot's `message`."""
        user = user or self.resident
        chat_id, message_id = message["chat"]["id"], message["message_id"]
        current = self._fake.message(chat_id, message_id) or message  # Telegram sends it as it is now
        self._queries += 1
        query_id = str(4_600_000_000_000_000_000 + self._fake.bot_user["id"] * 1000 + self._queries)
        self._fake.issue_callback_query(query_id)
        query = {"id": query_id, "from": user, "message": current}
        query |= {"chat_instance": str(-(abs(chat_id) * 7_919) % 10**19), "data": data}
        return self._update("callback_query", query)

    def my_chat_member(
        self,
        status: Literal["kicked", "member"],
        *,
        user: dict[str, Any] | None = None,
        chat: dict[str, Any] | None = None,
    ) -> Update:
        """ "kicked" in a private chat: the resident blocked the bot; "member": unblocked them."""
        user = user or self.resident
        chat = self._fake.add_chat(chat) if chat else self.private_chat(user)
        bot = dict(self._fake.bot_user)
        old, new = ("member", "kicked") if status == "kicked" else ("kicked", "member")
        banned = {"until_date": 0}
        change = {
            "chat": chat,
            "from": user,
            "date": int(time.time()),
            "old_chat_member": {"status": old, "user": bot} | (banned if old == "kicked" else {}),
            "new_chat_member": {"status": new, "user": bot} | (banned if new == "kicked" else {}),
        }
        self._fake.set_member_status(chat["id"], status)
        return self._update("my_chat_member", change)

    def _unique(self, file_id: str) -> str:
        return self._fake.file_unique_id(file_id)
