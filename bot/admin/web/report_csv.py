"""The reports CSV for a city's analysts: one row per report, so any count (per service per
week, per street, time to close by month) is a pivot table away, rather than a fixed table
that answers only the question we thought of.

What is left out on purpose: the description and the address as typed (free text, where
residents' names and phone numbers turn up; the file gets mailed around), the contact
details, and who follows a report. The street or area (`place`) and the pin stay.

Cells are written for spreadsheets: a text cell that begins with = + - @ (or a tab or a
carriage return) is prefixed with an apostrophe, so Excel or LibreOffice show it as text
instead of running it as a formula (CSV injection: a service name or a street typed as
"=HYPERLINK(...)"). Numbers are written as numbers and are never touched.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from bot.admin.web.report_filters import place_words
from bot.reporting.places import parse_place_key

BOM = "\ufeff"  # Excel reads the file as UTF-8 only with it; csv readers take it with utf-8-sig
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# (column, what it is): the stats page lists these, so the file explains itself.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("number", "the report's number, as the resident was given it"),
    ("service_code", "the service's code (stable: Open311 and links use it)"),
    ("service_name", "the service's name in the catalogue now"),
    ("status", "open, acknowledged, in_progress or closed"),
    ("close_reason", "for closed reports: fixed, duplicate, not_city_responsibility or no_further_action"),
    ("created", "when it was filed, local time (year-month-day hour:minute)"),
    ("created_date", "the day it was filed, local"),
    ("created_week", "the Monday of the week it was filed, local: pivot on this for reports per week"),
    ("closed", "when it was closed, local time; empty while not closed"),
    ("days_to_close", "days from filing to closing, two decimals; empty while not closed"),
    ("place_kind", "street (the street of the address typed), area (a ~500 m square around a pin) or none"),
    ("place", "the street or area, as the statistics group reports"),
    ("latitude", "the pin's latitude, if the resident sent one"),
    ("longitude", "the pin's longitude"),
    ("department", "the department the report went to, if any"),
    ("source", "how it came: chat, open311, ..."),
)


def safe(value: Any) -> Any:
    """A text cell a spreadsheet would take for a formula, made plain text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _local(moment: datetime | None, zone: tzinfo, style: str = "%Y-%m-%d %H:%M") -> str:
    return "" if moment is None else moment.astimezone(zone).strftime(style)


def row_of(row: Sequence[Any], names: Mapping[str, str], zone: tzinfo) -> list[Any]:
    """One report (the columns of `report_queries.csv_rows`) as the cells of `COLUMNS`."""
    _id, number, code, status, reason, created, closed, days, place_key, lat, lon, department, source = row
    local = created.astimezone(zone)
    monday = (local - timedelta(days=local.weekday())).strftime("%Y-%m-%d")
    kind, label = parse_place_key(place_key)
    cells = [
        number,
        code,
        names.get(code, code),
        status,
        reason or "",
        local.strftime("%Y-%m-%d %H:%M"),
        local.strftime("%Y-%m-%d"),
        monday,
        _local(closed, zone),
        round(days, 2) if days is not None else "",
        kind,
        label if kind == "area" else place_words(place_key),
        round(lat, 6) if lat is not None else "",
        round(lon, 6) if lon is not None else "",
        department or "",
        source,
    ]
    return [safe(cell) for cell in cells]


def header() -> str:
    return BOM + lines([[name for name, _ in COLUMNS]])


def lines(rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180, as spreadsheets expect
    writer.writerows(rows)
    return out.getvalue()
