"""Turning a typed place ("1 Dr Carlton B Goodlett Pl", "5th and Market") into a position.

The core only knows this interface; an HTTP geocoder is an adapter plugged in through
`AdapterPlugin.geocoder`, so `bot` carries no HTTP client code. With none configured,
`NoGeocoder` finds nothing and the dialog keeps the address as the resident typed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Place:
    """A position and the short name a resident would recognise it by, shown back to them
    ("Market St & 5th St") so they can tell whether the geocoder understood."""

    lat: float
    lon: float
    label: str


class GeocodingUnavailable(Exception):
    """The geocoding service failed (timeout, error status, unreadable answer).

    Distinct from "nothing found": the resident's text is then kept as it is and the
    report goes ahead, rather than telling them their address does not exist."""


@runtime_checkable
class Geocoder(Protocol):
    async def geocode(self, query: str) -> Place | None:
        """The place the text names inside the city, or None when nothing matches.

        Raises GeocodingUnavailable when the service could not answer."""
        ...

    async def close(self) -> None:
        """Release connections; called once when the process shuts down."""
        ...


class NoGeocoder:
    """The default: no service configured, so no typed address is ever resolved (and
    nothing leaves the machine)."""

    async def geocode(self, query: str) -> Place | None:
        return None

    async def close(self) -> None:
        return None
