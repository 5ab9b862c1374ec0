"""Open311 responses in the two formats the spec allows: XML (required) and JSON.

Handlers build plain dicts and lists once; this module turns them into either
format, so the two can never disagree on a field. XML lists need an element
name for each item, which the spec fixes per list (`services` → `service`).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

FORMATS = ("json", "xml")
JSON_TYPE = "application/json"
XML_TYPE = "text/xml"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

# Each list's item element, as the spec (and the mySociety extension) name them.
ITEM_TAGS = {
    "services": "service",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "service_requests": "request",
    "service_request_updates": "request_update",
    "errors": "error",
}

# Characters XML 1.0 cannot carry at all, even escaped; a resident's text may hold them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def w3c(moment: datetime | None, zone: ZoneInfo) -> str | None:
    """A datetime as the spec wants it: the city's local time with its UTC offset."""
    if moment is None:
        return None
    return moment.astimezone(zone).isoformat(timespec="seconds")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), child)
    elif isinstance(value, list):
        item_tag = ITEM_TAGS.get(element.tag, "item")
        for child in value:
            _fill(ET.SubElement(element, item_tag), child)
    else:
        element.text = _text(value)


def to_xml(root: str, data: Any) -> bytes:
    """`data` under a root element; a list becomes repeated item elements."""
    element = ET.Element(root)
    _fill(element, data)
    return XML_DECLARATION + ET.tostring(element, encoding="unicode").encode("utf-8")


def respond(fmt: str, root: str, data: Any, *, status: int = 200, cors: bool = True) -> web.Response:
    """The response in `fmt`; `root` names the XML root element (JSON has none)."""
    headers = {"Access-Control-Allow-Origin": "*"} if cors else {}
    if fmt == "xml":
        return web.Response(
            body=to_xml(root, data), status=status, content_type=XML_TYPE, charset="utf-8", headers=headers
        )
    return web.Response(
        text=json.dumps(data, ensure_ascii=False),
        status=status,
        content_type=JSON_TYPE,
        charset="utf-8",
        headers=headers,
    )
