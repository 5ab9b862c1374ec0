"""Geocoding typed addresses with a Nominatim-compatible search API (`GEOCODER_URL`).

What shapes this module:
- Nominatim's usage policy: a User-Agent naming the application, at most one request per
  second, results cached. The spacing is per process and per server; the cache is an LRU
  of a pure lookup (query -> place), not conversation state.
- Nominatim has no intersection search (osm-search/Nominatim#123) and every word of the
  query must match, so "5th and Market" finds nothing. What it can find at a corner is a
  place named after it: transit stops are named "Market St & 5th St". Cross streets are
  therefore asked as "5th & Market" first and as typed second, and a whole street is never
  taken for the corner (its point is the middle of the street, possibly kilometres away).
- The search is bounded to the city's box, and a result outside the city's polygon (the
  box is larger than the city) counts as not found.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.api import AdapterPlugin, Geocoder, GeocodingUnavailable, Hub, Place
from knowledge.geo import Boundary

NAME = "nominatim"
DEFAULT_USER_AGENT = "civic311 (self-hosted 311 assistant)"
MIN_INTERVAL_S = 1.0  # the usage policy's absolute maximum of one request per second
MAX_QUERY_CHARS = 200  # longer text is a message, not a place name
MAX_BODY_BYTES = 1_000_000
MAX_LABEL_CHARS = 120

# Words in front of a place that only say where relative to it ("outside the", "at the
# corner of"); Nominatim would try to match them as part of the name and find nothing.
_LEAD_IN = re.compile(
    r"^(?:it'?s|it is|right|just|somewhere|outside|in front of|near|nearby|next to|opposite|"
    r"across from|behind|by|at|on|around|(?:the )?corner of|the)\b[\s,]*",
    re.IGNORECASE,
)
_CROSS_CONNECTOR = re.compile(r"\s+(?:and|at)\s+|\s*[&/@+]\s*", re.IGNORECASE)
_HOUSE_NUMBER = re.compile(r"^\d+[a-z]?$", re.IGNORECASE)
# Nominatim's place ranks 26 and 27 are streets; "road" is their address type.
_STREET_RANKS = frozenset({26, 27})


def clean_query(text: str) -> str:
    """The typed place without locative lead-ins or stray punctuation."""
    text = " ".join(text.split()).strip(" .,;:!?\"'")
    while (lead := _LEAD_IN.match(text)) and lead.end():
        text = text[lead.end() :]
    return text.strip(" .,;:!?\"'")


def cross_streets(text: str) -> tuple[str, str] | None:
    """The two streets of '5th and Market', 'Market & 5th', 'Fifth St at Market', 'mission/24th'.

    Both sides must look like street names: short, and not starting with a house number
    ('123 Main St and ...' is an address with something after it)."""
    parts = [p.strip(" .,") for p in _CROSS_CONNECTOR.split(text)]
    if len(parts) != 2 or not all(parts):
        return None
    for part in parts:
        words = part.split()
        if len(words) > 4 or _HOUSE_NUMBER.match(words[0]) or "," in part:
            return None
    return parts[0], parts[1]


def search_forms(text: str) -> list[str]:
    """The queries to try, best first; one for a plain address, two for cross streets."""
    query = clean_query(text)
    if not query or len(query) > MAX_QUERY_CHARS:
        return []
    streets = cross_streets(query)
    if streets is None:
        return [query]
    corner = f"{streets[0]} & {streets[1]}"
    return [corner] if corner == query else [corner, query]


def _is_whole_street(result: dict[str, Any]) -> bool:
    return result.get("addresstype") == "road" or result.get("place_rank") in _STREET_RANKS


def shorten_label(result: dict[str, Any]) -> str:
    """'San Francisco City Hall, 1 Doctor Carlton B Goodlett Place' rather than the full
    display name with county, state, postcode and country."""
    name = str(result.get("name") or "").strip()
    address = result.get("address")
    if not isinstance(address, dict):
        address = {}
    road = str(address.get("road") or address.get("pedestrian") or "").strip()
    house = str(address.get("house_number") or "").strip()
    street = f"{house} {road}" if house and road else road
    if name and house and road and name != street:
        label = f"{name}, {street}"
    elif name or street:
        label = name or street
    else:
        parts = [p.strip() for p in str(result.get("display_name") or "").split(",") if p.strip()]
        label = ", ".join(parts[:2])
    return label[:MAX_LABEL_CHARS]


def _position(result: Any) -> tuple[float, float]:
    try:
        lat, lon = float(result["lat"]), float(result["lon"])
    except (TypeError, KeyError, ValueError):
        raise GeocodingUnavailable("the geocoder's answer has a result without a position") from None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise GeocodingUnavailable(f"the geocoder's answer has an impossible position ({lat}, {lon})")
    return lat, lon


class RequestSpacer:
    """Keeps requests to one server at least `interval_s` apart within this process.

    Each caller reserves the next free slot and sleeps until it; a caller whose slot is
    further away than it may wait gets GeocodingUnavailable at once (the resident's text
    is kept) instead of holding up their conversation. The clock and sleep can be given,
    so tests check the spacing without measuring time."""

    def __init__(
        self,
        interval_s: float = MIN_INTERVAL_S,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._sleep = sleep
        self._next_slot = -math.inf

    async def wait_turn(self, max_wait_s: float) -> None:
        now = self._clock()
        slot = max(now, self._next_slot)
        if slot - now > max_wait_s:
            raise GeocodingUnavailable("the geocoder is busy: too many look-ups waiting")
        self._next_slot = slot + self.interval_s
        if slot > now:
            await self._sleep(slot - now)


_SPACERS: dict[str, RequestSpacer] = {}


def shared_spacer(base_url: str) -> RequestSpacer:
    """One spacer per server per process, however many geocoders point at it."""
    key = urlsplit(base_url).netloc.lower()
    return _SPACERS.setdefault(key, RequestSpacer())


class NominatimGeocoder:
    def __init__(
        self,
        base_url: str,
        *,
        user_agent: str,
        boundary: Boundary | None,
        timeout_s: float = 4.0,
        cache_size: int = 512,
        spacer: RequestSpacer | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.user_agent = user_agent.strip() or DEFAULT_USER_AGENT
        self.boundary = boundary
        self.timeout_s = timeout_s
        self.cache_size = cache_size
        self.spacer = spacer or shared_spacer(self.base_url)
        self._cache: OrderedDict[str, Place | None] = OrderedDict()
        self._session: aiohttp.ClientSession | None = None

    async def geocode(self, query: str) -> Place | None:
        forms = search_forms(query)
        if not forms:
            return None
        key = " ".join(forms[-1].casefold().split())
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        corner = cross_streets(forms[0]) is not None
        place = None
        for form in forms:
            place = self._pick(await self._search(form), corner=corner)
            if place is not None:
                break
        self._remember(key, place)
        return place

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _pick(self, results: list[Any], *, corner: bool) -> Place | None:
        for result in results:
            if not isinstance(result, dict):
                raise GeocodingUnavailable("the geocoder's answer is not a list of places")
            lat, lon = _position(result)
            if self.boundary is not None and not self.boundary.contains(lat, lon):
                continue
            if corner and _is_whole_street(result):
                continue
            return Place(lat, lon, shorten_label(result))
        return None

    def _remember(self, key: str, place: Place | None) -> None:
        self._cache[key] = place
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def _params(self, query: str) -> dict[str, str]:
        params = {"q": query, "format": "jsonv2", "limit": "1", "addressdetails": "1"}
        if self.boundary is not None:
            min_lon, min_lat, max_lon, max_lat = self.boundary.bounds()
            params["viewbox"] = f"{min_lon},{max_lat},{max_lon},{min_lat}"
            params["bounded"] = "1"
        return params

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use, inside the loop that will use it, and reused after.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": self.user_agent, "Accept": "application/json"},
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            )
        return self._session

    async def _search(self, query: str) -> list[Any]:
        await self.spacer.wait_turn(self.timeout_s)
        try:
            async with self._client().get(f"{self.base_url}/search", params=self._params(query)) as resp:
                if resp.status != 200:
                    raise GeocodingUnavailable(f"the geocoder answered HTTP {resp.status}")
                body = bytearray()
                async for chunk in resp.content.iter_chunked(65536):
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        raise GeocodingUnavailable("the geocoder's answer is too large")
        except TimeoutError:
            raise GeocodingUnavailable(f"the geocoder did not answer within {self.timeout_s:g} s") from None
        except aiohttp.ClientError as exc:
            raise GeocodingUnavailable(f"the geocoder could not be reached ({exc})") from None
        try:
            data = json.loads(body)
        except ValueError:
            raise GeocodingUnavailable("the geocoder's answer is not JSON") from None
        if not isinstance(data, list):
            raise GeocodingUnavailable("the geocoder's answer is not a list of places")
        return data


class NominatimPlugin(AdapterPlugin):
    """On when GEOCODER_URL is set; residents' typed addresses then get a position."""

    name = NAME

    def enabled(self, hub: Hub) -> bool:
        return bool(hub.settings.GEOCODER_URL)

    def geocoder(self, hub: Hub) -> Geocoder | None:
        url = hub.settings.GEOCODER_URL
        if not url:
            return None
        return NominatimGeocoder(
            url, user_agent=hub.settings.GEOCODER_USER_AGENT, boundary=hub.services.boundary
        )


plugin = NominatimPlugin
