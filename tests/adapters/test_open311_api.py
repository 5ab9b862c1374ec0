"""Open311 GeoReport v2 reads through real HTTP (aiohttp's test server), on each database:
every route in both formats, the spec's field names and types, and the request filters."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.open311.routes import MAX_RESULTS_KEY
from bot.hub import Hub
from bot.reporting import reports
from bot.timeutil import utcnow
from bot.web.server import create_app

BASE = "/open311/v2"
FORMATS = ["json", "xml"]
REQUEST_FIELDS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]
SERVICE_FIELDS = ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"]
UPDATE_FIELDS = [
    "update_id",
    "service_request_id",
    "status",
    "extended_status",
    "description",
    "updated_datetime",
    "media_url",
]
INSIDE = (37.7793, -122.4193)  # City Hall


@pytest.fixture
async def client(hub: Hub) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(hub, deliver_outbox=False))) as client:
        yield client


XML_LISTS = {"attributes", "values", "endpoints", "formats", "errors"}


def xml_value(element: ET.Element) -> Any:
    """An element as plain data: text, a list (for the spec's list elements) or a dict."""
    children = list(element)
    if element.tag in XML_LISTS:
        return [xml_value(c) for c in children]
    if not children:
        return element.text or ""
    return {c.tag: xml_value(c) for c in children}


async def get(client: TestClient, path: str, fmt: str, expect: int = 200, **params: str) -> Any:
    """GET path.fmt; JSON as parsed, XML parsed back into records (proving it well-formed)."""
    response = await client.get(f"{BASE}/{path}.{fmt}", params=params)
    body = await response.read()
    assert response.status == expect, body[:500]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    if fmt == "json":
        assert response.content_type == "application/json"
        return await response.json()
    assert response.content_type == "text/xml" and response.charset == "utf-8"
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(body)


async def file(
    hub: Hub,
    service_code: str = "pothole",
    *,
    now: datetime | None = None,
    description: str = "deep hole",
    media: list[str] | None = None,
    **extra: Any,
) -> str:
    async with hub.db.transaction() as s:
        report = await reports.file_report(
            s,
            service_code=service_code,
            description=description,
            now=now or utcnow(),
            lat=INSIDE[0],
            lon=INSIDE[1],
            place="1 Dr Carlton B Goodlett Pl",
            media=media,
            **extra,
        )
        assert report.number is not None
        return report.number


async def change(hub: Hub, number: str, status: str, note: str | None = None, **kw: Any) -> None:
    async with hub.db.transaction() as s:
        await reports.set_status(s, number, status, now=kw.pop("now", utcnow()), note=note, **kw)


def has_offset(value: str) -> bool:
    return datetime.fromisoformat(value).utcoffset() is not None and value[-6] in "+-"


# --- discovery and services ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
async def test_discovery_lists_the_endpoint_with_its_formats(client: TestClient, hub: Hub, fmt: str) -> None:
    body = await get(client, "discovery", fmt)
    if fmt == "xml":
        assert body.tag == "discovery"
        (endpoint,) = xml_value(body)["endpoints"]
        changeset = body.findtext("changeset")
    else:
        (endpoint,) = body["endpoints"]
        changeset = body["changeset"]
    assert endpoint["url"] == f"{hub.settings.PUBLIC_URL}/open311/v2"
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["type"] == "production"
    assert sorted(endpoint["formats"]) == ["application/json", "text/xml"]
    assert changeset and has_offset(changeset)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_services_list_every_active_service_with_the_spec_fields(
    client: TestClient, hub: Hub, fmt: str
) -> None:
    body = await get(client, "services", fmt)
    if fmt == "xml":
        assert body.tag == "services" and all(c.tag == "service" for c in body)
        services = [{c.tag: c.text or "" for c in s} for s in body]
    else:
        services = body
    async with hub.db.reading() as s:
        catalogue = (await hub.services.knowledge.current(s)).catalogue
    assert [s["service_code"] for s in services] == [s.code for s in catalogue.services if s.active]
    for entry in services:
        assert list(entry) == SERVICE_FIELDS
        assert entry["type"] == "realtime"
    by_code = {s["service_code"]: s for s in services}
    dumping, lights = by_code["illegal-dumping"], by_code["streetlight"]
    assert dumping["service_name"] == "Dumped items or bags on the sidewalk"
    assert dumping["group"] == "Trash and cleaning"
    assert "illegal dumping" in dumping["keywords"].split(", ")
    # Published keywords are clean words; misspellings are training examples, not public data.
    published = {k for s in services for k in s["keywords"].split(", ")}
    assert "pothole" in published and not {"pothol", "strret light", "grafitti", "neeldes"} & published
    assert dumping["metadata"] == (True if fmt == "json" else "true")
    assert lights["metadata"] in (True, "true")


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_service_definition_describes_each_attribute(client: TestClient, fmt: str) -> None:
    body = await get(client, "services/illegal-dumping", fmt)
    if fmt == "xml":
        assert body.tag == "service_definition"
        definition = xml_value(body)
        (attribute,) = definition["attributes"]
        attribute["required"] = attribute["required"] == "true"
        attribute["variable"] = attribute["variable"] == "true"
        attribute["order"] = int(attribute["order"])
    else:
        definition = body
        (attribute,) = body["attributes"]
    assert definition["service_code"] == "illegal-dumping"
    assert list(attribute) == [
        "variable",
        "code",
        "datatype",
        "required",
        "datatype_description",
        "order",
        "description",
        "values",
    ]
    assert attribute["variable"] is True and attribute["required"] is True and attribute["order"] == 1
    assert attribute["code"] == "items" and attribute["datatype"] == "multivaluelist"
    assert attribute["datatype_description"]
    assert {"key": "mattress", "name": "mattress"} in attribute["values"]
    assert all(list(v) == ["key", "name"] for v in attribute["values"])


@pytest.mark.parametrize("fmt", FORMATS)
async def test_an_unknown_service_is_404_in_the_spec_error_format(client: TestClient, fmt: str) -> None:
    body = await get(client, "services/no-such-thing", fmt, expect=404)
    errors = xml_value(body) if fmt == "xml" else body
    if fmt == "xml":
        assert body.tag == "errors" and body[0].tag == "error"
    assert [int(e["code"]) for e in errors] == [404]
    assert "no-such-thing" in errors[0]["description"]


async def test_an_unknown_format_or_resource_is_404(client: TestClient) -> None:
    for path in ("services.csv", "requests.html", "requests", "services", "nothing-here.json"):
        response = await client.get(f"{BASE}/{path}")
        assert response.status == 404, path
        (error,) = await response.json()
        assert error["code"] == 404 and error["description"]
    response = await client.get(f"{BASE}/services.yaml")
    assert "use .json or .xml" in (await response.json())[0]["description"]


# --- requests -------------------------------------------------------------------------------


def request_records(body: Any, fmt: str) -> list[dict[str, Any]]:
    if fmt == "xml":
        assert body.tag == "service_requests" and all(c.tag == "request" for c in body)
        return [{c.tag: c.text for c in r} for r in body]
    return list(body)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_request_has_every_spec_field_with_the_right_types(
    client: TestClient, hub: Hub, fmt: str
) -> None:
    number = await file(hub, "streetlight", description="Light out all night", media=["k3y-abc.jpg"])
    await change(hub, number, "in_progress", note="Crew booked for Tuesday")
    body = await get(client, f"requests/{number}", fmt)
    (record,) = request_records(body, fmt)
    assert list(record) == REQUEST_FIELDS
    assert record["service_request_id"] == number
    assert record["status"] == "open"  # in progress is still open in GeoReport v2
    assert record["status_notes"] == "Crew booked for Tuesday"
    assert record["service_code"] == "streetlight"
    assert record["service_name"] == "Streetlight out or damaged"
    assert record["description"] == "Light out all night"
    assert record["agency_responsible"] == "Public Utilities"
    assert "7 days" in record["service_notice"]
    assert record["address"] == "1 Dr Carlton B Goodlett Pl"
    assert record["address_id"] in (None, "") and record["zipcode"] in (None, "")
    assert float(record["lat"]) == INSIDE[0] and float(record["long"]) == INSIDE[1]
    if fmt == "json":
        assert isinstance(record["lat"], float) and isinstance(record["service_request_id"], str)
    assert record["media_url"].startswith("http") and record["media_url"].endswith("/media/k3y-abc.jpg")
    requested = datetime.fromisoformat(record["requested_datetime"])
    expected = datetime.fromisoformat(record["expected_datetime"])
    for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert has_offset(record[name]), record[name]
        moment = datetime.fromisoformat(record[name])
        assert moment.utcoffset() == moment.astimezone(hub.settings.time_zone).utcoffset()  # city time
    assert expected - requested == timedelta(days=7)
    assert abs(requested - utcnow()) < timedelta(minutes=5)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_closed_request_says_why_in_words(client: TestClient, hub: Hub, fmt: str) -> None:
    number = await file(hub)
    await change(hub, number, "closed", note="Filled with asphalt", reason="duplicate")
    (record,) = request_records(await get(client, f"requests/{number}", fmt), fmt)
    assert record["status"] == "closed"
    assert record["status_notes"] == "Closed: a duplicate of another report. Filled with asphalt"


async def test_an_external_media_url_is_given_as_is(client: TestClient, hub: Hub) -> None:
    number = await file(hub, media=["https://photos.example.org/hole.jpg", "second"])
    (record,) = await get(client, f"requests/{number}", "json")
    assert record["media_url"] == "https://photos.example.org/hole.jpg"


@pytest.mark.parametrize("fmt", FORMATS)
async def test_an_unknown_request_is_404(client: TestClient, fmt: str) -> None:
    for missing in ("99999", "abc"):
        body = await get(client, f"requests/{missing}", fmt, expect=404)
        description = body.findtext("error/description") if fmt == "xml" else body[0]["description"]
        assert missing in description


@pytest.mark.parametrize("fmt", FORMATS)
async def test_requests_filter_by_id_list_overriding_the_other_filters(
    client: TestClient, hub: Hub, fmt: str
) -> None:
    numbers = [await file(hub) for _ in range(3)]
    old = await file(hub, now=utcnow() - timedelta(days=200))
    wanted = f"{numbers[0]},{numbers[2]}, {old}"
    body = await get(client, "requests", fmt, service_request_id=wanted, status="closed")
    ids = sorted(r["service_request_id"] for r in request_records(body, fmt))
    assert ids == sorted([numbers[0], numbers[2], old])


async def test_requests_filter_by_service_code_list(client: TestClient, hub: Hub) -> None:
    pothole, light, graffiti = await file(hub), await file(hub, "streetlight"), await file(hub, "graffiti")
    body = await get(client, "requests", "json", service_code="pothole,streetlight")
    assert sorted(r["service_request_id"] for r in body) == sorted([pothole, light])
    body = await get(client, "requests", "json", service_code="graffiti")
    assert [r["service_request_id"] for r in body] == [graffiti]
    assert await get(client, "requests", "json", service_code="no-such-service") == []


async def test_requests_filter_by_status_open_includes_acknowledged_and_in_progress(
    client: TestClient, hub: Hub
) -> None:
    opened, acked, working, closed = [await file(hub) for _ in range(4)]
    await change(hub, acked, "acknowledged")
    await change(hub, working, "in_progress")
    await change(hub, closed, "closed")
    body = await get(client, "requests", "json", status="open")
    assert sorted(r["service_request_id"] for r in body) == sorted([opened, acked, working])
    assert {r["status"] for r in body} == {"open"}
    body = await get(client, "requests", "xml", status="closed")
    assert [r["service_request_id"] for r in request_records(body, "xml")] == [closed]
    body = await get(client, "requests", "json", status="open,closed")
    assert len(body) == 4


async def test_an_unknown_status_filter_is_400(client: TestClient) -> None:
    response = await client.get(f"{BASE}/requests.json", params={"status": "pending"})
    assert response.status == 400
    assert "status" in (await response.json())[0]["description"]


async def test_requests_filter_by_start_and_end_dates_in_w3c_format(client: TestClient, hub: Hub) -> None:
    now = utcnow().replace(microsecond=0)
    ten, five, one = [await file(hub, now=now - timedelta(days=d)) for d in (10, 5, 1)]
    zone = hub.settings.time_zone
    start = (now - timedelta(days=7)).astimezone(zone).isoformat()  # with an offset
    end = (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")  # in UTC with Z
    body = await get(client, "requests", "json", start_date=start, end_date=end)
    assert [r["service_request_id"] for r in body] == [five]
    body = await get(client, "requests", "json", start_date=start)  # to 90 days after the start
    assert [r["service_request_id"] for r in body] == [one, five]
    body = await get(client, "requests", "json", end_date=end)  # the 90 days before the end
    assert [r["service_request_id"] for r in body] == [five, ten]


async def test_an_offset_whose_plus_was_not_url_encoded_still_parses(client: TestClient, hub: Hub) -> None:
    number = await file(hub, now=utcnow() - timedelta(days=3))
    start = (utcnow() - timedelta(days=4)).strftime("%Y-%m-%dT%H:%M:%S") + "+00:00"
    # A literal '+' in a query string is a space once decoded.
    response = await client.get(f"{BASE}/requests.json?start_date={start}")
    assert response.status == 200, await response.text()
    assert [r["service_request_id"] for r in await response.json()] == [number]


async def test_requests_default_to_the_most_recent_90_days(client: TestClient, hub: Hub) -> None:
    recent = await file(hub, now=utcnow() - timedelta(days=89))
    old = await file(hub, now=utcnow() - timedelta(days=91))
    body = await get(client, "requests", "json")
    assert [r["service_request_id"] for r in body] == [recent]
    start = (utcnow() - timedelta(days=120)).isoformat()
    body = await get(client, "requests", "json", start_date=start)
    assert [r["service_request_id"] for r in body] == [recent, old]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2026-13-45T00:00:00Z"}, "end_date"),
        ({"start_date": "2026-05-01T00:00:00Z", "end_date": "2026-04-01T00:00:00Z"}, "later than end_date"),
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, "90 days"),
        ({"service_request_id": "10001,abc"}, "service_request_id"),
        ({"page_size": "0"}, "page_size"),
    ],
)
async def test_bad_filters_are_400_naming_the_parameter(
    client: TestClient, params: dict[str, str], expected: str
) -> None:
    for fmt in FORMATS:
        response = await client.get(f"{BASE}/requests.{fmt}", params=params)
        assert response.status == 400
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        text = await response.text()
        assert expected in text
        if fmt == "xml":
            assert ET.fromstring(text).findtext("error/code") == "400"


