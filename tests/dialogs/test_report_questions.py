"""A service's own questions: every Open311 datatype, good answers and the reasons for bad ones."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from dialogs.report_questions import CLEAR, DONE, SKIP, Invalid, answer, describe, mentioned, prompt
from knowledge.catalogue import Attribute, AttributeValue

TZ = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)  # 10:00 in the city
ITEMS = Attribute(
    "items",
    "multivaluelist",
    "What was left there?",
    required=True,
    values=(
        AttributeValue("furniture", "furniture", ("couch", "sofa", "tv stand")),
        AttributeValue("mattress", "mattress"),
        AttributeValue("bags", "bags of trash", ("bags",)),
        AttributeValue("other", "other"),
    ),
)
SIZE = Attribute(
    "size",
    "singlevaluelist",
    "How big is it?",
    values=(
        AttributeValue("small", "smaller than a dinner plate"),
        AttributeValue("large", "larger than a car tire", ("huge",)),
    ),
)


def ask(attribute: Attribute, text: str = "", choice: str | None = None, picked: list[str] | None = None):  # type: ignore[no-untyped-def]
    return answer(attribute, text=text, choice=choice, picked=picked, now=NOW, tz=TZ)


def test_single_value_lists_take_a_tap_a_number_or_the_words() -> None:
    assert ask(SIZE, choice="val:large").value == "large"
    assert ask(SIZE, "2").value == "large"
    assert ask(SIZE, "smaller than a dinner plate").value == "small"
    assert ask(SIZE, "skip").value is None  # optional
    with pytest.raises(Invalid, match="Please pick one of: smaller than a dinner plate, larger"):
        ask(SIZE, "enormous")
    with pytest.raises(Invalid):
        ask(SIZE, choice="val:huge")  # a forged button


def test_multi_value_lists_typed_at_once_or_tapped_until_done() -> None:
    assert ask(ITEMS, "mattress and bags of trash").value == ["mattress", "bags"]
    first = ask(ITEMS, choice="val:furniture")
    assert first.done is False and first.value == ["furniture"]
    assert ask(ITEMS, choice="done", picked=["furniture"]).value == ["furniture"]
    with pytest.raises(Invalid, match="at least one"):
        ask(ITEMS, choice="done")
    with pytest.raises(Invalid, match="needed"):
        ask(ITEMS, "skip")  # required
    with pytest.raises(Invalid, match="Please pick from"):
        ask(ITEMS, "mattress, a piano")  # all or nothing: nothing half-understood is kept


@pytest.mark.parametrize(
    ("text", "value"), [("3", 3), ("about 2.5", 2.5), ("three", 3), ("4 ft", 4), ("1,5", 1.5)]
)
def test_numbers(text: str, value: float) -> None:
    assert ask(Attribute("n", "number", "How many?", required=True), text).value == value


@pytest.mark.parametrize("text", ["lots", "3 or 4", "a few", "-"])
def test_bad_numbers_say_why(text: str) -> None:
    with pytest.raises(Invalid, match="number"):
        ask(Attribute("n", "number", "How many?", required=True), text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("today 8am", "2026-11-24T08:00-08:00"),
        ("yesterday at 6pm", "2026-11-23T18:00-08:00"),
        ("Nov 3 6pm", "2026-11-03T18:00-08:00"),
        ("2026-11-20 07:30", "2026-11-20T07:30-08:00"),
        ("now", "2026-11-24T10:00-08:00"),
    ],
)
def test_datetimes_in_the_city_time_zone(text: str, value: str) -> None:
    assert ask(Attribute("seen", "datetime", "When?", required=True), text).value == value


@pytest.mark.parametrize(("text", "reason"), [("whenever", "date and time"), ("Dec 25 2030", "looks wrong")])
def test_bad_datetimes_say_why(text: str, reason: str) -> None:
    with pytest.raises(Invalid, match=reason):
        ask(Attribute("seen", "datetime", "When?", required=True), text)


def test_text_answers_have_limits_and_buttons_are_not_text() -> None:
    plate = Attribute("plate", "string", "Licence plate?")
    assert ask(plate, " 7ABC123 ").value == "7ABC123"
    with pytest.raises(Invalid, match="under 200"):
        ask(plate, "x" * 201)
    with pytest.raises(Invalid, match="type your answer"):
        ask(Attribute("plate", "string", "Licence plate?", required=True), choice="val:x")


def test_prompts_offer_skip_only_when_optional_and_describe_answers() -> None:
    text, choices = prompt(SIZE)
    assert text.endswith("(optional)") and choices[-1].id == SKIP
    text, choices = prompt(ITEMS, ["mattress"])
    assert text == "So far: mattress. Pick more, or tap **Done**."  # not the whole question again
    assert [c.label for c in choices] == ["furniture", "bags of trash", "other", "Done", "Clear"]
    assert describe(ITEMS, ["bags", "mattress"]) == "bags of trash, mattress"
    assert describe(SIZE, None) == "skipped"


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("someone dumped a couch", ["furniture"]),  # an alias
        ("two old mattresses and some bags", ["mattress", "bags"]),  # plurals; catalogue order
        ("Sofas, a TV stand and more SOFAS", ["furniture"]),  # case, and once each
        ("the other day someone left junk", []),  # a common word names nothing
        ("mattressing", []),  # whole words only
        ("", []),
    ],
)
def test_values_named_in_a_description_are_found(text: str, keys: list[str]) -> None:
    assert mentioned(ITEMS, text) == keys


def test_a_value_named_in_the_description_is_offered_first_to_confirm() -> None:
    text, choices = prompt(SIZE, described="huge pothole on 5th")
    assert "From what you said: **larger than a car tire**?" in text
    assert [c.label for c in choices] == [
        "Yes, larger than a car tire",
        "smaller than a dinner plate",
        "Skip",
    ]
    assert ask(SIZE, choice=choices[0].id).value == "large"
    plain, _ = prompt(SIZE, described="pothole on 5th")  # nothing named: the plain question
    assert "From what you said" not in plain


def test_picks_filled_in_from_the_description_can_be_confirmed_or_cleared() -> None:
    text, choices = prompt(ITEMS, ["furniture"], described="someone dumped a couch")
    assert text.startswith("What was left there?") and "From what you said: **furniture**" in text
    assert [c.id for c in choices][-2:] == [DONE, CLEAR]
    assert ask(ITEMS, choice=DONE, picked=["furniture"]).value == ["furniture"]
    cleared = ask(ITEMS, choice=CLEAR, picked=["furniture"])
    assert cleared.value == [] and not cleared.done
    assert ask(ITEMS, "clear", picked=["furniture"]).value == []  # typed, too
