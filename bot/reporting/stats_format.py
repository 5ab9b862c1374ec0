"""`civic311 stats` output: aligned plain-text tables for people, or one CSV table.

The CSV is a single table with a `section` column (total, service, street, reason) so
that one file opens in a spreadsheet and can be filtered there; the text shows the
busiest places only and says how to get them all.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from typing import TextIO

from bot.reporting.reports import REASON_WORDS, STATUS_WORDS, STATUSES
from bot.reporting.stats import PlaceStats, Stats, Tally

# `not_closed` is every report not closed; the status_ columns break it down
# (`status_open` is the status "open": new, not yet acknowledged).
CSV_COLUMNS = (
    "section",
    "key",
    "name",
    "total",
    "not_closed",
    "closed",
    "median_days_to_close",
    *(f"status_{s}" for s in STATUSES if s != "closed"),
)
TEXT_PLACES = 25  # the busiest streets and areas shown as text; the CSV has every one
_NUMBER = re.compile(r"-?[\d.]*")  # a count, a median, or "-" for none


def empty_message(stats: Stats) -> str:
    if stats.since is None:
        return "No reports yet."
    return f"No reports since {_since(stats)}."


def _since(stats: Stats) -> str:
    assert stats.since is not None
    local = stats.since.astimezone(stats.time_zone)
    return f"{local:%Y-%m-%d %H:%M}".removesuffix(" 00:00") + f" ({stats.time_zone})"


def _days(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _reason_name(reason: str) -> str:
    return REASON_WORDS.get(reason, reason.replace("_", " "))


def _place_name(place: PlaceStats) -> str:
    if place.kind == "area":
        return f"{place.label} (area)"
    if place.kind == "street":  # folded for grouping ("5th & market"); shown as a street name
        return " ".join(w[:1].upper() + w[1:] if w[:1].isalpha() else w for w in place.label.split(" "))
    return place.label


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Columns padded to their widest cell; numbers right-aligned, words left-aligned."""
    cells = [list(headers), *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_NUMBER.fullmatch(row[i]) for row in cells[1:]) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = (c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True))
        lines.append("  ".join(padded).rstrip())
    return lines


def _median(tally: Tally) -> str:
    return _days(tally.median_days_to_close, 1) or "-"


def _headline(stats: Stats) -> str:
    total = stats.total
    since = f" since {_since(stats)}" if stats.since else ""
    text = f"Reports{since}: {total.total} ({total.open} not closed, {total.closed} closed)"
    if total.median_days_to_close is not None:
        text += f"; median {total.median_days_to_close:.1f} days to close"
    return text


def _services(stats: Stats) -> list[str]:
    # The status columns add up to the total: new (status "open"), acknowledged, in
    # progress, closed.
    in_between = STATUSES[:-1]
    words = {"open": "New", **{s: STATUS_WORDS[s].capitalize() for s in in_between[1:]}}
    headers = ["Service", "Code", "Total", *(words[s] for s in in_between)]
    rows = [
        [
            s.name,
            s.code,
            s.tally.total,
            *(s.tally.by_status.get(status, 0) for status in in_between),
            s.tally.closed,
            _median(s.tally),
        ]
        for s in stats.services
    ]
    return table([*headers, "Closed", "Median days to close"], rows)


def _places(stats: Stats, shown: int) -> list[str]:
    rows = [
        [_place_name(p), p.tally.total, p.tally.open, p.tally.closed, _median(p.tally)] for p in stats.places
    ]
    lines = table(["Street or area", "Total", "Not closed", "Closed", "Median days to close"], rows[:shown])
    if len(rows) > shown:
        lines.append(f"... and {len(rows) - shown} more: `civic311 stats --csv` lists them all.")
    return lines


def _reasons(stats: Stats) -> list[str]:
    rows = [[_reason_name(r.reason), r.tally.closed, _median(r.tally)] for r in stats.reasons]
    return table(["Reason", "Closed", "Median days to close"], rows)


def as_text(stats: Stats, *, places: int = TEXT_PLACES) -> str:
    if stats.empty:
        return empty_message(stats)
    sections = [
        [_headline(stats)],
        ["By service", *_services(stats)],
        ["By street or area", *_places(stats, places)],
        ["Closed, by reason", *_reasons(stats)],
    ]
    return "\n\n".join("\n".join(section) for section in sections)


def write_csv(stats: Stats, out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def row(section: str, key: str, name: str, tally: Tally) -> None:
        by_status = [tally.by_status.get(s, 0) for s in STATUSES if s != "closed"]
        median = _days(tally.median_days_to_close, 2)
        writer.writerow([section, key, name, tally.total, tally.open, tally.closed, median, *by_status])

    row("total", "all", "all reports", stats.total)
    for service in stats.services:
        row("service", service.code, service.name, service.tally)
    for place in stats.places:
        row("street", place.label, place.kind, place.tally)
    for reason in stats.reasons:
        row("reason", reason.reason, _reason_name(reason.reason), reason.tally)
