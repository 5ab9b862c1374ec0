"""Our messages in Telegram's terms: HTML text, keyboards, and pieces within its limits.

Telegram shows at most 4,096 characters a message and 1,024 a photo caption, and
refuses HTML it cannot parse, so every resident's or city's text is escaped and only
our own few tags are added. Choices become an inline keyboard whose buttons carry the
choice's short token (callback data is at most 64 bytes). A request for a location
is a reply keyboard with Telegram's "share location" button, because that button
exists only there; the choices offered with it go on the same keyboard, and a tap
sends the label, which the engine reads like typed words.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.api import Outgoing

MAX_TEXT = 4096
SHARE_LOCATION = "📍 Share my location"
TYPE_IT = "Or type the address"

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove

_BOLD = re.compile(r"\*\*(.+?)\*\*")


@dataclass(frozen=True, slots=True)
class Piece:
    """One Bot API message: HTML text, or a photo (a media key or URL) with no text."""

    html: str = ""
    photo: str | None = None
    markup: Markup | None = None


def to_html(text: str) -> str:
    """Our Markdown subset (**bold**, '- ' bullets) as Telegram HTML, everything else escaped."""
    lines = []
    for line in text.split("\n"):
        bullet = line.startswith("- ")
        escaped = html.escape(line[2:] if bullet else line, quote=False)
        escaped = _BOLD.sub(r"<b>\1</b>", escaped)
        lines.append(("• " if bullet else "") + escaped)
    return "\n".join(lines)


def render_pieces(text: str, limit: int = MAX_TEXT) -> list[str]:
    """The text as HTML pieces of at most `limit` characters, cut between lines, else
    between words, else inside a word too long for a piece. Each piece is rendered from
    its own part of the text, so no cut falls inside a tag or an entity."""
    pieces: list[str] = []
    current: list[str] = []
    for line in text.split("\n"):
        if len(to_html("\n".join([*current, line]))) <= limit:
            current.append(line)
            continue
        if current:
            pieces.append(to_html("\n".join(current)))
        current = [line]
        if len(to_html(line)) > limit:
            *whole, last = _cut(line, limit)
            pieces += [to_html(part) for part in whole]
            current = [last]
    if current and "\n".join(current).strip():
        pieces.append(to_html("\n".join(current)))
    return [p for p in pieces if p.strip()]


def _cut(line: str, limit: int) -> list[str]:
    parts: list[str] = []
    current = ""
    for word in re.findall(r"\S+\s*|\s+", line):
        while len(to_html(current + word)) > limit:
            if current.strip():
                parts.append(current)
                current = ""
                continue
            take = len(word)  # one word over a whole piece: as much of it as fits
            while take > 1 and len(to_html(word[:take])) > limit:
                take = take * 3 // 4
            parts.append(word[:take])
            word = word[take:]
        current += word
    return [*parts, current]


def inline_keyboard(message: Outgoing) -> InlineKeyboardMarkup | None:
    rows = [[InlineKeyboardButton(c.label[:200], callback_data=c.token)] for c in message.choices]
    rows += [
        [InlineKeyboardButton(link.title[:200], url=link.url)] for link in message.links if _web(link.url)
    ]
    return InlineKeyboardMarkup(rows) if rows else None


def location_keyboard(message: Outgoing) -> ReplyKeyboardMarkup:
    rows = [[KeyboardButton(SHARE_LOCATION, request_location=True)]]
    rows += [[KeyboardButton(c.label[:200])] for c in message.choices]
    return ReplyKeyboardMarkup(
        rows, resize_keyboard=True, one_time_keyboard=True, input_field_placeholder=TYPE_IT
    )


def pieces(message: Outgoing) -> list[Piece]:
    """What to send, in order: the text (split if long), the keyboard on its last piece,
    then the photo. Links a button cannot carry (not http or https) stay in the text."""
    text = message.text
    odd_links = [link for link in message.links if not _web(link.url)]
    if odd_links:
        text += "\n\n" + "\n".join(f"{link.title}: {link.url}" for link in odd_links)
    if message.request == "location":
        markup: Markup | None = location_keyboard(message)
    else:
        markup = inline_keyboard(message) or ReplyKeyboardRemove()
    out = [Piece(html=part) for part in render_pieces(text)] if text.strip() else []
    if out:
        out[-1] = Piece(html=out[-1].html, markup=markup)
    elif markup is not None and not isinstance(markup, ReplyKeyboardRemove):
        out.append(Piece(html="…", markup=markup))  # a keyboard needs a message to hang on
    if message.photo_url:
        out.append(Piece(photo=message.photo_url))
    return out


def _web(url: str) -> bool:
    return url.startswith(("https://", "http://"))
