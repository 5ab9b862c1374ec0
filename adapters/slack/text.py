"""Residents' words as Slack shows them: escaped, so nothing they write becomes a mention,
a channel-wide ping or a link (DESIGN.md: "Residents' text shown in Slack is escaped")."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

SECTION_LIMIT = 3000  # Slack's limit on a section's text
PLAIN_LIMIT = 150  # a header's


def escape(text: str) -> str:
    """Slack's three control characters as entities: `<!channel>`, `<@U123>` and `<url|x>`
    are then shown as typed, never acted on. (With `verbatim`, bare URLs and #names are
    not linked either.)"""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def quoted(text: str, limit: int = SECTION_LIMIT) -> str:
    """A resident's text as a block quote, escaped and cut to fit a section."""
    lines = escape(cut(text, limit - 200)).splitlines() or [""]
    return "\n".join(f"&gt; {line}" for line in lines)


def clock(moment: datetime, zone: ZoneInfo) -> str:
    """A time as staff read it in the city: "Tue 2 Dec 10:02"."""
    local = moment.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def link(url: str, label: str) -> str:
    """A link we make (a map, a photo): our URL and our words, so nothing to escape but
    Slack's own characters."""
    return f"<{url.replace('|', '%7C').replace('>', '%3E')}|{escape(label).replace('|', '/')}>"


def map_url(lat: float, lon: float) -> str:
    return f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=18/{lat:.6f}/{lon:.6f}"
