"""Channel-neutral messages and how they degrade to plain text."""

from __future__ import annotations

import pytest

from bot.messages import (
    PLAIN_TEXT,
    Capabilities,
    Choice,
    Link,
    Location,
    Outgoing,
    degrade,
    resolve_choice,
)

CHOICES = (Choice("a", "Garbage pickup day"), Choice("b", "Missed pickup"), Choice("n", "None of these"))


@pytest.mark.parametrize(
    ("said", "chosen"),
    [
        ("2", "b"),
        (" 2. ", "b"),
        ("the second one", "b"),
        ("last", "n"),
        ("Missed pickup", "b"),
        ("none", "n"),
        ("garbage", "a"),
        ("4", None),
        ("0", None),
        ("pickup", None),
        ("hello", None),
        ("", None),
        ("I have 2 bags of trash on my street", None),
    ],
)
def test_typed_answers_resolve_to_offered_choices(said: str, chosen: str | None) -> None:
    assert resolve_choice(said, CHOICES) == chosen


def test_plain_text_gets_numbered_choices_links_and_flat_markdown() -> None:
    message = Outgoing(
        "**Hi**\n- one\n- two",
        choices=CHOICES[:2],
        links=(Link("SF311", "https://sf311.org"),),
        request="location",
    )
    flat = degrade(message, PLAIN_TEXT)
    assert flat.text.startswith("Hi\n• one\n• two")
    assert "1. Garbage pickup day\n2. Missed pickup" in flat.text
    assert "SF311: https://sf311.org" in flat.text
    assert flat.choices == () and flat.links == () and flat.request is None


def test_a_rich_channel_keeps_everything() -> None:
    rich = Capabilities(buttons=True, photos=True, location_request=True, markdown=True, links=True)
    message = Outgoing("**Hi**", choices=CHOICES, request="location", links=(Link("a", "https://a"),))
    assert degrade(message, rich) == message


def test_json_round_trip() -> None:
    message = Outgoing(
        "x", choices=CHOICES, request="photo", photo_url="/media/k", links=(Link("a", "https://a"),)
    )
    assert Outgoing.from_json(message.to_json()) == message


def test_coordinates_are_checked() -> None:
    with pytest.raises(ValueError, match="latitude"):
        Location(95, 0)


def test_other_words_pick_a_choice_and_survive_the_state() -> None:
    from bot.dialog import State

    offered = [
        Choice("edit:kind", "Kind of problem", ("kind", "type")),
        Choice("edit:place", "Place", ("location", "address")),
        Choice("send", "Nothing, send it"),
    ]
    for said in ("the location", "change the address", "Address", "place", "2"):
        assert resolve_choice(said, offered) == "edit:place", said
    assert resolve_choice("location please", offered) is None  # a sentence is not a pick
    assert resolve_choice("the", offered) is None
    restored = State.from_json(State("report", "change", {}, choices=offered).to_json())
    assert restored.choices == offered  # aliases kept between turns, in the database
    assert Outgoing.from_json(Outgoing("?", choices=tuple(offered)).to_json()).choices == tuple(offered)


def test_choice_tokens_are_short_and_never_taken_for_an_id() -> None:
    from bot.messages import MAX_TOKEN_BYTES, choice_token

    assert choice_token("svc:pothole") == "svc:pothole"
    for raw in ("é" * 40, "x" * 65, "~short"):
        token = choice_token(raw)
        assert token != raw and token.startswith("~") and len(token.encode()) <= MAX_TOKEN_BYTES
    assert choice_token("x" * 64) == "x" * 64
