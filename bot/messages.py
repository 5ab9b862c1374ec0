"""Channel-neutral messages: what every adapter translates to and from.

Dialogs only ever see these types, never a Telegram Update or a Slack
payload. An outgoing message may ask for more than a channel can show; the
channel's `Capabilities` decide, and `degrade` turns the rest into plain text
(numbered choices the resident can answer with the number or the words).
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from bot.timeutil import utcnow

Request = Literal["location", "photo"]


@dataclass(frozen=True, slots=True)
class Location:
    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat <= 90.0 and -180.0 <= self.lon <= 180.0):
            raise ValueError("latitude must be within ±90 and longitude within ±180")


@dataclass(frozen=True, slots=True)
class Photo:
    """A photo already stored by civic311 (EXIF removed), known by its media key."""

    key: str
    content_type: str = "image/jpeg"


@dataclass(frozen=True, slots=True)
class Incoming:
    channel: str
    conversation: str  # the channel's address of the thread (chat id, session id)
    message_id: str  # the platform's id: unique per channel, redeliveries repeat it
    sender: str = ""
    text: str = ""
    photos: tuple[Photo, ...] = ()
    location: Location | None = None
    choice: str | None = None  # a choice's id, or its `token` as a channel carried it
    received_at: datetime = field(default_factory=utcnow)
    # What came that the bot cannot read, in words ("a voice message", "a sticker"), so the
    # answer can say so; the message is then empty.
    unreadable: str = ""

    @property
    def is_empty(self) -> bool:
        return not (self.text.strip() or self.photos or self.location or self.choice)

    def cleaned(self) -> Incoming:
        """The same message with text every database can store and every tokenizer can
        read: a platform or a client may send NUL or a lone surrogate."""
        said = (self.conversation, self.message_id, self.sender, self.text, self.choice or "")
        conversation, message_id, sender, text, choice = (clean_text(x) for x in said)
        if (conversation, message_id, sender, text, choice) == said:
            return self
        return replace(
            self,
            conversation=conversation,
            message_id=message_id,
            sender=sender,
            text=text,
            choice=choice or None,
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"text": self.text}
        if self.photos:
            data["photos"] = [{"key": p.key, "content_type": p.content_type} for p in self.photos]
        if self.location:
            data["location"] = {"lat": self.location.lat, "lon": self.location.lon}
        if self.choice:
            data["choice"] = self.choice
        return data


@dataclass(frozen=True, slots=True)
class Choice:
    id: str
    label: str
    # Other words that pick it when typed ("location" or "address" for "Place"); the label
    # alone is what channels show.
    aliases: tuple[str, ...] = ()

    @property
    def token(self) -> str:
        """What a channel carries back when the choice is tapped: the id when it is short,
        else a digest of it. Platforms limit such data (Telegram: 64 bytes, Slack: 255
        characters), and ids hold a city's own codes, which may be long."""
        return choice_token(self.id)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "label": self.label}
        if self.aliases:
            out["aliases"] = list(self.aliases)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Choice:
        return cls(str(data["id"]), str(data["label"]), tuple(str(a) for a in data.get("aliases") or ()))


MAX_TOKEN_BYTES = 64  # Telegram's limit on callback data, the smallest of the platforms'
_DIGEST_MARK = "~"  # no dialog's id starts with it


def choice_token(choice_id: str) -> str:
    if len(choice_id.encode()) <= MAX_TOKEN_BYTES and not choice_id.startswith(_DIGEST_MARK):
        return choice_id
    digest = hashlib.sha256(choice_id.encode()).digest()[:18]
    return _DIGEST_MARK + base64.urlsafe_b64encode(digest).decode()


