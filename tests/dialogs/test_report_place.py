"""The place offered back from a resident's first message: a street-like phrase, or nothing."""

from __future__ import annotations

import pytest

from dialogs.report_place import place_in


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("pothole on 5th and Market", "5th and Market"),
        ("graffiti on the wall at Dolores park", "Dolores park"),  # not "wall at Dolores park"
        ("someone painted on wall at Dolores Park yesterday", "Dolores Park"),
        ("dumped couch in front of 1420 Noe St", "1420 Noe St"),
        ("trash at the bus stop on Mission St and 16th", "Mission St and 16th"),
        ("streetlight out on Noe St and", "Noe St"),  # no dangling "and"
        ("pothole on 24th street, huge", "24th street"),
    ],
)
def test_a_named_place_is_offered_as_the_resident_wrote_it(text: str, place: str) -> None:
    assert place_in(text) == place


@pytest.mark.parametrize(
    "text",
    ["leak in the park", "broken bench over there", "it's on my street", "pothole near me", "graffiti here"],
)
def test_no_place_is_guessed_from_vague_or_unnamed_places(text: str) -> None:
    assert place_in(text) is None
