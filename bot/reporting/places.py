"""Where a report counts in the statistics, decided once, when the report is written.

A place is the street of the address as residents typed it, folded so '123 Main St' and
'456 Main Street' are one street and '5th and Market' one corner; a report with only a
pin falls into a ~500 m grid square named by its centre. Folding is Python (it is the
same folding as the duplicate check's); doing it for every report at each `civic311
stats` took seconds at a million reports, so the result is kept in `reports.place_key`
and the statistics group by that column in SQL.

The stored key is the kind and the label in one string ('street:5th & market',
'area:37.781,-122.409'); NULL is a report with no place at all. One column keeps the
grouping (and its index) on one value.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from knowledge.geo import EARTH_RADIUS_M, normalise_address

AREA_CELL_M = 500.0
NO_PLACE = "(no place given)"
PlaceKind = Literal["street", "area", "none"]

# A house number ('123', '123a'), not an ordinal street name ('5th', '1st').
_HOUSE_NUMBER = re.compile(r"\d+[a-z]?")
_CELL_DEGREES_LAT = math.degrees(AREA_CELL_M / EARTH_RADIUS_M)


def street_of(address_key: str) -> str:
    """The street of a folded address: house numbers dropped, cross streets kept together
    ('123 main' -> 'main', '5th & market' stays, '12 main & 5th' -> '5th & main')."""
    streets = []
    for part in address_key.split(" & "):
        words = part.split()
        while len(words) > 1 and _HOUSE_NUMBER.fullmatch(words[0]):
            words.pop(0)
        if words and not (len(words) == 1 and _HOUSE_NUMBER.fullmatch(words[0])):
            streets.append(" ".join(words))
    return " & ".join(sorted(set(streets)))


def area_of(lat: float, lon: float) -> str:
    """The ~500 m grid square a point is in, named by its centre ('37.781,-122.409').
    Rows are 500 m of latitude; each row's squares are 500 m wide at the row's middle."""
    row = math.floor(lat / _CELL_DEGREES_LAT)
    centre_lat = (row + 0.5) * _CELL_DEGREES_LAT
    cell_lon = _CELL_DEGREES_LAT / max(0.01, math.cos(math.radians(centre_lat)))
    column = math.floor(lon / cell_lon)
    return f"{centre_lat:.3f},{(column + 0.5) * cell_lon:.3f}"


def place_of(
    address_key: str | None, address: str | None, lat: float | None, lon: float | None
) -> tuple[PlaceKind, str]:
    """Where a report counts: its street if the address names one, else its area."""
    street = street_of(address_key or (normalise_address(address) if address else ""))
    if street:
        return "street", street
    if lat is not None and lon is not None:
        return "area", area_of(lat, lon)
    return "none", NO_PLACE


def place_key(
    address_key: str | None, address: str | None, lat: float | None, lon: float | None
) -> str | None:
    """The value of `reports.place_key` for a report with this address and pin."""
    kind, label = place_of(address_key, address, lat, lon)
    return None if kind == "none" else f"{kind}:{label}"


def parse_place_key(key: str | None) -> tuple[PlaceKind, str]:
    """(kind, label) of a stored key: the inverse of `place_key`."""
    if key is None:
        return "none", NO_PLACE
    kind, _, label = key.partition(":")
    if kind == "street":
        return "street", label
    if kind == "area":
        return "area", label
    raise ValueError(f"not a place key: {key!r}")
