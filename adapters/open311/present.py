"""What the public sees: services, requests and updates as Open311 fields.

Everything here may be read by anyone (open-data portals call it from browsers),
so no contact field is ever taken from a report, and e-mail addresses and phone
numbers that residents typed into free text are blanked out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from adapters.open311 import statuses
from adapters.open311.render import w3c
from bot.api import Report, ReportEvent, reports
from knowledge.catalogue import Attribute, Catalogue, Service

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
EMAIL_REMOVED = "[email removed]"
PHONE_REMOVED = "[phone removed]"
NAME_REMOVED = "[personal data removed]"

_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# Phone numbers as people write them: +1 (415) 555-0123, 415.555.0123, 4155550123,
# 555-0123, +44 20 7946 0958. Dates (2026-11-24), coordinates (-122.4193) and report
# numbers (10234) do not match: they lack the digit groups or separators used here.
_PHONE = re.compile(
    r"(?<![\w.,/-])(?:"
    r"\+\d{1,3}[\s.-]?(?:\(?\d{1,4}\)?[\s.-]?){2,5}\d{2,4}"  # international
    r"|(?:1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}"  # North American, ten digits
    r"|\d{3}[\s-]\d{4}"  # local, seven digits with a separator
    r")(?![\w/-]|[.,]\d)"
)

DATATYPE_WORDS = {
    "string": "Text on one line.",
    "text": "Text, several lines if needed.",
    "number": "A number, such as 3 or 2.5.",
    "datetime": "A date and time in W3C format, such as 2026-11-24T07:40:00-08:00.",
    "singlevaluelist": "One of the keys in values.",
    "multivaluelist": "One or more of the keys in values, sent as attribute[code][]=key for each.",
}


def personal_terms(contact: dict[str, Any] | None) -> tuple[str, ...]:
    """The filer's own contact values, to blank out wherever they were typed again
    ('this is Janet Doe, ...' in a description, 'spoke to Janet' in a staff note)."""
    values = (str(v).strip() for v in (contact or {}).values() if v is not None)
    return tuple(sorted({v for v in values if len(v) >= 2}, key=len, reverse=True))


def redact(text: str | None, personal: tuple[str, ...] = ()) -> str | None:
    """Free text without the e-mail addresses and phone numbers residents put in it,
    nor the filer's own name and other contact values."""
    if not text:
        return text
    text = _PHONE.sub(PHONE_REMOVED, _EMAIL.sub(EMAIL_REMOVED, text))
    for term in personal:
        text = re.sub(rf"(?<!\w){re.escape(term)}(?!\w)", NAME_REMOVED, text, flags=re.IGNORECASE)
    return text


def service_entry(service: Service) -> dict[str, Any]:
    return {
        "service_code": service.code,
        "service_name": service.name,
        "description": service.description,
        "metadata": bool(service.attributes),
        "type": "realtime",
        "keywords": ", ".join(service.keywords),
        "group": service.group,
    }


def _attribute_entry(attribute: Attribute) -> dict[str, Any]:
    return {
        "variable": True,
        "code": attribute.code,
        "datatype": attribute.datatype,
        "required": attribute.required,
        "datatype_description": DATATYPE_WORDS.get(attribute.datatype, ""),
        "order": attribute.order,
        "description": attribute.description,
        "values": [{"key": v.key, "name": v.name} for v in attribute.values],
    }


def service_definition(service: Service) -> dict[str, Any]:
    return {
        "service_code": service.code,
        "attributes": [_attribute_entry(a) for a in service.attributes],
    }


def service_notice(service: Service | None) -> str | None:
    if service is None or not service.typical_days:
        return None
    days = service.typical_days
    return f"Requests like this are usually handled within {days} day{'s' if days != 1 else ''}."


def status_notes(report: Report, latest_note: str | None) -> str | None:
    """The close reason in words, then the latest note from staff."""
    parts = []
    if report.status == "closed" and report.close_reason in reports.REASON_WORDS:
        parts.append(f"Closed: {reports.REASON_WORDS[report.close_reason]}.")
    if latest_note:
        parts.append(latest_note)
    return redact(" ".join(parts), personal_terms(report.contact)) if parts else None


def media_url(value: str, url_for_key: Callable[[str], str]) -> str:
    """An external URL (given through Open311) as is; a stored photo's key as its URL."""
    return value if value.startswith(("http://", "https://")) else url_for_key(value)


def request_entry(
    report: Report,
    catalogue: Catalogue,
    *,
    latest_note: str | None,
    zone: ZoneInfo,
    url_for_key: Callable[[str], str],
) -> dict[str, Any]:
    service = catalogue.get(report.service_code)
    expected = (
        report.created_at + timedelta(days=service.typical_days)
        if service is not None and service.typical_days
        else None
    )
    return {
        "service_request_id": str(report.number),
        "status": statuses.simple(report.status),
        "status_notes": status_notes(report, latest_note),
        "service_name": service.name if service else None,
        "service_code": report.service_code,
        "description": redact(report.description, personal_terms(report.contact)) or "",
        "agency_responsible": report.department or (service.department if service else None) or None,
        "service_notice": service_notice(service),
        "requested_datetime": w3c(report.created_at, zone),
        "updated_datetime": w3c(report.updated_at, zone),
        "expected_datetime": w3c(expected, zone),
        "address": report.address,
        "address_id": None,
        "zipcode": None,
        "lat": report.lat,
        "long": report.lon,
        "media_url": media_url(str(report.media[0]), url_for_key) if report.media else None,
    }


def update_entry(
    event: ReportEvent, number: str, *, zone: ZoneInfo, personal: tuple[str, ...] = ()
) -> dict[str, Any]:
    return {
        "update_id": str(event.id),
        "service_request_id": number,
        "status": statuses.simple(event.status),
        "extended_status": statuses.extended(event.status, event.close_reason),
        "description": redact(event.note, personal) or "",
        "updated_datetime": w3c(event.created_at, zone),
        "media_url": None,
    }


def created_entry(report: Report, service: Service) -> dict[str, Any]:
    return {
        "service_request_id": str(report.number),
        "service_notice": service_notice(service),
        "account_id": None,
    }


def discovery(base_url: str, changeset: datetime, zone: ZoneInfo, city: str) -> dict[str, Any]:
    stamp = w3c(changeset, zone)
    return {
        "changeset": stamp,
        "contact": f"{city} 311: {base_url.rsplit('/open311', 1)[0]}/",
        "key_service": f"Ask {city}'s 311 team for an API key to post requests and updates.",
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": base_url,
                "changeset": stamp,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
