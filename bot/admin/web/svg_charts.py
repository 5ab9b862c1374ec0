"""Bar charts as inline SVG, drawn on the server: no chart library, no script, nothing
fetched, and the same picture in every browser and in a saved page.

Each chart is an image to assistive technology (role="img" with its <title> and a <desc>
that says what it shows); the page puts the figures next to it as a table, so nobody has
to read numbers off bars. The drawings are about as wide as a phone (360 to 480 units), so
text stays readable when they shrink to 375 px, and the stylesheet caps how large they grow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

COLUMNS_WIDTH = 480  # twelve weeks side by side
BARS_WIDTH = 360  # one label a line: drawn at about the size it is read on a phone
INK, MUTED, BAR, EMPTY = "#1b1f24", "#57606a", "#0b5cad", "#d0d7de"


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    shown: str  # the value as the chart writes it: "12", "2.5 days"


def _open(ident: str, width: float, height: float, title: str, desc: str, css: str) -> list[str]:
    return [
        f'<svg class="chart {css}" role="img" aria-labelledby="{ident}-title {ident}-desc" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(desc)}</desc>',
    ]


def _text(x: float, y: float, words: str, *, size: int = 12, anchor: str = "start", fill: str = INK) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}">'
        f"{escape(words)}</text>"
    )


def _cut(words: str, most: int) -> str:
    return words if len(words) <= most else words[: most - 1].rstrip() + "…"


def column_chart(bars: Sequence[Bar], *, ident: str, title: str, desc: str) -> Markup:
    """Vertical bars left to right (weeks), the value above each and its label below, on
    two lines when it has two words ("14 Sep": the day, then the month), so twelve fit."""
    width, height, top, bottom, side = COLUMNS_WIDTH, 230.0, 22.0, 44.0, 8.0
    plot = height - top - bottom
    slot = (width - 2 * side) / max(1, len(bars))
    most = max((b.value for b in bars), default=0.0) or 1.0
    parts = _open(ident, width, height, title, desc, "columns")
    base = top + plot
    parts.append(f'<line x1="{side}" y1="{base:.1f}" x2="{width - side}" y2="{base:.1f}" stroke="{MUTED}"/>')
    for i, bar in enumerate(bars):
        x = side + i * slot
        h = plot * bar.value / most
        if h > 0:
            parts.append(
                f'<rect x="{x + slot * 0.15:.1f}" y="{base - h:.1f}" width="{slot * 0.7:.1f}" '
                f'height="{h:.1f}" fill="{BAR}"/>'
            )
        centre = x + slot / 2
        parts.append(_text(centre, base - h - 6, bar.shown, anchor="middle"))
        for line, words in enumerate(bar.label.split(" ", 1)):
            parts.append(_text(centre, base + 16 + 14 * line, words, size=12, anchor="middle", fill=MUTED))
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(bars: Sequence[Bar], *, ident: str, title: str, desc: str) -> Markup:
    """Horizontal bars top to bottom, each label on its own line above its bar: long
    street and service names stay whole on a phone."""
    width, row, side = BARS_WIDTH, 40.0, 4.0
    height = max(1, len(bars)) * row + 8
    widest = max((len(b.shown) for b in bars), default=0)
    room = width - 2 * side - 7.5 * widest - 8  # the longest bar leaves room for its value
    most = max((b.value for b in bars), default=0.0) or 1.0
    parts = _open(ident, width, height, title, desc, "bars")
    for i, bar in enumerate(bars):
        y = 4 + i * row
        parts.append(_text(side, y + 13, _cut(bar.label, 52), size=13))
        length = room * bar.value / most
        if length > 0:
            parts.append(
                f'<rect x="{side}" y="{y + 19:.1f}" width="{max(length, 1.5):.1f}" height="14" fill="{BAR}"/>'
            )
        parts.append(_text(side + length + 6, y + 31, bar.shown, size=12))
    parts.append("</svg>")
    return Markup("".join(parts))


def spark(values: Sequence[int], *, top: int, title: str) -> Markup:
    """A row of small columns on a scale shared by the rows of a table (`top` is the
    table's largest value), so rows compare at a glance; a zero is a grey tick."""
    height, slot = 28.0, 10.0
    width = slot * max(1, len(values))
    parts = [
        f'<svg class="spark" role="img" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
        f'height="{height:.0f}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, value in enumerate(values):
        h = (height - 2) * value / (top or 1)
        if value > 0:
            h = max(h, 2.0)
            x = i * slot + 1.5
            parts.append(f'<rect x="{x:.1f}" y="{height - h:.1f}" width="7" height="{h:.1f}" fill="{BAR}"/>')
        else:
            parts.append(
                f'<rect x="{i * slot + 1.5:.1f}" y="{height - 1:.1f}" width="7" height="1" fill="{EMPTY}"/>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
