"""An answer as residents will see it: the web chat's Markdown subset (**bold**, "- "
bullets, line breaks, blank-line paragraphs, as chat.js draws it) and the plain text of a
terminal. Built as data for the template, which escapes every piece: an answer can never
put markup of its own into the admin page."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.messages import PLAIN_TEXT, Link, Outgoing, degrade

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_BULLET = re.compile(r"^\s*[-*•]\s+(.*)$")

Inline = list[tuple[bool, str]]  # (bold, text) pieces of one line


@dataclass(slots=True)
class Block:
    kind: str  # "p" (its lines are broken by <br>) or "ul" (its lines are items)
    lines: list[Inline]


@dataclass(frozen=True, slots=True)
class Preview:
    blocks: list[Block]
    links: list[tuple[str, str]]
    plain: str


def _inline(line: str) -> Inline:
    pieces: Inline = []
    at = 0
    for match in _BOLD.finditer(line):
        if match.start() > at:
            pieces.append((False, line[at : match.start()]))
        pieces.append((True, match.group(1)))
        at = match.end()
    if at < len(line):
        pieces.append((False, line[at:]))
    return pieces


def blocks(text: str) -> list[Block]:
    out: list[Block] = []
    current: Block | None = None
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        bullet = _BULLET.match(line)
        if bullet:
            if current is None or current.kind != "ul":
                current = Block("ul", [])
                out.append(current)
            current.lines.append(_inline(bullet.group(1)))
        elif not line.strip():
            current = None
        else:
            if current is None or current.kind != "p":
                current = Block("p", [])
                out.append(current)
            current.lines.append(_inline(line))
    return out


def preview(answer: str, links: list[tuple[str, str]]) -> Preview:
    message = Outgoing(text=answer, links=tuple(Link(title, url) for title, url in links))
    return Preview(blocks(answer), links, degrade(message, PLAIN_TEXT).text)
