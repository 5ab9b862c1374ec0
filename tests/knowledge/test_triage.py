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


FRESH_EMERGENCIES = [
    "my grandma fell down the stairs and isn't moving",
    "there's a guy with a gun in the park",
    "someone's trying to break into my apartment",
    "my toddler swallowed bleach",
    "the building across the street is on fire",
    "i can smell gas everywhere in the hallway",
    "a wire came down on a car and it's sparking",
    "my husband is threatening to kill me",
    "my 3 year old wandered off and I can't find her",
    "he took all his pills and won't wake up",
    "a man is being beaten up outside the bar",
    "my friend is having a seizure",
    "i don't want to live anymore",
    "there's been a car accident and someone is trapped",
    "shots fired on 3rd street",
    "a kid is drowning at the beach",
    "my wife collapsed and is unresponsive",
    "someone stabbed a guy on the bus",
]
FRESH_LOOKALIKES = [
    "the fire hydrant on our block has been leaking for days",
    "how do I pay my gas bill",
    "the traffic on 101 is killing me",
    "my bike was stolen last week",
    "smoke detector keeps chirping",
    "how do I get a gun permit",
    "where can I take a cpr class",
    "what should I do if there's an earthquake",
    "my kid lost his library card",
    "there was a shooting in my neighborhood last year, is it safe",
    "I have a missing trash can",
    "knife sharpening service at the farmers market",
    "how to become a police officer",
    "burned out bulb on the streetlight",
    "pothole is killing my tires",
]


@pytest.mark.parametrize("text", FRESH_EMERGENCIES)
def test_many_kinds_and_phrasings_of_emergency(text: str) -> None:
    assert triage(text).emergency


@pytest.mark.parametrize("text", FRESH_LOOKALIKES)
def test_many_look_alikes_are_not_sent_to_911(text: str) -> None:
    assert not triage(text).emergency


@pytest.fixture(scope="module")
def learned():  # type: ignore[no-untyped-def]
    from knowledge.embeddings import load_default
    from knowledge.loader import SAMPLE_DIR, TRIAGE_FILE, load_triage_examples
    from knowledge.triage import Triager

    return Triager(load_triage_examples(SAMPLE_DIR / TRIAGE_FILE), load_default())


@pytest.mark.parametrize(
    "text",
    [
        "there's a baby locked in a hot car",
        "my neighbor is on the roof saying he'll jump",
        "my grandpa is confused and his lips look blue",
        "my friend drank way too much and we can't wake her",
    ],
)
def test_examples_teach_emergencies_no_phrase_was_written_for(learned, text: str) -> None:  # type: ignore[no-untyped-def]
    assert not triage(text).emergency  # the phrase lexicon alone misses these
    assert learned(text).emergency


@pytest.mark.parametrize(
    "text",
    [
        *FRESH_LOOKALIKES,
        "help",
        "the elevator in my building is broken",
        "can I get a copy of a police report",
        "someone parked in my driveway",
    ],
)
def test_examples_do_not_raise_false_alarms(learned, text: str) -> None:  # type: ignore[no-untyped-def]
    assert not learned(text).emergency


def test_without_the_model_the_lexicon_still_works() -> None:
    from knowledge.triage import Triager

    bare = Triager(None, None)
    assert bare("my neighbour's house is on fire").emergency
    assert not bare("there's a baby locked in a hot car").emergency  # honest: the model adds this