@pytest.mark.parametrize("cap", [3, 5])
async def test_requests_are_capped_newest_first_and_can_be_paged(hub: Hub, cap: int) -> None:
    app = create_app(hub, deliver_outbox=False)
    app[MAX_RESULTS_KEY] = cap
    now = utcnow()
    numbers = [await file(hub, now=now - timedelta(hours=i)) for i in range(cap + 2)]  # newest first
    async with TestClient(TestServer(app)) as client:
        body = await get(client, "requests", "json")
        assert [r["service_request_id"] for r in body] == numbers[:cap]
        body = await get(client, "requests", "json", page_size="2", page="2")
        assert [r["service_request_id"] for r in body] == numbers[2:4]
        response = await client.get(f"{BASE}/requests.json", params={"page_size": str(cap + 1)})
        assert response.status == 400


# --- servicerequestupdates (mySociety's extension) -----------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
async def test_updates_list_one_entry_per_report_event(client: TestClient, hub: Hub, fmt: str) -> None:
    number = await file(hub)
    await change(hub, number, "acknowledged")
    await change(hub, number, "in_progress", note="Crew on site")
    await change(hub, number, "closed", note="Filled", reason="fixed")
    other = await file(hub, "graffiti")
    await change(hub, other, "closed", reason="not_city_responsibility")
    body = await get(client, "servicerequestupdates", fmt)
    if fmt == "xml":
        assert body.tag == "service_request_updates" and all(c.tag == "request_update" for c in body)
        updates = [{c.tag: c.text or "" for c in u} for u in body]
    else:
        updates = body
    assert all(list(u) == UPDATE_FIELDS for u in updates)
    mine = [u for u in updates if u["service_request_id"] == number]
    assert [(u["status"], u["extended_status"]) for u in mine] == [
        ("open", "OPEN"),
        ("open", "INVESTIGATING"),
        ("open", "IN_PROGRESS"),
        ("closed", "FIXED"),
    ]
    assert [u["description"] for u in mine] == ["", "", "Crew on site", "Filled"]
    assert len({u["update_id"] for u in updates}) == len(updates) == 6
    assert all(u["update_id"].isdigit() and has_offset(u["updated_datetime"]) for u in updates)
    (last,) = [u for u in updates if u["service_request_id"] == other and u["status"] == "closed"]
    assert last["extended_status"] == "NOT_COUNCILS_RESPONSIBILITY"


