"""Reading and checking what Open311 clients send: query filters, new requests, updates.

Every check collects its complaint instead of stopping at the first, so a client
learns everything that is wrong with one call; nothing is written unless all
checks pass (the handlers file only a fully parsed request).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from multidict import MultiMapping

from adapters.open311 import statuses
from bot.api import report_queries
from knowledge.catalogue import Attribute, Service
from knowledge.geo import Boundary

MAX_WINDOW = timedelta(days=90)  # the spec's default range, and its longest
MAX_RESULTS = 1000  # the spec's default cap on returned requests
MAX_IDS = 1000
MAX_DESCRIPTION = 4000
MAX_ADDRESS = 500
MAX_ATTRIBUTE_TEXT = 2000
MAX_CONTACT = 200
MAX_URL = 2000
CONTACT_FIELDS = ("email", "first_name", "last_name", "phone", "device_id", "account_id")
DATE_EXAMPLE = "2026-11-24T07:40:00-08:00"

_ATTRIBUTE_KEY = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")
# A '+' of an offset that the client did not URL-encode arrives as a space.
_SPACE_OFFSET = re.compile(r"^(.*\d) (\d{2}:?\d{2})$")


class ApiError(Exception):
    """A request the API refuses; `problems` are sentences for the client's developer."""

    def __init__(self, status: int, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.status = status
        self.problems = list(problems)


def _value(params: MultiMapping[str], name: str) -> str | None:
    """A single parameter, stripped; empty counts as absent."""
    raw = params.get(name)
    if raw is None:
        return None
    text = str(raw).strip()
    return text or None


def comma_list(params: MultiMapping[str], name: str) -> list[str]:
    """A parameter the spec allows 'multiple times, comma delimited': both forms, in order."""
    items: list[str] = []
    for raw in params.getall(name, []):
        for part in str(raw).split(","):
            part = part.strip()
            if part and part not in items:
                items.append(part)
    return items


def parse_datetime(name: str, raw: str, zone: ZoneInfo) -> datetime:
    """A W3C datetime ('...Z' or with an offset). A date or time without an offset is
    read as the city's local time, which is what a person typing it means."""
    text = raw.strip()
    match = _SPACE_OFFSET.match(text)
    if match:
        text = f"{match.group(1)}+{match.group(2)}"
    try:
        if len(text) > 64:
            raise ValueError
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(
            400, f"{name}: '{raw[:64]}' is not a W3C date and time (for example {DATE_EXAMPLE})."
        ) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=zone)
    try:
        moment.astimezone(UTC)  # as the database stores it: 9999-12-31 in the west is year 10000
    except OverflowError:
        raise ApiError(400, f"{name}: '{raw[:64]}' is out of range.") from None
    return moment


def _optional_datetime(params: MultiMapping[str], name: str, zone: ZoneInfo) -> datetime | None:
    raw = _value(params, name)
    return None if raw is None else parse_datetime(name, raw, zone)


