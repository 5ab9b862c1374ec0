"""Places, as pure functions: the city's boundary, distances, typed coordinates and
addresses folded so that two residents naming the same corner are recognised.

No network here: geocoding a typed address is `bot.geocoding`'s job.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.prepared import PreparedGeometry, prep

from knowledge.text import fold

EARTH_RADIUS_M = 6_371_008.8


class BoundaryError(ValueError):
    """The boundary file is not a usable GeoJSON polygon."""


@dataclass(frozen=True)
class Boundary:
    """The area the city serves. Points are (lat, lon), as people say them;
    GeoJSON stores (lon, lat), which is handled here once."""

    name: str
    geometry: BaseGeometry
    _prepared: PreparedGeometry

    @classmethod
    def from_geojson(cls, path: Path) -> Boundary:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BoundaryError(f"{path}: cannot read GeoJSON ({exc})") from None
        features = data.get("features") if data.get("type") == "FeatureCollection" else [data]
        shapes = []
        name = ""
        for feature in features or []:
            geometry = feature.get("geometry") if feature.get("type") == "Feature" else feature
            if not geometry or geometry.get("type") not in ("Polygon", "MultiPolygon"):
                continue
            shapes.append(shape(geometry))
            name = name or str((feature.get("properties") or {}).get("name", ""))
        if not shapes:
            raise BoundaryError(f"{path}: no Polygon or MultiPolygon in it")
        geometry = shapes[0]
        for extra in shapes[1:]:
            geometry = geometry.union(extra)
        if not geometry.is_valid or geometry.is_empty:
            raise BoundaryError(f"{path}: the polygon is not valid (it crosses itself or is empty)")
        return cls(name or path.stem, geometry, prep(geometry))

    def contains(self, lat: float, lon: float) -> bool:
        return bool(self._prepared.covers(Point(lon, lat)))

    def bounds(self) -> tuple[float, float, float, float]:
        """(min_lon, min_lat, max_lon, max_lat): a geocoder's search box."""
        min_lon, min_lat, max_lon, max_lat = self.geometry.bounds
        return (min_lon, min_lat, max_lon, max_lat)

    def centre(self) -> tuple[float, float]:
        point = self.geometry.representative_point()
        return (point.y, point.x)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine); metres matter here, not millimetres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def degrees_box(lat: float, radius_m: float) -> tuple[float, float]:
    """How many degrees of (latitude, longitude) `radius_m` spans at `lat`: a cheap
    bounding box for the database to narrow candidates before `distance_m`."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlon = dlat / max(0.01, math.cos(math.radians(lat)))
    return dlat, dlon


_COORDS = re.compile(
    r"(?:^|[\s(@=:q,/]|geo:)(-?\d{1,2}\.\d{3,})(?:\s*[,;/\s]\s*|&mlon=)(-?\d{1,3}\.\d{3,})"
    r"(?:$|[\s),&z/;?#])"
)
# As phones copy a pin: "37.7793° N, 122.4193° W".
_HEMISPHERES = re.compile(
    r"(\d{1,2}\.\d{3,})\s*°?\s*([NS])\b[\s,]*(\d{1,3}\.\d{3,})\s*°?\s*([EW])\b", re.IGNORECASE
)


def parse_coordinates(text: str) -> tuple[float, float] | None:
    """(lat, lon) from '37.7793, -122.4193', a geo: URI ('geo:37.7793,-122.4193;u=35'), a
    map link ('@37.77,-122.41', OpenStreetMap's 'mlat=…&mlon=…' or '#map=17/37.77/-122.41')
    or '37.7793° N, 122.4193° W'.

    At least three decimals are required, so house numbers and dates are not mistaken
    for a position."""
    text = re.sub("%2c", ",", text.strip(), flags=re.IGNORECASE)  # a link's encoded comma
    if hemispheres := _HEMISPHERES.search(text):
        lat_s, ns, lon_s, ew = hemispheres.groups()
        lat = float(lat_s) * (-1 if ns.upper() == "S" else 1)
        lon = float(lon_s) * (-1 if ew.upper() == "W" else 1)
    elif match := _COORDS.search(" " + text + " "):
        lat, lon = float(match.group(1)), float(match.group(2))
    else:
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


# USPS street suffixes and directions, long form -> the abbreviation residents also type.
_ABBREVIATIONS = {
    "street": "st",
    "str": "st",
    "avenue": "ave",
    "av": "ave",
    "boulevard": "blvd",
    "road": "rd",
    "drive": "dr",
    "lane": "ln",
    "place": "pl",
    "court": "ct",
    "terrace": "ter",
    "highway": "hwy",
    "parkway": "pkwy",
    "square": "sq",
    "alley": "aly",
    "way": "way",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
    "first": "1st",
    "second": "2nd",
    "third": "3rd",
    "fourth": "4th",
    "fifth": "5th",
    "sixth": "6th",
    "seventh": "7th",
    "eighth": "8th",
    "ninth": "9th",
    "tenth": "10th",
    "streets": "st",
    "sts": "st",
    "avenues": "ave",
    "aves": "ave",
    "doctor": "dr",
    "saint": "st",
}
_SUFFIXES = frozenset({"st", "ave", "blvd", "rd", "dr", "ln", "pl", "ct", "ter", "hwy", "pkwy", "sq", "aly"})
# Words that only say where relative to a place; dropped wherever they are.
_LOCATIVE = frozenset({"the", "of", "on", "in", "near", "corner", "by", "outside", "across", "from", "at"})
# The city and state, dropped only at the end of a part ("123 Main St, San Francisco, CA"),
# since streets are named after them too: California St, Francisco St, Front St.
_REGION = frozenset({"san", "francisco", "sf", "ca", "california", "usa", "us", "city"})
_CROSS = re.compile(r"\s*(?:&|\band\b|\bat\b|/|\bx\b|@|\+)\s*")


def _starts_name(words: list[str], i: int) -> bool:
    """Whether words[i] is the first word of a street's name, after any house number."""
    return all(w.isdigit() for w in words[:i])


def normalise_address(text: str) -> str:
    """A key under which the same place typed two ways compares equal:
    '5th and Market' == 'Market St & 5th Street' == 'market/5th st'.

    Street suffixes are dropped (residents rarely agree on them) except as a name's first
    word ('Dr Carlton B Goodlett Pl', 'St Francis Wood'), cross streets are sorted,
    postcodes and the city's name are ignored. House numbers are kept."""
    folded = fold(text).lower()
    # Zip codes; a five-digit number followed by a street name is a house number.
    folded = re.sub(r"\b\d{5}(?:-\d{4})?\b(?!\s+[a-z])", " ", folded)
    folded = re.sub(r"\bin front of\b", " ", folded)
    parts = [p for p in _CROSS.split(folded) if p.strip()]
    streets: list[str] = []
    for part in parts:
        words = [_ABBREVIATIONS.get(w, w) for w in re.findall(r"[a-z0-9]+", part)]
        while words and words[-1] in _REGION:
            words.pop()
        words = [w for w in words if w not in _LOCATIVE]
        words = [w for i, w in enumerate(words) if w not in _SUFFIXES or _starts_name(words, i)]
        if words:
            streets.append(" ".join(words))
    if len(streets) > 1:
        streets = sorted(set(streets))
    return " & ".join(streets)[:300]