async def test_updates_filter_by_dates_and_request(client: TestClient, hub: Hub) -> None:
    now = utcnow().replace(microsecond=0)
    first = await file(hub, now=now - timedelta(days=3))
    await change(hub, first, "in_progress", now=now - timedelta(days=2))
    second = await file(hub, now=now - timedelta(hours=1))
    start = (now - timedelta(days=2, hours=1)).isoformat()
    body = await get(client, "servicerequestupdates", "json", start_date=start)
    assert [(u["service_request_id"], u["extended_status"]) for u in body] == [
        (first, "IN_PROGRESS"),
        (second, "OPEN"),
    ]
    body = await get(client, "servicerequestupdates", "json", service_request_id=first)
    assert [u["extended_status"] for u in body] == ["OPEN", "IN_PROGRESS"]
    response = await client.get(f"{BASE}/servicerequestupdates.xml", params={"end_date": "soon"})
    assert response.status == 400 and "end_date" in await response.text()


async def test_jurisdiction_id_is_accepted_and_ignored(client: TestClient, hub: Hub) -> None:
    number = await file(hub)
    body = await get(client, "requests", "json", jurisdiction_id="city.example.gov")
    assert [r["service_request_id"] for r in body] == [number]
    assert await get(client, "services", "json", jurisdiction_id="anything")
