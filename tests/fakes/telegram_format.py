"""What the fake Bot API refuses in a message's text and reply markup, and with which words.

The rules and the error texts follow the Bot API server (tdlib/telegram-bot-api and tdlib's
HTML parser), so a bot that a test sees accepted here is accepted by Telegram, and a refusal
here reads as Telegram's would: byte offsets are UTF-8 offsets into the text as sent.

`strict=True` also refuses what the Bot API documentation forbids but the server lets
through: a bare "&" that begins no entity (the server keeps it as text) and an inline button
with two kinds at once (the server takes the first). Code that escapes with `html.escape` and
builds buttons of one kind passes either way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_BYTES = 64

_TAGS = {
    "a",
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "code",
    "pre",
    "tg-spoiler",
    "span",
    "blockquote",
    "tg-emoji",
}
_KINDS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACE = " \t\r\n\v\f"
# The server takes the first of these a button has; the documentation says exactly one.
_BUTTON_KINDS = (
    "url",
    "callback_data",
    "callback_game",
    "pay",
    "switch_inline_query",
    "switch_inline_query_chosen_chat",
    "switch_inline_query_current_chat",
    "login_url",
    "web_app",
    "copy_text",
)


class Refused(ValueError):
    """A 400 answer: `description` is the whole text Telegram would send."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def bad_request(message: str) -> Refused:
    """Word it as the server does: "Bad Request: " and a lower-case first letter, unless an error code."""
    if len(message) > 1 and not (message[1] == "_" or message[1].isupper()):
        message = message[0].lower() + message[1:]
    return Refused(f"Bad Request: {message}")


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _entity(src: str, at: int) -> tuple[str | None, int]:
    """The character an entity at `at` stands for and where it ends; None: the "&" stays text."""
    if src.startswith("&#", at):
        hexa = src.startswith(("&#x", "&#X"), at)
        digits = re.compile(r"[0-9a-fA-F]+" if hexa else r"[0-9]+").match(src, at + (3 if hexa else 2))
        if digits is None:
            return None, at
        value = int(digits.group(), 16 if hexa else 10)
        if 0xD800 <= value <= 0xDFFF:
            raise bad_request(
                "Can't parse entities: Text contains invalid Unicode characters after decoding HTML "
                "entities, check for unmatched surrogate code units"
            )
        end = digits.end() + src.startswith(";", digits.end())
        return (chr(value), end) if 0 < value <= 0x10FFFF else (None, at)
    name = re.compile(r"[a-zA-Z0-9]+").match(src, at + 1)
    if name is None or name.group() not in _NAMED:
        return None, at
    return _NAMED[name.group()], name.end() + src.startswith(";", name.end())


