"""Where the problem is: a shared pin, typed coordinates, an address, cross streets
or a landmark; checked against the city's boundary, geocoded when a geocoder is set up.

A pin outside the city is refused with the reason. A typed place the geocoder cannot
find (or no geocoder at all) is kept as the resident wrote it: staff can read it,
and refusing a real address because a map service did not know it would lose a report.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from bot.dialog import Context
from bot.geocoding import GeocodingUnavailable, NoGeocoder
from bot.messages import Incoming, normalise
from dialogs.report_draft import Draft
from knowledge.geo import parse_coordinates

log = logging.getLogger(__name__)

# Words that say where the resident is, not where the problem is: the crew can't find "here".
_VAGUE = frozenset(
    {
        "skip",
        "no",
        "none",
        "nope",
        "na",
        "n a",
        "pass",
        "next",
        "unknown",
        "here",
        "there",
        "home",
        "my house",
        "my home",
        "outside",
        "my street",
        "my block",
        "the street",
        "near me",
        "nearby",
        "around here",
        "right here",
        "over there",
        "my place",
        "idk",
        "i dont know",
        "dont know",
        "not sure",
        "somewhere",
        "everywhere",
        "the corner",
        "downtown",
        "the city",
        "sf",
    }
)
_PREPOSITION = re.compile(
    r"\b(?:on|at|near|by|outside|in front of|across from|corner of|next to|behind)\s+"
    r"((?:the )?(?:\d+\s+)?[A-Za-z0-9][\w'./-]*(?:\s+(?:[\w'./-]+|&)){0,7})",
    re.IGNORECASE,
)
_STREETY = re.compile(
    r"\d|\b(?:st|street|ave|avenue|blvd|boulevard|rd|road|dr|drive|way|lane|ln|pl|place|park|"
    r"square|plaza|station|library|school|hall)\b|\s(?:and|&|/)\s",
    re.IGNORECASE,
)
_DANGLING = re.compile(r"(?:\s+(?:and|&|/|at|on|near|by|in|of|the))+$", re.IGNORECASE)
_TAIL = re.compile(
    r"\s+(?:almost|for|since|that|which|it|its|is|has|have|was|been|there|again|all|right|"
    r"please|today|tonight|now|yesterday|this|last|every|and it|and there|so|but)\b.*$",
    re.IGNORECASE,
)


def place_in(text: str) -> str | None:
    """A place named in a description ('pothole on 5th and Market, huge'), to offer
    back as a one-tap answer. Only street-like phrases count."""
    for match in _PREPOSITION.finditer(text):
        candidate = _TAIL.sub("", match.group(1)).strip(" ,.;!?")
        candidate = re.split(r"[,.;!?]", candidate)[0].strip()
        candidate = re.sub(r"^(?:the\s+)?(?:corner of\s+)?", "", candidate, flags=re.IGNORECASE)
        # "the wall at Dolores Park": the place is what follows the last inner preposition.
        inner = re.split(r"\s(?:at|on|near|by|in)\s", candidate, flags=re.IGNORECASE)
        if len(inner) > 1 and not _STREETY.search(inner[0]) and _STREETY.search(inner[-1]):
            candidate = inner[-1].strip()
        # A phrase cut off mid-way ("Mission St and"): drop the dangling joining word.
        candidate = _DANGLING.sub("", candidate).strip()
        if len(candidate) >= 3 and _STREETY.search(candidate) and normalise(candidate) not in _VAGUE:
            return candidate
    return None


def looks_like_place(text: str) -> bool:
    """'5th and Market', '1420 Noe St', '37.77, -122.41': a place typed where something
    else was asked, to be taken as the place rather than asked for again."""
    folded = text.strip()
    if not folded or folded.endswith("?") or len(folded) > 120:
        return False
    return parse_coordinates(folded) is not None or bool(_STREETY.search(folded))


@dataclass(frozen=True, slots=True)
class PlaceResult:
    """`error`: refused, say why and ask again. Otherwise the draft was updated and
    `note` (if any) tells the resident how the place was understood."""

    error: str | None = None
    note: str | None = None


def _outside(city: str) -> str:
    return (
        f"That spot is outside {city}, so the city can't fix it there. "
        "Please share a location inside the city, or type the address or nearest cross streets."
    )


async def take_place(ctx: Context, draft: Draft, incoming: Incoming, typed: str | None = None) -> PlaceResult:
    """Understand a pin or a typed place and put it in the draft."""
    services = ctx.services
    boundary = services.boundary
    city = services.settings.CITY_NAME
    if incoming.location is not None and typed is None:
        lat, lon = incoming.location.lat, incoming.location.lon
        if boundary is not None and not boundary.contains(lat, lon):
            return PlaceResult(error=_outside(city))
        draft.forget_place()
        draft.lat, draft.lon, draft.place_label = lat, lon, f"the pin you shared ({lat:.5f}, {lon:.5f})"
        return PlaceResult()
    text = (typed if typed is not None else incoming.text).strip()
    said = normalise(text)
    if len(said) < 3 or said in _VAGUE or not re.search(r"[a-z0-9]", said):
        return PlaceResult(
            error=(
                "I need the place itself so the crew can find it: a street address, the nearest "
                'cross streets (like "5th and Market") or a landmark.'
            )
        )
    if len(text) > 300:
        return PlaceResult(error="That's long for an address: please give just the address or cross streets.")
    coordinates = parse_coordinates(text)
    if coordinates is not None:
        lat, lon = coordinates
        if boundary is not None and not boundary.contains(lat, lon):
            return PlaceResult(error=_outside(city))
        draft.forget_place()
        draft.lat, draft.lon, draft.place_label = lat, lon, f"{lat:.5f}, {lon:.5f}"
        return PlaceResult()
    draft.forget_place()
    draft.place, draft.place_label = text, text
    geocoder = services.geocoder
    try:
        found = await ctx.geocode(text)
    except GeocodingUnavailable as exc:
        log.warning("geocoder unavailable, keeping the typed place: %s", exc)
        return PlaceResult()
    if found is None:
        if isinstance(geocoder, NoGeocoder):
            return PlaceResult()
        return PlaceResult(note="I couldn't find that on the city map, so I'll send it as you wrote it.")
    if boundary is not None and not boundary.contains(found.lat, found.lon):
        draft.forget_place()
        return PlaceResult(error=_outside(city))
    draft.lat, draft.lon, draft.place_label = found.lat, found.lon, found.label or text
    return PlaceResult(note=f"I found it on the map as **{draft.place_label}**.")
