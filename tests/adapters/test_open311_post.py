"""Open311 writes through real HTTP, on each database: POST requests and POST
servicerequestupdates, every refusal (with nothing written), and no personal data
in anything the API gives back."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.hub import Hub
from bot.models import OutboxMessage, Report, ReportEvent
from bot.reporting import reports
from bot.settings import Settings
from bot.timeutil import utcnow
from bot.web.server import create_app
from tests.hubs import prepared_hub

BASE = "/open311/v2"
INSIDE = ("37.7793", "-122.4193")  # City Hall
PACIFIC = ("37.75", "-122.55")  # a few kilometres off Ocean Beach


@pytest.fixture
async def keyed_hub(settings: Settings) -> AsyncIterator[Hub]:
    async with prepared_hub(settings.model_copy(update={"OPEN311_API_KEYS": "k1,k2"})) as hub:
        yield hub


@pytest.fixture
async def client(keyed_hub: Hub) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(keyed_hub, deliver_outbox=False))) as client:
        yield client


def form(**fields: Any) -> list[tuple[str, str]]:
    """A form body; a list value is sent as repeated fields."""
    items: list[tuple[str, str]] = []
    for key, value in fields.items():
        for one in value if isinstance(value, list) else [value]:
            items.append((key, str(one)))
    return items


def dumping(**extra: Any) -> list[tuple[str, str]]:
    fields: dict[str, Any] = {
        "api_key": "k1",
        "service_code": "illegal-dumping",
        "lat": INSIDE[0],
        "long": INSIDE[1],
        "description": "A mattress and bags by the bus stop",
    }
    fields.update(extra)
    items = form(**{k: v for k, v in fields.items() if v is not None})
    if "attribute[items][]" not in fields:
        items += [("attribute[items][]", "mattress"), ("attribute[items][]", "bags")]
    return items


async def counts(hub: Hub) -> tuple[int, int, int]:
    async with hub.db.reading() as s:
        found = [
            int(await s.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Report, ReportEvent, OutboxMessage)
        ]
    return found[0], found[1], found[2]


async def stored(hub: Hub, number: str) -> Report:
    async with hub.db.reading() as s:
        report = await reports.find(s, number)
        assert report is not None
        return report


async def post(client: TestClient, path: str, data: list[tuple[str, str]], fmt: str = "json") -> Any:
    response = await client.post(f"{BASE}/{path}.{fmt}", data=data)
    text = await response.text()
    if fmt == "xml":
        assert response.content_type == "text/xml"
        return response.status, ET.fromstring(text)
    assert response.content_type == "application/json"
    return response.status, await response.json() if text else None


# --- POST requests ---------------------------------------------------------------------------


async def test_a_good_request_is_filed_as_a_report(client: TestClient, keyed_hub: Hub) -> None:
    status, body = await post(client, "requests", dumping(media_url="https://photos.example.org/m.jpg"))
    assert status == 200, body
    (created,) = body
    assert list(created) == ["service_request_id", "service_notice", "account_id"]
    number = created["service_request_id"]
    assert isinstance(number, str) and number.isdigit()
    assert created["account_id"] is None and "2 days" in created["service_notice"]
    report = await stored(keyed_hub, number)
    assert report.source == "open311" and report.status == "open"
    assert report.service_code == "illegal-dumping" and report.department == "Public Works"
    assert (report.lat, report.lon) == (float(INSIDE[0]), float(INSIDE[1]))
    assert report.attributes == {"items": ["mattress", "bags"]}
    assert report.media == ["https://photos.example.org/m.jpg"]
    assert report.description == "A mattress and bags by the bus stop"
    response = await client.get(f"{BASE}/requests/{number}.json")
    (record,) = await response.json()
    assert record["status"] == "open" and record["media_url"] == "https://photos.example.org/m.jpg"


async def test_a_good_request_in_xml_and_by_address_with_the_key_in_the_query(
    client: TestClient, keyed_hub: Hub
) -> None:
    data = form(
        service_code="streetlight",
        address_string="Market St & 5th St",
        **{"attribute[problem]": "flickering", "attribute[pole_number]": "SL-2231"},
    )
    response = await client.post(f"{BASE}/requests.xml?api_key=k2", data=data)
    assert response.status == 200
    root = ET.fromstring(await response.read())
    assert root.tag == "service_requests" and [c.tag for c in root] == ["request"]
    number = root.findtext("request/service_request_id")
    assert number and number.isdigit()
    assert [c.tag for c in root[0]] == ["service_request_id", "service_notice", "account_id"]
    report = await stored(keyed_hub, number)
    assert report.address == "Market St & 5th St" and report.lat is None
    assert report.attributes == {"problem": "flickering", "pole_number": "SL-2231"}


async def test_one_multi_value_answer_may_also_be_sent_without_brackets(
    client: TestClient, keyed_hub: Hub
) -> None:
    data = [(k, v) for k, v in dumping() if not k.startswith("attribute")]
    data += [
        ("attribute[items]", "furniture"),
        ("attribute[items]", "debris"),
        ("attribute[items][]", "debris"),
    ]
    status, body = await post(client, "requests", data)
    assert status == 200, body
    report = await stored(keyed_hub, body[0]["service_request_id"])
    assert report.attributes == {"items": ["furniture", "debris"]}


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_posting_needs_a_key_that_is_accepted(client: TestClient, keyed_hub: Hub, fmt: str) -> None:
    before = await counts(keyed_hub)
    for key, expected in ((None, "required"), ("wrong", "not accepted"), ("k1,k2", "not accepted")):
        data = [(k, v) for k, v in dumping() if k != "api_key"]
        if key is not None:
            data.append(("api_key", key))
        status, body = await post(client, "requests", data, fmt)
        assert status == 403
        text = ET.tostring(body, encoding="unicode") if fmt == "xml" else body[0]["description"]
        assert expected in text
    assert await counts(keyed_hub) == before


async def test_posting_is_closed_when_no_keys_are_configured(hub: Hub) -> None:
    async with TestClient(TestServer(create_app(hub, deliver_outbox=False))) as client:
        status, body = await post(client, "requests", dumping())
        assert status == 403 and "closed" in body[0]["description"]
        status, body = await post(client, "servicerequestupdates", form(api_key="k1", status="OPEN"))
        assert status == 403 and "OPEN311_API_KEYS" in body[0]["description"]
    assert await counts(hub) == (0, 0, 0)


async def test_an_unknown_service_is_404_and_a_missing_one_400(client: TestClient, keyed_hub: Hub) -> None:
    status, body = await post(client, "requests", dumping(service_code="unicorn-sighting"))
    assert status == 404 and "unicorn-sighting" in body[0]["description"]
    status, body = await post(client, "requests", [(k, v) for k, v in dumping() if k != "service_code"])
    assert status == 400 and "service_code" in body[0]["description"]
    assert await counts(keyed_hub) == (0, 0, 0)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"lat": None, "long": None}, "location"),
        ({"lat": PACIFIC[0], "long": PACIFIC[1]}, "outside the city"),
        ({"long": None}, "give both"),
        ({"lat": "north", "long": "west"}, "decimal degrees"),
        ({"lat": "95", "long": "10"}, "within ±90"),
        ({"attribute[items][]": ["mattress", "sofa"]}, "'sofa' not among"),
        ({"attribute[colour]": "red"}, "'colour' not defined"),
        ({"description": "x" * 4001}, "description: at most 4000"),
        ({"media_url": "ftp://example.org/m.jpg"}, "media_url"),
        ({"media_url": "javascript:alert(1)"}, "media_url"),
        ({"email": "a" * 300 + "@example.org"}, "email: at most"),
    ],
)
async def test_bad_requests_are_400_saying_what_is_wrong_and_write_nothing(
    client: TestClient, keyed_hub: Hub, changes: dict[str, Any], expected: str
) -> None:
    status, body = await post(client, "requests", dumping(**changes))
    assert status == 400, body
    assert all(e["code"] == 400 for e in body)
    assert any(expected in e["description"] for e in body), body
    status, root = await post(client, "requests", dumping(**changes), "xml")
    assert status == 400 and root.tag == "errors"
    assert any(expected in (e.findtext("description") or "") for e in root.findall("error"))
    assert await counts(keyed_hub) == (0, 0, 0)


async def test_required_and_single_value_attributes_are_checked(client: TestClient, keyed_hub: Hub) -> None:
    light = form(api_key="k1", service_code="streetlight", lat=INSIDE[0], long=INSIDE[1])
    status, body = await post(client, "requests", light)
    assert status == 400 and "attribute[problem]: required" in body[0]["description"]
    status, body = await post(client, "requests", [*light, ("attribute[problem]", "broken")])
    assert status == 400 and "'broken' is not one of out, flickering, day, pole" in body[0]["description"]
    two = [*light, ("attribute[problem][]", "out"), ("attribute[problem][]", "day")]
    status, body = await post(client, "requests", two)
    assert status == 400 and "takes one value" in body[0]["description"]
    status, body = await post(client, "requests", dumping(**{"attribute[items][]": []}))
    assert status == 400 and "attribute[items]: required" in body[0]["description"]
    assert await counts(keyed_hub) == (0, 0, 0)


async def test_every_problem_is_listed_at_once(client: TestClient, keyed_hub: Hub) -> None:
    data = dumping(
        lat=PACIFIC[0], long=PACIFIC[1], media_url="file:///etc/passwd", **{"attribute[items][]": "x"}
    )
    status, body = await post(client, "requests", data)
    assert status == 400
    described = " ".join(e["description"] for e in body)
    assert (
        len(body) == 3 and "outside the city" in described and "media_url" in described and "'x'" in described
    )


# --- no personal data -------------------------------------------------------------------------


async def test_nothing_personal_is_ever_given_back(client: TestClient, keyed_hub: Hub) -> None:
    data = dumping(
        description="Couch dumped again. Janet here: call (415) 555-0199 or write to jane.doe@example.com",
        email="jane.doe@example.com",
        first_name="Janet",
        last_name="Doeberg",
        phone="+1 415 555 0100",
        device_id="device-7f3a9c",
        account_id="acct-553311",
    )
    status, body = await post(client, "requests", data)
    assert status == 200
    number = body[0]["service_request_id"]
    report = await stored(keyed_hub, number)
    assert report.contact == {
        "email": "jane.doe@example.com",
        "first_name": "Janet",
        "last_name": "Doeberg",
        "phone": "+1 415 555 0100",
        "device_id": "device-7f3a9c",
        "account_id": "acct-553311",
    }  # kept for the city, never shown
    async with keyed_hub.db.transaction() as s:
        await reports.subscribe(s, report, "telegram", "tg-chat-998877", now=utcnow())
        await reports.set_status(
            s, number, "in_progress", note="Spoke to Janet at 415-555-0100", now=utcnow()
        )
    secrets = ["jane.doe", "example.com", "555-0199", "555 0100", "555-0100", "Janet", "Doeberg"]
    secrets += ["device-7f3a9c", "acct-553311", "tg-chat-998877", "telegram"]
    for path in ("requests", f"requests/{number}", "servicerequestupdates"):
        for fmt in ("json", "xml"):
            response = await client.get(f"{BASE}/{path}.{fmt}")
            text = await response.text()
            assert response.status == 200 and number in text
            leaked = [s for s in secrets if s in text]
            assert not leaked, (path, fmt, leaked, text[:600])
    response = await client.get(f"{BASE}/requests/{number}.json")
    (record,) = await response.json()
    assert record["description"] == (
        "Couch dumped again. [personal data removed] here: call [phone removed] or write to [email removed]"
    )
    assert record["status_notes"] == "Spoke to [personal data removed] at [phone removed]"


# --- POST servicerequestupdates ---------------------------------------------------------------


async def filed(hub: Hub, *, subscribers: int = 0) -> str:
    async with hub.db.transaction() as s:
        report = await reports.file_report(
            s, service_code="pothole", description="deep hole", now=utcnow() - timedelta(hours=2)
        )
        for i in range(subscribers):
            await reports.subscribe(s, report, "webchat", f"w-{i}", now=utcnow())
        assert report.number is not None
        return report.number


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_a_posted_update_changes_the_status_and_tells_every_subscriber(
    client: TestClient, keyed_hub: Hub, fmt: str
) -> None:
    number = await filed(keyed_hub, subscribers=2)
    data = form(api_key="k2", service_request_id=number, status="FIXED", description="Patched this morning")
    status, body = await post(client, "servicerequestupdates", data, fmt)
    assert status == 200
    if fmt == "xml":
        assert body.tag == "service_request_updates"
        update = {c.tag: c.text or "" for c in body.find("request_update")}  # type: ignore[union-attr]
    else:
        (update,) = body
    async with keyed_hub.db.reading() as s:
        event = await s.scalar(select(ReportEvent).order_by(ReportEvent.id.desc()).limit(1))
        outbox = (await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    assert event is not None and event.actor == "open311" and event.note == "Patched this morning"
    assert update["update_id"] == str(event.id)
    assert update["service_request_id"] == number
    assert (update["status"], update["extended_status"]) == ("closed", "FIXED")
    assert update["description"] == "Patched this morning"
    assert [m.address for m in outbox] == ["w-0", "w-1"]
    assert all("Patched this morning" in m.payload["text"] for m in outbox)
    report = await stored(keyed_hub, number)
    assert (report.status, report.close_reason) == ("closed", "fixed")
    response = await client.get(f"{BASE}/servicerequestupdates.json", params={"service_request_id": number})
    assert (await response.json())[-1] == {**update, "media_url": None}


async def test_a_retried_update_is_applied_once(client: TestClient, keyed_hub: Hub) -> None:
    number = await filed(keyed_hub, subscribers=2)
    data = form(api_key="k1", service_request_id=number, status="IN_PROGRESS", update_id="crm-77")
    first = await post(client, "servicerequestupdates", data)
    again = await post(client, "servicerequestupdates", data)  # the client timed out and retried
    assert first == again and first[0] == 200
    async with keyed_hub.db.reading() as s:
        events = (await s.scalars(select(ReportEvent).where(ReportEvent.actor == "open311"))).all()
        outbox = (await s.scalars(select(OutboxMessage))).all()
    assert len(events) == 1 and events[0].external_id == "crm-77"
    assert len(outbox) == 2  # each subscriber told once
    other = await filed(keyed_hub)
    status, body = await post(
        client,
        "servicerequestupdates",
        form(api_key="k1", service_request_id=other, status="FIXED", update_id="crm-77"),
    )
    assert status == 400 and "already used" in body[0]["description"]


@pytest.mark.parametrize(
    ("sent", "status", "reason", "extended"),
    [
        ("INVESTIGATING", "acknowledged", None, "INVESTIGATING"),
        ("in_progress", "in_progress", None, "IN_PROGRESS"),
        ("Action-Scheduled", "in_progress", None, "IN_PROGRESS"),
        ("duplicate", "closed", "duplicate", "DUPLICATE"),
        ("NOT_COUNCILS_RESPONSIBILITY", "closed", "not_city_responsibility", "NOT_COUNCILS_RESPONSIBILITY"),
        ("no_further_action", "closed", "no_further_action", "NO_FURTHER_ACTION"),
        ("CLOSED", "closed", "fixed", "FIXED"),
        ("open", "open", None, "OPEN"),
    ],
)
async def test_extended_statuses_map_onto_ours(
    client: TestClient, keyed_hub: Hub, sent: str, status: str, reason: str | None, extended: str
) -> None:
    number = await filed(keyed_hub)
    code, body = await post(
        client, "servicerequestupdates", form(api_key="k1", service_request_id=number, status=sent)
    )
    assert code == 200, body
    assert body[0]["extended_status"] == extended
    report = await stored(keyed_hub, number)
    assert (report.status, report.close_reason) == (status, reason)


async def test_an_update_keeps_its_own_time_and_media(client: TestClient, keyed_hub: Hub) -> None:
    number = await filed(keyed_hub)
    when = (utcnow() - timedelta(hours=1)).replace(microsecond=0)
    data = form(
        api_key="k1",
        service_request_id=number,
        status="IN_PROGRESS",
        updated_datetime=when.isoformat(),
        media_url="https://crm.example.gov/photos/1.jpg",
        update_id="crm-77",
        jurisdiction_id="city.example.gov",
    )
    code, body = await post(client, "servicerequestupdates", data)
    assert code == 200, body
    async with keyed_hub.db.reading() as s:
        event = await s.get(ReportEvent, int(body[0]["update_id"]))
    assert event is not None and event.created_at == when
    report = await stored(keyed_hub, number)
    assert report.media == ["https://crm.example.gov/photos/1.jpg"]


@pytest.mark.parametrize(
    ("fields", "code", "expected"),
    [
        ({"status": "FIXED"}, 400, "service_request_id: required"),
        ({"service_request_id": "99999", "status": "FIXED"}, 404, "99999"),
        ({"service_request_id": "NUMBER", "status": "MAYBE"}, 400, "'MAYBE' unknown"),
        ({"service_request_id": "NUMBER"}, 400, "status: required"),
        ({"service_request_id": "NUMBER", "status": "FIXED", "updated_datetime": "noonish"}, 400, "updated_"),
        (
            {"service_request_id": "NUMBER", "status": "FIXED", "updated_datetime": "2001-01-01T00:00:00Z"},
            400,
            "before the request",
        ),
        (
            {"service_request_id": "NUMBER", "status": "FIXED", "updated_datetime": "2999-01-01T00:00:00Z"},
            400,
            "future",
        ),
        ({"service_request_id": "NUMBER", "status": "FIXED", "media_url": "data:x"}, 400, "media_url"),
        ({"service_request_id": "NUMBER", "status": "FIXED", "api_key": "nope"}, 403, "api_key"),
    ],
)
async def test_bad_updates_are_refused_and_write_nothing(
    client: TestClient, keyed_hub: Hub, fields: dict[str, str], code: int, expected: str
) -> None:
    number = await filed(keyed_hub, subscribers=1)
    before = await counts(keyed_hub)
    data = {"api_key": "k1", **fields}
    if data.get("service_request_id") == "NUMBER":
        data["service_request_id"] = number
    status, body = await post(client, "servicerequestupdates", form(**data))
    assert status == code and any(expected in e["description"] for e in body), body
    assert await counts(keyed_hub) == before
    assert (await stored(keyed_hub, number)).status == "open"


async def test_a_body_that_is_not_a_form_is_400_and_read_only_resources_refuse_posts(
    client: TestClient, keyed_hub: Hub
) -> None:
    response = await client.post(f"{BASE}/requests.json", json={"api_key": "k1", "service_code": "pothole"})
    assert response.status == 400
    assert "application/x-www-form-urlencoded" in (await response.json())[0]["description"]
    for path in ("discovery.json", "services.xml", "services/pothole.json", "requests/10001.json"):
        response = await client.post(f"{BASE}/{path}", data=dumping())
        assert response.status == 405, path
        assert response.headers["Allow"] == "GET, HEAD"
        assert (await response.json())[0]["code"] == 405
    assert await counts(keyed_hub) == (0, 0, 0)


async def test_a_form_that_is_not_utf8_is_400(client: TestClient, keyed_hub: Hub) -> None:
    body = b"api_key=k1&service_code=pothole&description=caf\xe9&lat=37.7793&long=-122.4193"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = await client.post(f"{BASE}/requests.json", data=body, headers=headers)
    assert response.status == 400
    assert "UTF-8" in (await response.json())[0]["description"]
    assert await counts(keyed_hub) == (0, 0, 0)
