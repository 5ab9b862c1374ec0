"""A fake Nominatim search API on 127.0.0.1 with a small gazetteer of the sample city.

It behaves like the real one where our adapter depends on it: every query word must match
a word of the place's name or address (so "5th and Market" finds nothing, "5th & Market"
finds the stop named after the corner), common abbreviations match their long forms,
`bounded=1` keeps results inside the viewbox, results are ranked name matches first. It
records each request (query, parameters, headers) and can be told to fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

Failure = Literal["500", "429", "slow", "bad_json", "not_a_list", "no_position"] | None

_VARIANTS = {
    "street": "st",
    "avenue": "ave",
    "place": "pl",
    "doctor": "dr",
    "boulevard": "blvd",
    "fifth": "5th",
    "sixth": "6th",
}


def _terms(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {_VARIANTS.get(w, w) for w in words}


@dataclass
class Entry:
    name: str
    lat: float
    lon: float
    category: str
    type: str
    addresstype: str
    place_rank: int
    address: dict[str, str]

    def as_jsonv2(self, place_id: int, with_address: bool) -> dict[str, Any]:
        parts = [self.name] if self.name else []
        street = " ".join(p for p in (self.address.get("house_number"), self.address.get("road")) if p)
        parts += [p for p in (street, *(self.address.get(k) for k in _AREA_KEYS)) if p]
        result: dict[str, Any] = {
            "place_id": place_id,
            "licence": "Data © OpenStreetMap contributors, ODbL 1.0. http://osm.org/copyright",
            "osm_type": "node",
            "osm_id": 1000 + place_id,
            "lat": f"{self.lat:.7f}",
            "lon": f"{self.lon:.7f}",
            "category": self.category,
            "type": self.type,
            "place_rank": self.place_rank,
            "importance": 0.5,
            "addresstype": self.addresstype,
            "name": self.name,
            "display_name": ", ".join(parts),
            "boundingbox": [
                f"{self.lat - 0.0005:.7f}",
                f"{self.lat + 0.0005:.7f}",
                f"{self.lon - 0.0005:.7f}",
                f"{self.lon + 0.0005:.7f}",
            ],
        }
        if with_address:
            result["address"] = dict(self.address)
        return result

    def name_terms(self) -> set[str]:
        return _terms(self.name)

    def all_terms(self) -> set[str]:
        return _terms(" ".join([self.name, *self.address.values()]))


_AREA_KEYS = ("neighbourhood", "suburb", "city", "county", "state", "postcode", "country")
_SF = {
    "city": "San Francisco",
    "county": "San Francisco",
    "state": "California",
    "country": "United States",
    "country_code": "us",
}


def sample_gazetteer() -> list[Entry]:
    """Places of the sample city (San Francisco) and two outside it."""
    return [
        Entry(
            "San Francisco City Hall",
            37.7792597,
            -122.4193003,
            "amenity",
            "townhall",
            "amenity",
            30,
            {
                "house_number": "1",
                "road": "Doctor Carlton B Goodlett Place",
                "neighbourhood": "Civic Center",
                "postcode": "94102",
                **_SF,
            },
        ),
        Entry(
            "Main Library",
            37.7790262,
            -122.4158694,
            "amenity",
            "library",
            "amenity",
            30,
            {
                "house_number": "100",
                "road": "Larkin Street",
                "neighbourhood": "Civic Center",
                "postcode": "94102",
                **_SF,
            },
        ),
        Entry(
            "Civic Center",
            37.7797,
            -122.4176,
            "place",
            "neighbourhood",
            "neighbourhood",
            22,
            {"neighbourhood": "Civic Center", **_SF},
        ),
        Entry(
            "Market Street",
            37.7890,
            -122.4010,
            "highway",
            "primary",
            "road",
            26,
            {"road": "Market Street", "neighbourhood": "Financial District", **_SF},
        ),
        Entry(
            "Market St & 5th St",
            37.7829,
            -122.4074,
            "highway",
            "bus_stop",
            "highway",
            30,
            {"road": "Market Street", "neighbourhood": "Union Square", "postcode": "94103", **_SF},
        ),
        Entry(
            "5th Street",
            37.7780,
            -122.4035,
            "highway",
            "secondary",
            "road",
            26,
            {"road": "5th Street", "neighbourhood": "South of Market", **_SF},
        ),
        Entry(
            "6th Street",
            37.7770,
            -122.4075,
            "highway",
            "secondary",
            "road",
            26,
            {"road": "6th Street", "neighbourhood": "South of Market", **_SF},
        ),
        # Inside the city's box, outside its polygon (the sample boundary leaves islands out).
        Entry(
            "Yerba Buena Island",
            37.8100,
            -122.3680,
            "place",
            "island",
            "island",
            17,
            {
                "county": "San Francisco",
                "state": "California",
                "country": "United States",
                "country_code": "us",
            },
        ),
        Entry(
            "Oakland City Hall",
            37.8053,
            -122.2727,
            "amenity",
            "townhall",
            "amenity",
            30,
            {
                "house_number": "1",
                "road": "Frank H. Ogawa Plaza",
                "city": "Oakland",
                "county": "Alameda County",
                "state": "California",
                "country": "United States",
                "country_code": "us",
            },
        ),
    ]


@dataclass
class SeenRequest:
    query: dict[str, str]
    headers: dict[str, str]
    client: object  # (host, port) of the connection: one port for many requests = one reused session

    @property
    def q(self) -> str:
        return self.query.get("q", "")


@dataclass
class FakeNominatim:
    gazetteer: list[Entry] = field(default_factory=sample_gazetteer)
    fail: Failure = None
    honour_bounded: bool = True  # False: a "compatible" server that ignores the viewbox
    requests: list[SeenRequest] = field(default_factory=list)
    url: str = ""
    _server: TestServer | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> FakeNominatim:
        app = web.Application()
        app.router.add_get("/search", self._search)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        self.url = str(self._server.make_url("")).rstrip("/")
        return self

    async def close(self) -> None:
        self._release.set()  # a "slow" answer still pending ends now, so shutdown does not wait
        if self._server is not None:
            await self._server.close()

    @property
    def queries(self) -> list[str]:
        return [r.q for r in self.requests]

    def search(self, query: dict[str, str]) -> list[Entry]:
        wanted = _terms(query.get("q", ""))
        if not wanted:
            return []
        found = [e for e in self.gazetteer if wanted <= e.all_terms()]
        if query.get("bounded") == "1" and "viewbox" in query and self.honour_bounded:
            x1, y1, x2, y2 = (float(v) for v in query["viewbox"].split(","))
            found = [
                e
                for e in found
                if min(x1, x2) <= e.lon <= max(x1, x2) and min(y1, y2) <= e.lat <= max(y1, y2)
            ]
        found.sort(key=lambda e: not wanted <= e.name_terms())  # stable: name matches first
        return found[: int(query.get("limit", "10"))]

    async def _search(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.requests.append(SeenRequest(query, dict(request.headers), peer))
        if self.fail == "500":
            return web.Response(status=500, text="Internal Server Error")
        if self.fail == "429":
            return web.Response(status=429, text="Too Many Requests")
        if self.fail == "slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), 60)
        if self.fail == "bad_json":
            return web.Response(text='[{"lat": "37.78", "lon": ', content_type="application/json")
        if self.fail == "not_a_list":
            return web.json_response({"error": {"code": 400, "message": "Parameter 'q' missing"}})
        with_address = query.get("addressdetails") == "1"
        results = [e.as_jsonv2(i + 1, with_address) for i, e in enumerate(self.search(query))]
        if self.fail == "no_position":
            for result in results:
                result["lat"] = "north-ish"
        return web.Response(text=json.dumps(results), content_type="application/json")


@pytest.fixture
async def nominatim_server() -> AsyncIterator[FakeNominatim]:
    fake = await FakeNominatim().start()
    try:
        yield fake
    finally:
        await fake.close()