@dataclass(frozen=True, slots=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True, slots=True)
class Outgoing:
    text: str
    choices: tuple[Choice, ...] = ()
    request: Request | None = None
    photo_url: str | None = None
    links: tuple[Link, ...] = ()
    urgent: bool = False  # the 911 message: channels that can, show it as an alert

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "text": self.text,
            "choices": [c.to_json() for c in self.choices],
            "request": self.request,
            "photo_url": self.photo_url,
            "links": [{"title": link.title, "url": link.url} for link in self.links],
        }
        if self.urgent:
            out["urgent"] = True
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outgoing:
        return cls(
            text=str(data.get("text", "")),
            choices=tuple(Choice.from_json(c) for c in data.get("choices", [])),
            request=data.get("request"),
            photo_url=data.get("photo_url"),
            links=tuple(Link(str(x["title"]), str(x["url"])) for x in data.get("links", [])),
            urgent=bool(data.get("urgent", False)),
        )


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a channel can render natively."""

    buttons: bool = False
    photos: bool = False
    location_request: bool = False
    markdown: bool = False
    links: bool = False


PLAIN_TEXT = Capabilities()


def degrade(message: Outgoing, caps: Capabilities) -> Outgoing:
    """Rewrite what the channel cannot show into text it can."""
    text = message.text if caps.markdown else flatten_markdown(message.text)
    extra: list[str] = []
    choices = message.choices
    if choices and not caps.buttons:
        extra.append("\n".join(f"{n}. {c.label}" for n, c in enumerate(choices, 1)))
        extra.append("Reply with a number or the words.")
        choices = ()
    links = message.links
    if links and not caps.links:
        extra.append("\n".join(f"{link.title}: {link.url}" for link in links))
        links = ()
    request = message.request
    if request == "location" and not caps.location_request:
        request = None
    if request == "photo" and not caps.photos:
        request = None
    photo_url = message.photo_url
    if photo_url and not caps.photos:
        extra.append(f"Photo: {photo_url}")
        photo_url = None
    if extra:
        text = "\n\n".join([text, *extra]) if text else "\n\n".join(extra)
    return replace(message, text=text, choices=choices, links=links, request=request, photo_url=photo_url)


_BOLD = re.compile(r"\*\*(.+?)\*\*")


def flatten_markdown(text: str) -> str:
    """Our Markdown subset (**bold**, '- ' bullets) as plain text."""
    text = _BOLD.sub(r"\1", text)
    return "\n".join("• " + line[2:] if line.startswith("- ") else line for line in text.splitlines())


_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    """Text without the characters PostgreSQL cannot store (NUL) or that mean nothing in a
    message (other control characters; tabs and line breaks stay), and with any lone UTF-16
    surrogate (which cannot be encoded as UTF-8 at all) shown as U+FFFD."""
    if text.isascii() and text.isprintable():
        return text
    text = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return _UNSTORABLE.sub("", text)


def normalise(text: str) -> str:
    """Lower case, accents and punctuation folded: for comparing what people type."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return " ".join(re.sub(r"[^\w#]+", " ", text).split())


_FILLER = re.compile(r"^(?:(?:change|edit|fix|correct)\s+)?(?:(?:the|my)\s+)?")


def resolve_choice(text: str, choices: list[Choice] | tuple[Choice, ...]) -> str | None:
    """Map a typed answer to one of the offered choices: its number, its
    label, or a unique word-prefix of the label ("first", "the second one")."""
    if not choices:
        return None
    said = normalise(text)
    if not said:
        return None
    ordinals = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "last": len(choices)}
    words = said.split()
    number: int | None = None
    if said.isascii() and said.isdigit():  # "²" and "፩" are digits to str.isdigit, not to int()
        number = int(said)
    elif len(words) <= 3:
        for word in words:
            if word in ordinals:
                number = ordinals[word]
            elif word.isascii() and word.isdigit() and len(words) <= 2:
                number = int(word)
    if number is not None:
        return choices[number - 1].id if 1 <= number <= len(choices) else None
    labels = [normalise(c.label) for c in choices]
    core = _FILLER.sub("", said)  # "the location", "change the address"
    for choice, label in zip(choices, labels, strict=True):
        if label in (said, core) or {said, core} & {normalise(a) for a in choice.aliases}:
            return choice.id
    starts = [c for c, label in zip(choices, labels, strict=True) if label.startswith(said)]
    if len(starts) == 1 and len(said) >= 3:
        return starts[0].id
    return None
