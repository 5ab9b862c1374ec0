"""An independent Open311 client against a real `civic311 serve` process, on each database.

`georeport` (a GeoReport v2 wrapper from PyPI, built on requests and xmltodict)
reads services, definitions and requests in JSON and XML. It has no way to post,
so the request and the update are posted as any client would: a form with
`requests`, the library georeport itself uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from georeport import GeoReport

from tests.servers import ServeProcess


@pytest.fixture
def server(prepared_url: str, tmp_path: Path) -> Iterator[ServeProcess]:
    process = ServeProcess(prepared_url, tmp_path, OPEN311_API_KEYS="partner-key")
    try:
        yield process.start()
    finally:
        process.stop()


def round_trip(base: str) -> dict[str, Any]:
    """Everything a partner system does, synchronously, as georeport does it."""
    seen: dict[str, Any] = {}
    as_json = GeoReport(base)
    as_xml = GeoReport(base, output_format="xml")
    seen["services"] = as_json.get_service_list()
    seen["services_xml"] = as_xml.get_service_list()
    seen["definition"] = as_json.get_service_definition("illegal-dumping")
    seen["definition_xml"] = as_xml.get_service_definition("illegal-dumping")
    posted = requests.post(
        f"{base}/requests.json",
        data=[
            ("api_key", "partner-key"),
            ("service_code", "illegal-dumping"),
            ("lat", "37.7793"),
            ("long", "-122.4193"),
            ("address_string", "1 Dr Carlton B Goodlett Pl"),
            ("attribute[items][]", "mattress"),
            ("attribute[items][]", "electronics"),
            ("description", "Old TV and a mattress on the corner"),
            ("email", "partner-user@example.org"),
        ],
        timeout=30,
    )
    seen["posted"] = (posted.status_code, posted.json())
    number = posted.json()[0]["service_request_id"]
    seen["fetched"] = as_json.get_service_request(number)
    seen["fetched_xml"] = as_xml.get_service_request(number)
    seen["listed"] = as_json.get_service_requests(service_code="illegal-dumping,pothole", status="open")
    update = requests.post(
        f"{base}/servicerequestupdates.xml",
        data={
            "api_key": "partner-key",
            "service_request_id": number,
            "status": "FIXED",
            "description": "Collected",
        },
        timeout=30,
    )
    seen["update"] = update.status_code
    seen["closed"] = as_json.get_service_requests(service_request_id=number)
    refused = requests.post(f"{base}/requests.json", data={"service_code": "pothole"}, timeout=30)
    seen["refused"] = (refused.status_code, refused.json())
    return seen


@pytest.mark.timeout(300)
async def test_georeport_lists_defines_files_and_fetches_back(server: ServeProcess) -> None:
    seen = await asyncio.to_thread(round_trip, f"{server.url}/open311/v2")

    codes = [s["service_code"] for s in seen["services"]]
    assert "illegal-dumping" in codes and "pothole" in codes
    assert [s["service_code"] for s in seen["services_xml"]] == codes
    assert {s["metadata"] for s in seen["services_xml"]} <= {"true", "false"}

    (items,) = seen["definition"]["attributes"]
    assert items["code"] == "items" and items["datatype"] == "multivaluelist"
    xml_attribute = seen["definition_xml"]["attributes"]["attribute"]
    assert xml_attribute["code"] == "items"
    assert {"key": "electronics", "name": "electronics"} in xml_attribute["values"]["value"]

    status, created = seen["posted"]
    assert status == 200
    number = created[0]["service_request_id"]
    assert number.isdigit()

    fetched = seen["fetched"]
    assert fetched["service_request_id"] == number and fetched["status"] == "open"
    assert fetched["description"] == "Old TV and a mattress on the corner"
    assert fetched["address"] == "1 Dr Carlton B Goodlett Pl"
    assert datetime.fromisoformat(fetched["requested_datetime"]).utcoffset() is not None
    assert seen["fetched_xml"]["service_request_id"] == number
    assert (
        seen["fetched_xml"]["lat"] == "37.7793"
        and seen["fetched_xml"]["agency_responsible"] == "Public Works"
    )
    assert number in [r["service_request_id"] for r in seen["listed"]]
    assert "partner-user" not in str(seen)

    assert seen["update"] == 200
    (closed,) = seen["closed"]
    assert closed["status"] == "closed" and closed["status_notes"] == "Closed: fixed. Collected"

    status, errors = seen["refused"]
    assert status == 403 and errors[0]["code"] == 403
