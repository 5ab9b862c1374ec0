"""911 triage: emergencies first; look-alikes and past events are not sent to 911."""

from __future__ import annotations

import pytest

from knowledge.triage import triage


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("my neighbour's house is on fire", "fire"),
        ("I smell gas in the kitchen", "gas"),
        ("someone is breaking into my car right now", "crime"),
        ("there's a power line down and sparking on the street", "wire"),
        ("my dad collapsed and isn't breathing", "medical"),
        ("i want to kill myself", "self_harm"),
    ],
)
def test_emergencies_are_recognised_with_their_kind(text: str, kind: str) -> None:
    result = triage(text)
    assert result.emergency and result.kind == kind
    assert "911" in result.advice or "988" in result.advice


def test_gas_and_self_harm_advice_say_what_to_do() -> None:
    assert "Leave the building" in triage("I smell gas").advice
    assert "988" in triage("I want to end my life").advice


@pytest.mark.parametrize(
    "text",
    [
        "the fire hydrant on my corner is leaking",
        "I have a question about my gas bill",
        "how do I become a firefighter",
        "when is trash day",
    ],
)
def test_look_alikes_are_not_emergencies(text: str) -> None:
    assert not triage(text).emergency


@pytest.mark.parametrize(
    "text", ["there was a fire in my building last month", "my car was broken into last night"]
)
def test_past_events_are_not_emergencies(text: str) -> None:
    assert not triage(text).emergency