def _positive_int(params: MultiMapping[str], name: str, default: int, most: int) -> int:
    raw = _value(params, name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= most:
        raise ApiError(400, f"{name}: '{raw[:20]}' must be a whole number from 1 to {most}.")
    return int(raw)


def date_window(params: MultiMapping[str], now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """start_date/end_date as the spec defines them: the most recent 90 days by default,
    90 days from a lone start or up to a lone end, and never more than 90 days."""
    start = _optional_datetime(params, "start_date", zone)
    end = _optional_datetime(params, "end_date", zone)
    if start is None and end is None:
        end = now
    try:
        if start is None:
            assert end is not None
            start = end - MAX_WINDOW
        if end is None:
            end = start + MAX_WINDOW
    except OverflowError:  # 90 days before 0001-01-01 or after 9999-12-31
        raise ApiError(400, "start_date and end_date must be dates between the years 1 and 9999.") from None
    if start > end:
        raise ApiError(400, "start_date must not be later than end_date.")
    if end - start > MAX_WINDOW:
        raise ApiError(400, "start_date to end_date may span at most 90 days.")
    return start, end


def request_ids(params: MultiMapping[str], name: str = "service_request_id") -> tuple[str, ...]:
    ids = comma_list(params, name)
    if len(ids) > MAX_IDS:
        raise ApiError(400, f"{name}: at most {MAX_IDS} ids at once.")
    bad = [i for i in ids if not (i.isascii() and i.isdigit()) or len(i) > 18]
    if bad:
        raise ApiError(400, f"{name}: {', '.join(repr(b[:20]) for b in bad[:5])} not a request id (digits).")
    return tuple(ids)


def parse_request_query(
    params: MultiMapping[str], *, now: datetime, zone: ZoneInfo, max_results: int
) -> report_queries.ReportQuery:
    page_size = _positive_int(params, "page_size", max_results, max_results)
    page = _positive_int(params, "page", 1, 1_000_000)
    ids = request_ids(params)
    if ids:
        return report_queries.ReportQuery(ids=ids, limit=max_results)
    wanted = comma_list(params, "status")
    unknown = [s for s in wanted if s.lower() not in ("open", "closed")]
    if unknown:
        shown = ", ".join(repr(u[:20]) for u in unknown)
        raise ApiError(400, f"status: {shown} unknown; use open or closed.")
    ours: list[str] = []
    for status in (s.lower() for s in wanted):
        ours += statuses.OPEN_STATUSES if status == "open" else statuses.CLOSED_STATUSES
    start, end = date_window(params, now, zone)
    return report_queries.ReportQuery(
        service_codes=tuple(comma_list(params, "service_code")),
        statuses=tuple(dict.fromkeys(ours)),
        start=start,
        end=end,
        limit=page_size,
        offset=(page - 1) * page_size,
    )


def parse_update_query(
    params: MultiMapping[str], *, now: datetime, zone: ZoneInfo, max_results: int
) -> report_queries.EventQuery:
    start, end = date_window(params, now, zone)
    return report_queries.EventQuery(start, end, request_ids(params), max_results)


def _http_url(name: str, raw: str, problems: list[str]) -> str | None:
    try:
        parts = urlsplit(raw)
    except ValueError:  # "http://[::1"
        parts = urlsplit("")
    if len(raw) > MAX_URL or parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(f"{name}: must be an http:// or https:// URL of at most {MAX_URL} characters.")
        return None
    return raw


def _text_field(params: MultiMapping[str], name: str, most: int, problems: list[str]) -> str | None:
    raw = _value(params, name)
    if raw is not None and len(raw) > most:
        problems.append(f"{name}: at most {most} characters (got {len(raw)}).")
        return None
    return raw


@dataclass(frozen=True, slots=True)
class NewRequest:
    """A POSTed service request, fully checked; ready for `bot.reporting.reports.file_report`."""

    service_code: str
    description: str
    lat: float | None = None
    lon: float | None = None
    place: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    media: list[str] = field(default_factory=list)
    contact: dict[str, str] = field(default_factory=dict)


def _coordinates(
    params: MultiMapping[str], boundary: Boundary | None, problems: list[str]
) -> tuple[float | None, float | None]:
    raw_lat, raw_lon = _value(params, "lat"), _value(params, "long")
    if raw_lat is None and raw_lon is None:
        return None, None
    if raw_lat is None or raw_lon is None:
        problems.append("lat and long: give both, or neither.")
        return None, None
    try:
        lat, lon = float(raw_lat), float(raw_lon)
    except ValueError:
        problems.append(f"lat/long: '{raw_lat[:30]}', '{raw_lon[:30]}' are not decimal degrees.")
        return None, None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        problems.append("lat/long: latitude must be within ±90 and longitude within ±180.")
        return None, None
    if boundary is not None and not boundary.contains(lat, lon):
        problems.append(f"lat/long: {lat}, {lon} is outside the city; only places inside it can be reported.")
        return None, None
    return lat, lon


def raw_attributes(params: MultiMapping[str]) -> dict[str, list[str]]:
    """`attribute[code]=v` and `attribute[code][]=v1&attribute[code][]=v2`, by code."""
    found: dict[str, list[str]] = {}
    for key, value in params.items():
        match = _ATTRIBUTE_KEY.match(key)
        if match:
            text = str(value).strip()
            values = found.setdefault(match.group(1), [])
            if text:
                values.append(text)
    return found


def _attribute_value(attribute: Attribute, values: list[str], zone: ZoneInfo, problems: list[str]) -> Any:
    name = f"attribute[{attribute.code}]"
    keys = [v.key for v in attribute.values]
    if attribute.datatype == "multivaluelist":
        bad = [v for v in values if v not in keys]
        if bad:
            problems.append(f"{name}: {', '.join(repr(b[:40]) for b in bad)} not among {', '.join(keys)}.")
        return list(dict.fromkeys(values))
    if len(values) > 1:
        problems.append(f"{name}: takes one value (got {len(values)}).")
        return None
    value = values[0]
    if attribute.datatype == "singlevaluelist":
        if value not in keys:
            problems.append(f"{name}: '{value[:40]}' is not one of {', '.join(keys)}.")
        return value
    if attribute.datatype == "number":
        try:
            number = float(value)
            if not math.isfinite(number):
                raise ValueError
        except ValueError:
            problems.append(f"{name}: '{value[:40]}' is not a number.")
            return None
        written_whole = value.lstrip("+-").isascii() and value.lstrip("+-").isdigit()
        return int(number) if written_whole else number
    if attribute.datatype == "datetime":
        try:
            return parse_datetime(name, value, zone).isoformat(timespec="seconds")
        except ApiError as exc:
            problems.extend(exc.problems)
            return None
    if len(value) > MAX_ATTRIBUTE_TEXT:
        problems.append(f"{name}: at most {MAX_ATTRIBUTE_TEXT} characters.")
    return value


def check_attributes(
    service: Service, given: dict[str, list[str]], zone: ZoneInfo, problems: list[str]
) -> dict[str, Any]:
    """The service's own questions, checked against its definition: required ones
    answered, list answers among the keys, numbers and datetimes that parse."""
    known = {a.code: a for a in service.attributes}
    unknown = [code for code in given if code not in known]
    if unknown:
        problems.append(
            f"attribute: {', '.join(repr(u[:40]) for u in unknown)} not defined for service "
            f"'{service.code}' (see services/{service.code}.json)."
        )
    checked: dict[str, Any] = {}
    for attribute in service.attributes:
        values = given.get(attribute.code) or []
        if not values:
            if attribute.required:
                problems.append(f"attribute[{attribute.code}]: required ({attribute.description})")
            continue
        checked[attribute.code] = _attribute_value(attribute, values, zone, problems)
    return checked


def parse_new_request(
    params: MultiMapping[str], service: Service, *, boundary: Boundary | None, zone: ZoneInfo
) -> NewRequest:
    problems: list[str] = []
    lat, lon = _coordinates(params, boundary, problems)
    address = _text_field(params, "address_string", MAX_ADDRESS, problems)
    address_id = _text_field(params, "address_id", MAX_CONTACT, problems)
    has_location = lat is not None or address is not None or address_id is not None
    if not has_location and not any(p.startswith(("lat", "address")) for p in problems):
        problems.append("location: give lat and long, address_string or address_id.")
    description = _text_field(params, "description", MAX_DESCRIPTION, problems) or ""
    media: list[str] = []
    media_raw = _value(params, "media_url")
    if media_raw is not None and (url := _http_url("media_url", media_raw, problems)):
        media.append(url)
    contact = {}
    for name in CONTACT_FIELDS:
        value = _text_field(params, name, MAX_CONTACT, problems)
        if value is not None:
            contact[name] = value
    attributes = check_attributes(service, raw_attributes(params), zone, problems)
    if problems:
        raise ApiError(400, *problems)
    place = address if address is not None else (f"address_id {address_id}" if address_id else None)
    return NewRequest(service.code, description, lat, lon, place, attributes, media, contact)


@dataclass(frozen=True, slots=True)
class NewUpdate:
    """A POSTed status update (mySociety's extension), ready for `bot.reporting.reports.set_status`."""

    number: str
    status: str
    reason: str | None
    note: str | None
    at: datetime | None
    media_url: str | None
    update_id: str | None = None  # the client's own id: a retry with it is answered, not applied again


def parse_new_update(params: MultiMapping[str], *, now: datetime, zone: ZoneInfo) -> NewUpdate:
    problems: list[str] = []
    number = _value(params, "service_request_id")
    if number is None:
        problems.append("service_request_id: required.")
    elif not (number.isascii() and number.isdigit()) or len(number) > 18:
        problems.append(f"service_request_id: '{number[:20]}' is not a request id (digits).")
    raw_status = _value(params, "status")
    mapped = statuses.parse_extended(raw_status) if raw_status else None
    if raw_status is None:
        problems.append("status: required.")
    elif mapped is None:
        problems.append(
            f"status: '{raw_status[:40]}' unknown; use one of {', '.join(statuses.FROM_EXTENDED)}."
        )
    note = _text_field(params, "description", MAX_DESCRIPTION, problems)
    at: datetime | None = None
    raw_at = _value(params, "updated_datetime")
    if raw_at is not None:
        try:
            at = parse_datetime("updated_datetime", raw_at, zone)
        except ApiError as exc:
            problems.extend(exc.problems)
        else:
            if at > now + timedelta(minutes=5):
                problems.append("updated_datetime: is in the future.")
    media_raw = _value(params, "media_url")
    media_url = _http_url("media_url", media_raw, problems) if media_raw is not None else None
    update_id = _value(params, "update_id")
    if update_id is not None and not 0 < len(update_id.strip()) <= 200:
        problems.append("update_id: must be 1 to 200 characters.")
    if problems:
        raise ApiError(400, *problems)
    assert number is not None and mapped is not None
    return NewUpdate(
        number, mapped[0], mapped[1], note, at, media_url, update_id.strip() if update_id else None
    )
