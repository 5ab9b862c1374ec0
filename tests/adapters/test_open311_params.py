"""Open311's pure parts, no server: dates, attribute checks for every datatype,
redaction of personal data, status mapping and XML that always parses."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from multidict import MultiDict

from adapters.open311 import statuses
from adapters.open311.params import ApiError, check_attributes, parse_datetime, parse_new_update
from adapters.open311.present import personal_terms, redact
from adapters.open311.render import to_xml, w3c
from bot.reporting.reports import CLOSE_REASONS, STATUSES
from knowledge.catalogue import Attribute, AttributeValue, Service

LA = ZoneInfo("America/Los_Angeles")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-24T07:40:00-08:00", datetime(2026, 11, 24, 15, 40, tzinfo=UTC)),
        ("2026-11-24T15:40:00Z", datetime(2026, 11, 24, 15, 40, tzinfo=UTC)),
        ("2026-11-24T15:40:00.250+00:00", datetime(2026, 11, 24, 15, 40, 0, 250000, tzinfo=UTC)),
        ("2026-11-24T16:40:00 01:00", datetime(2026, 11, 24, 15, 40, tzinfo=UTC)),  # '+' lost in a URL
        ("2026-11-24T07:40:00", datetime(2026, 11, 24, 15, 40, tzinfo=UTC)),  # no offset: city time
        ("2026-07-01", datetime(2026, 7, 1, 7, 0, tzinfo=UTC)),  # a date: city midnight, summer time
    ],
)
def test_w3c_datetimes_parse(raw: str, expected: datetime) -> None:
    assert parse_datetime("start_date", raw, LA) == expected


@pytest.mark.parametrize("raw", ["yesterday", "2026-02-30T00:00:00Z", "24/11/2026", "1" * 100, ""])
def test_a_malformed_datetime_names_the_parameter(raw: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_datetime("end_date", raw, LA)
    assert caught.value.status == 400
    assert caught.value.problems[0].startswith("end_date: ")
    assert "2026-11-24T07:40:00-08:00" in caught.value.problems[0]


def test_datetimes_are_written_in_city_time_with_the_offset() -> None:
    assert w3c(datetime(2026, 11, 24, 15, 40, tzinfo=UTC), LA) == "2026-11-24T07:40:00-08:00"
    assert w3c(datetime(2026, 7, 1, 15, 40, 12, 999, tzinfo=UTC), LA) == "2026-07-01T08:40:12-07:00"
    assert w3c(None, LA) is None


SURVEY = Service(
    code="survey",
    name="Survey",
    attributes=(
        Attribute("count", "number", "How many?", required=True, order=1),
        Attribute("seen_at", "datetime", "When did you see it?", order=2),
        Attribute("note", "text", "Anything else?", order=3),
        Attribute(
            "kind",
            "singlevaluelist",
            "Which kind?",
            order=4,
            values=(AttributeValue("a", "A"), AttributeValue("b", "B")),
        ),
    ),
)


def test_every_datatype_is_checked_and_stored_typed() -> None:
    problems: list[str] = []
    given = {"count": ["3"], "seen_at": ["2026-11-24T07:40:00-08:00"], "note": ["by the gate"], "kind": ["b"]}
    checked = check_attributes(SURVEY, given, LA, problems)
    assert problems == []
    assert checked == {"count": 3, "seen_at": "2026-11-24T07:40:00-08:00", "note": "by the gate", "kind": "b"}
    assert check_attributes(SURVEY, {"count": ["2.5"]}, LA, problems) == {"count": 2.5}
    assert problems == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, "attribute[count]: required"),
        ({"count": ["many"]}, "attribute[count]: 'many' is not a number"),
        ({"count": ["nan"]}, "is not a number"),
        ({"count": ["inf"]}, "is not a number"),
        ({"count": ["1"], "seen_at": ["last tuesday"]}, "attribute[seen_at]: 'last tuesday' is not a W3C"),
        ({"count": ["1"], "kind": ["c"]}, "attribute[kind]: 'c' is not one of a, b"),
        ({"count": ["1"], "note": ["x" * 2001]}, "attribute[note]: at most 2000"),
        ({"count": ["1", "2"]}, "takes one value"),
        ({"count": ["1"], "colour": ["red"]}, "'colour' not defined for service 'survey'"),
    ],
)
def test_bad_attribute_answers_are_named(given: dict[str, list[str]], expected: str) -> None:
    problems: list[str] = []
    check_attributes(SURVEY, given, LA, problems)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    "phone",
    [
        "(415) 555-0199",
        "415-555-0199",
        "415.555.0199",
        "415 555 0199",
        "4155550199",
        "+1 415 555 0199",
        "1-415-555-0199",
        "555-0199",
        "+44 20 7946 0958",
    ],
)
def test_phone_numbers_are_removed_from_free_text(phone: str) -> None:
    assert redact(f"Call me on {phone}, thanks") == "Call me on [phone removed], thanks"


@pytest.mark.parametrize(
    "text",
    [
        "Reported 2026-11-24 at 07:40, report 10234 is related",
        "At 37.7793, -122.4193 near 1 Dr Carlton B Goodlett Pl",
        "Pole SL-2231 by 1550 Market St, zip 94102",
        "Open 8:00-17:00, about 20-30 bags",
    ],
)
def test_dates_coordinates_numbers_and_addresses_are_kept(text: str) -> None:
    assert redact(text) == text


def test_email_addresses_and_the_filers_own_details_are_removed() -> None:
    text = "Jane Doe (jane.o'doe+311@mail.example.co.uk) saw it; JANE says hi; Janeway too"
    personal = personal_terms({"first_name": "Jane", "last_name": "Doe", "email": "x@y.org", "phone": None})
    assert redact(text, personal) == (
        "[personal data removed] [personal data removed] ([email removed]) saw it; "
        "[personal data removed] says hi; Janeway too"
    )
    assert redact(None) is None and redact("") == ""


def test_every_status_and_reason_reads_back_as_itself() -> None:
    for status in STATUSES:
        reasons = CLOSE_REASONS if status == "closed" else (None,)
        for reason in reasons:
            word = statuses.extended(status, reason)
            assert statuses.parse_extended(word) == (status, reason)
            assert statuses.simple(status) == ("closed" if status == "closed" else "open")
    assert statuses.parse_extended("in progress") == ("in_progress", None)
    assert statuses.parse_extended("Not-Councils-Responsibility") == ("closed", "not_city_responsibility")
    assert statuses.parse_extended("resolved") is None


def test_an_update_lists_every_problem_at_once() -> None:
    params = MultiDict(
        [("service_request_id", "abc"), ("status", "done"), ("updated_datetime", "now"), ("media_url", "x")]
    )
    with pytest.raises(ApiError) as caught:
        parse_new_update(params, now=datetime.now(UTC), zone=LA)
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "service_request_id",
        "status",
        "updated_datetime",
        "media_url",
    ]


def test_an_update_time_a_little_ahead_of_our_clock_is_accepted() -> None:
    now = datetime(2026, 11, 24, 15, 40, tzinfo=UTC)
    params = MultiDict(
        [("service_request_id", "10001"), ("status", "FIXED"), ("updated_datetime", "2026-11-24T15:42:00Z")]
    )
    update = parse_new_update(params, now=now, zone=LA)
    assert update.at == now + timedelta(minutes=2) and (update.status, update.reason) == ("closed", "fixed")


def test_xml_drops_characters_xml_cannot_carry_and_always_parses() -> None:
    body = to_xml(
        "service_requests", [{"description": "bad\x00\x01\x0b bytes & <tags> ünïcode 🚧", "lat": 1.5}]
    )
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(body)
    assert root.findtext("request/description") == "bad bytes & <tags> ünïcode 🚧"
    assert root.findtext("request/lat") == "1.5"