def _decode(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        char, end = _entity(text, i) if text[i] == "&" else (text[i], i + 1)
        out.append(char if char is not None else "&")
        i = end if char is not None else i + 1
    return "".join(out)


@dataclass
class _Open:
    name: str
    start: int  # UTF-16 offset in the plain text
    attributes: dict[str, str] = field(default_factory=dict)
    language: str = ""


class _Html:
    def __init__(self, source: str, strict: bool) -> None:
        self.source, self.strict = source, strict
        self.plain: list[str] = []
        self.u16 = 0
        self.stack: list[_Open] = []
        self.entities: list[dict[str, Any]] = []

    def offset(self, index: int) -> int:
        return len(self.source[:index].encode())

    def fail(self, message: str) -> Refused:
        return bad_request(f"Can't parse entities: {message}")

    def emit(self, text: str) -> None:
        self.plain.append(text)
        self.u16 += utf16_length(text)

    def parse(self) -> tuple[str, list[dict[str, Any]]]:
        src, i = self.source, 0
        while i < len(src):
            char = src[i]
            if char == "&":
                decoded, end = _entity(src, i)
                if decoded is None and self.strict:
                    raise self.fail(f'unescaped "&" at byte offset {self.offset(i)}, write &amp;')
                self.emit(decoded or "&")
                i = end if decoded is not None else i + 1
            elif char != "<":
                self.emit(char)
                i += 1
            elif src.startswith("</", i):
                i = self.end_tag(i)
            else:
                i = self.start_tag(i)
        if self.stack:
            raise self.fail(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"')
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.plain), self.entities

    def skip_space(self, i: int) -> int:
        while i < len(self.source) and self.source[i] in _SPACE:
            i += 1
        return i

    def start_tag(self, begin: int) -> int:
        src, i = self.source, begin + 1
        while i < len(src) and src[i] not in _SPACE and src[i] != ">":
            i += 1
        if i >= len(src):
            raise self.fail(f"Unclosed start tag at byte offset {self.offset(begin)}")
        name = src[begin + 1 : i].lower()
        if name not in _TAGS:
            raise self.fail(f'Unsupported start tag "{name}" at byte offset {self.offset(begin)}')
        tag = _Open(name, self.u16)
        while (i := self.skip_space(i)) >= len(src) or src[i] != ">":
            if i >= len(src):
                raise self.fail(f"Unclosed start tag at byte offset {self.offset(begin)}")
            i = self.attribute(tag, begin, i)
        if name == "span" and tag.attributes.get("class") != "tg-spoiler":
            raise self.fail(f'Tag "span" must have class "tg-spoiler" at byte offset {self.offset(begin)}')
        if name == "code" and tag.attributes.get("class", "").startswith("language-"):
            tag.language = tag.attributes["class"].removeprefix("language-")
        self.stack.append(tag)
        return i + 1

    def attribute(self, tag: _Open, begin: int, i: int) -> int:
        """Read one name=value of a start tag at `i`; return where the next one may begin."""
        src, at = self.source, f'"{tag.name}" at byte offset {self.offset(begin)}'
        first = i
        while i < len(src) and src[i] not in _SPACE and src[i] not in "=>":
            i += 1
        name = src[first:i].lower()
        if not name:
            raise self.fail(f"Empty attribute name in the tag {at}")
        if (i := self.skip_space(i)) >= len(src):
            raise self.fail(f"Unclosed start tag {at}")
        if src[i] != "=":
            if tag.name == "blockquote" and name == "expandable":
                tag.attributes[name] = ""
                return i
            raise self.fail(f"Expected equal sign in declaration of an attribute of the tag {at}")
        if (i := self.skip_space(i + 1)) >= len(src):
            raise self.fail(f"Unclosed start tag {at}")
        if src[i] in "'\"":
            close = src.find(src[i], i + 1)
            if close < 0:
                raise self.fail(f"Unclosed start tag at byte offset {self.offset(begin)}")
            tag.attributes[name] = _decode(src[i + 1 : close])
            return close + 1
        token = re.compile(r"[A-Za-z0-9.\-]*").match(src, i)
        assert token is not None
        if token.end() < len(src) and src[token.end()] not in _SPACE + ">":
            raise self.fail(f"Unexpected end of name token at byte offset {self.offset(i)}")
        tag.attributes[name] = token.group().lower()
        return token.end()

    def end_tag(self, begin: int) -> int:
        src = self.source
        if not self.stack:
            raise self.fail(f"Unexpected end tag at byte offset {self.offset(begin)}")
        i = begin + 2
        while i < len(src) and src[i] not in _SPACE and src[i] != ">":
            i += 1
        written = src[begin + 2 : i]
        while i < len(src) and src[i] in _SPACE:
            i += 1
        if i >= len(src) or src[i] != ">":
            raise self.fail(f"Unclosed end tag at byte offset {self.offset(begin)}")
        tag = self.stack.pop()
        if written and written != tag.name:
            raise self.fail(
                f'Unmatched end tag at byte offset {self.offset(begin)}, expected "</{tag.name}>", '
                f'found "</{written}>"'
            )
        self.close(tag)
        return i + 1

    def close(self, tag: _Open) -> None:
        length = self.u16 - tag.start
        parent = self.stack[-1] if self.stack else None
        if tag.name == "code" and tag.language and parent is not None and parent.name == "pre":
            parent.language = tag.language  # <pre><code class="language-x"> is one pre entity
            return
        entity: dict[str, Any] = {"offset": tag.start, "length": length}
        if tag.name == "a":
            if not tag.attributes.get("href"):
                return
            entity.update(type="text_link", url=tag.attributes["href"])
        elif tag.name == "tg-emoji":
            if not tag.attributes.get("emoji-id"):
                return
            entity.update(type="custom_emoji", custom_emoji_id=tag.attributes["emoji-id"])
        elif tag.name == "blockquote" and "expandable" in tag.attributes:
            entity["type"] = "expandable_blockquote"
        else:
            entity["type"] = _KINDS[tag.name]
        if tag.name == "pre" and tag.language:
            entity["language"] = tag.language
        if length > 0:
            self.entities.append(entity)


def parse_html(source: str, *, strict: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """The text a reader sees and its entities (UTF-16 offsets), or Refused as Telegram words it."""
    return _Html(source, strict).parse()


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Telegram drops leading and trailing white space; entities move and shrink with the text."""
    stripped = text.strip()
    lead = utf16_length(text[: len(text) - len(text.lstrip())])
    end = utf16_length(stripped)
    kept = []
    for entity in entities:
        start, stop = max(entity["offset"] - lead, 0), min(entity["offset"] + entity["length"] - lead, end)
        if stop > start:
            kept.append({**entity, "offset": start, "length": stop - start})
    return stripped, kept


def formatted(
    text: str, parse_mode: object, entities: object, *, caption: bool, strict: bool
) -> tuple[str, list[dict[str, Any]]]:
    """Check a message text or caption as sendMessage / sendPhoto would, and return it as stored."""
    mode = str(parse_mode or "").lower()
    if mode == "html":
        plain, found = parse_html(text, strict=strict)
    elif mode in ("", "none"):
        plain, found = text, list(entities) if isinstance(entities, list) else []
    elif mode in ("markdown", "markdownv2"):
        # Refused rather than passed through: a fake that accepted any Markdown would vouch for it.
        raise bad_request("this fake parses parse_mode HTML only, not " + str(parse_mode))
    else:
        raise bad_request("Unsupported parse_mode")
    plain, found = _trim(plain, found)
    if caption:
        if len(plain) > CAPTION_LIMIT:
            raise bad_request("Message caption is too long")
    elif not plain:
        raise bad_request("Message text is empty")
    elif len(plain) > TEXT_LIMIT:
        raise bad_request("Message is too long")
    return plain, found


def _inline_button(button: object, strict: bool) -> dict[str, Any]:
    prefix = "Can't parse inline keyboard button: "
    if not isinstance(button, dict):
        raise bad_request(prefix + "InlineKeyboardButton must be an Object")
    if "text" not in button:
        raise bad_request(prefix + 'Can\'t find field "text"')
    if not isinstance(button["text"], str):
        raise bad_request(prefix + 'Field "text" must be of type String')
    if not button["text"]:
        raise bad_request("BUTTON_TEXT_INVALID")
    kinds = [k for k in _BUTTON_KINDS if k in button and button[k] not in ("", None)]
    if not kinds:
        raise bad_request(prefix + "Text buttons are unallowed in the inline keyboard")
    if strict and len(kinds) > 1:
        raise bad_request(
            prefix + f"exactly one of {', '.join(kinds)} must be used (this fake's strict mode)"
        )
    data = button.get("callback_data")
    if kinds[0] == "callback_data":
        if not isinstance(data, str):
            raise bad_request(prefix + 'Field "callback_data" must be of type String')
        if len(data.encode()) > CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")
    return button


def _keyboard_button(button: object) -> None:
    if isinstance(button, str):
        return
    if not isinstance(button, dict):
        raise bad_request("Can't parse keyboard button: KeyboardButton must be a String or an Object")
    if not isinstance(button.get("text"), str):
        raise bad_request("Can't parse keyboard button: Can't find field \"text\"")
    location = button.get("request_location", False)
    if not isinstance(location, bool):
        raise bad_request('Can\'t parse keyboard button: Field "request_location" must be of type Boolean')


def reply_markup(value: object, *, strict: bool) -> dict[str, Any] | None:
    """Check a reply_markup; return it when a sent Message carries it back (inline keyboards only)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise bad_request("Can't parse reply keyboard markup JSON object") from None
    if not isinstance(value, dict):
        raise bad_request("Object expected as reply markup")
    keyboard = value.get("keyboard")
    if keyboard is not None:
        if not isinstance(keyboard, list) or not all(isinstance(row, list) for row in keyboard):
            raise bad_request('Field "keyboard" must be an Array of Arrays')
        for row in keyboard:
            for button in row:
                _keyboard_button(button)
    rows = value.get("inline_keyboard")
    if rows is None:
        return None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('Field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
    checked = [[_inline_button(button, strict) for button in row] for row in rows]
    return {"inline_keyboard": checked} if any(checked) and not keyboard else None
