"""Telegram updates in the core's terms: a turn, a tap, a photo, a bot removed.

The webhook and the poller hand every update here. A message becomes an `Incoming`
whose id is the bot's and the update's (a redelivered update repeats it, so it is
answered once), and the engine runs the turn with its replies queued in the outbox:
no Bot API call happens inside a turn's transaction, and the replies go out in order
with everything else sent to that chat. A tap on a button is acknowledged at once
(Telegram shows a spinner until then), outside any transaction.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from telegram import Bot, CallbackQuery, Message, MessageEntity, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError

from adapters.telegram.channel import NAME, BotHolder
from adapters.telegram.client import redact
from adapters.telegram.photos import HEIC_TYPES, NOT_A_PHOTO, download, heic_to_jpeg, is_image, largest
from bot.api import Hub, Incoming, Location, MediaError, Outgoing, Photo, metrics, ratelimit, recipients

log = logging.getLogger(__name__)

TOO_FAST = (
    "You're sending messages very fast. I didn't take that one: please wait a minute and send it again."
)
PHOTO_UNAVAILABLE = "I can't receive photos right now. Please describe what you see in words."

# What the bot cannot read, as the resident would call it (Message attributes, in order).
UNREADABLE = (
    ("sticker", "a sticker"),
    ("voice", "a voice message"),
    ("video_note", "a video message"),
    ("video", "a video"),
    ("animation", "a GIF"),
    ("audio", "an audio file"),
    ("contact", "a contact"),
    ("poll", "a poll"),
    ("dice", "a dice roll"),
    ("game", "a game"),
    ("story", "a story"),
)


@dataclass(frozen=True, slots=True)
class BotIdentity:
    id: int
    username: str


def addressed(message: Message, me: BotIdentity) -> bool:
    """In a private chat, always. In a group, only a message meant for the bot: one
    that mentions it, a command for it (or for no bot in particular), or a reply to it."""
    if message.chat.type == ChatType.PRIVATE:
        return True
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.id == me.id:
        return True
    for entity, said in _entities(message):
        if entity.type == MessageEntity.MENTION and said.lower() == f"@{me.username}".lower():
            return True
        if entity.type == MessageEntity.BOT_COMMAND:
            _, at, whom = said.partition("@")
            return not at or whom.lower() == me.username.lower()
    return False


def _entities(message: Message) -> list[tuple[MessageEntity, str]]:
    if message.text is not None:
        return list(message.parse_entities().items())
    if message.caption is not None:
        return list(message.parse_caption_entities().items())
    return []


def words_of(message: Message, me: BotIdentity) -> str:
    """The text or caption, without the bot's @mention (a group's way to address it)."""
    text = message.text if message.text is not None else (message.caption or "")
    mention = f"@{me.username}"
    if mention.lower() in text.lower():
        at = text.lower().index(mention.lower())
        text = (text[:at] + text[at + len(mention) :]).strip()
    return text


def unreadable(message: Message) -> str:
    for attribute, words in UNREADABLE:
        if getattr(message, attribute, None):
            return words
    document = message.document
    if document is not None and not is_image(document):
        return "that kind of file"
    return ""


class UpdateHandler:
    def __init__(self, hub: Hub, bots: BotHolder) -> None:
        self.hub = hub
        self.bots = bots
        self._me: BotIdentity | None = None

    async def me(self) -> BotIdentity:
        if self._me is None:
            bot = await self.bots.ready()
            self._me = BotIdentity(bot.id, bot.username)
        return self._me

    async def handle(self, update: Update) -> None:
        """Do what the update asks. Raises only when it must be delivered again (the
        database is down, Telegram cannot be reached for the bot's own identity)."""
        me = await self.me()
        if update.callback_query is not None:
            metrics.PLATFORM_UPDATES.labels(NAME, "callback").inc()
            await self._tap(update, update.callback_query, me)
        elif update.message is not None:
            metrics.PLATFORM_UPDATES.labels(NAME, "message").inc()
            await self._message(update, update.message, me)
        elif update.my_chat_member is not None:
            metrics.PLATFORM_UPDATES.labels(NAME, "member").inc()
            status = update.my_chat_member.new_chat_member.status
            if status in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT):
                chat = str(update.my_chat_member.chat.id)
                await recipients.stopped(self.hub.db, NAME, chat, f"telegram: the bot was removed ({status})")
        else:  # edited messages, channel posts, ...: not asked for, and nothing to answer
            metrics.PLATFORM_UPDATES.labels(NAME, "ignored").inc()

    def _message_id(self, update: Update, me: BotIdentity) -> str:
        return f"{me.id}:{update.update_id}"

    async def _message(self, update: Update, message: Message, me: BotIdentity) -> None:
        if message.from_user is not None and message.from_user.is_bot:
            return  # another bot in a group, or our own message echoed
        if not addressed(message, me):
            return
        chat = str(message.chat.id)
        if not await self._allowed(chat):
            return
        location = None
        if message.location is not None:
            location = Location(message.location.latitude, message.location.longitude)
        photos: tuple[Photo, ...] = ()
        try:
            photo = await self._photo(message)
        except MediaError as exc:
            await self.hub.send_later(NAME, chat, Outgoing(str(exc)))
            return
        if photo is not None:
            photos = (photo,)
        incoming = Incoming(
            channel=NAME,
            conversation=chat,
            message_id=self._message_id(update, me),
            text=words_of(message, me).strip(),
            photos=photos,
            location=location,
            unreadable="" if photos else unreadable(message),
        )
        await self._turn(incoming)

    async def _tap(self, update: Update, query: CallbackQuery, me: BotIdentity) -> None:
        bot = await self.bots.ready()
        try:
            await bot.answer_callback_query(query.id)
        except TelegramError as exc:  # too old (Telegram gives 15 s): the turn still counts
            log.info("telegram: answering a button tap failed: %s", redact(exc.message, bot.token))
        message = query.message
        if message is None or query.data is None:
            return
        chat = str(message.chat.id)
        if not await self._allowed(chat):
            return
        label = _label(query)
        incoming = Incoming(
            channel=NAME,
            conversation=chat,
            message_id=self._message_id(update, me),
            text=label,
            choice=query.data,
        )
        await self._turn(incoming)
        if isinstance(message, Message) and message.reply_markup is not None:
            # The question is answered: its buttons go, so an old one is not tapped again.
            with contextlib.suppress(TelegramError):
                await bot.edit_message_reply_markup(message.chat.id, message.message_id, reply_markup=None)

    async def _turn(self, incoming: Incoming) -> None:
        # A photo stored for a turn that fails, or for a redelivery, is removed by the engine.
        await self.hub.engine.handle(incoming, replies_later=True)

    async def _allowed(self, chat: str) -> bool:
        wait = await ratelimit.chat_message(self.hub.db, self.hub.settings, NAME, chat)
        if wait is None:
            return True
        await self.hub.send_later(NAME, chat, Outgoing(TOO_FAST))
        return False

    async def _photo(self, message: Message) -> Photo | None:
        media = self.hub.services.media
        file_id, size, mime = None, None, ""
        if message.photo:
            best = largest(message.photo)
            file_id, size = best.file_id, best.file_size
        elif message.document is not None and is_image(message.document):
            file_id, size = message.document.file_id, message.document.file_size
            mime = (message.document.mime_type or "").lower()
        if file_id is None:
            return None
        if media is None:
            raise MediaError(PHOTO_UNAVAILABLE, 503)
        data = await download(await self.bots.ready(), file_id, size, media.max_bytes)
        if mime in HEIC_TYPES or data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypheif"):
            data = await heic_to_jpeg(data, media.max_pixels)
        try:
            return await media.save(data)
        except MediaError as exc:
            if exc.status == 415:
                raise MediaError(NOT_A_PHOTO, 415) from None
            raise


def _label(query: CallbackQuery) -> str:
    """The tapped button's words, from the keyboard of the message it was on: a tap on an
    old question's button is then read as those words."""
    message = query.message
    markup = getattr(message, "reply_markup", None)
    for row in getattr(markup, "inline_keyboard", ()) or ():
        for button in row:
            if button.callback_data == query.data:
                return str(button.text)
    return ""


def parse_update(data: object, bot: Bot) -> Update | None:
    """An update from its JSON, or None when it is not one."""
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return None
    try:
        return Update.de_json(data, bot)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
