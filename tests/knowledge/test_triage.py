"""911 triage: learned from examples, with a floor nothing cancels; it fails safe.

The phrasings here are written for these tests, not taken from the training data
or any evaluation set.
"""

from __future__ import annotations

import pytest

from knowledge.triage import floor
from knowledge.understand import Understander

EMERGENCIES = [
    ("my neighbour's house is on fire", "fire"),
    ("I smell gas in the kitchen", "gas"),
    ("there's a power line down and sparking on the street", "wire"),
    ("my dad collapsed and isn't breathing", "medical"),
    ("i want to kill myself", "self_harm"),
    ("my grandma fell down the stairs and isn't moving", None),
    ("there's a guy with a gun in the park", None),
    ("someone's trying to break into my apartment right now", None),
    ("my toddler swallowed bleach", None),
    ("a wire came down on a car and it's sparking", None),
    ("my husband is threatening to kill me", None),
    ("my 3 year old wandered off and I can't find her", None),
    ("a man is being beaten up outside the bar", None),
    ("there's been a car accident and someone is trapped", None),
    ("a kid is drowning at the beach", None),
    ("there's a baby locked in a hot car", None),
    ("my neighbor is on the roof saying he'll jump", None),
    ("a coyote just bit a jogger and he is bleeding a lot", None),
]

LOOKALIKES = [
    "the fire hydrant on our block has been leaking for days",
    "how do I pay my gas bill",
    "the traffic on 101 is killing me",
    "my bike was stolen last week",
    "smoke detector keeps chirping",
    "where can I take a cpr class",
    "what should I do to prepare for an earthquake",
    "burned out bulb on the streetlight",
    "pothole is killing my tires",
    "I'm drowning in parking tickets",
    "there's a dead cat on the road",
    "when is trash day",
]


@pytest.mark.parametrize(("text", "kind"), EMERGENCIES)
def test_emergencies_of_many_kinds_are_recognised(sample: Understander, text: str, kind: str | None) -> None:
    u = sample.understand(text)
    assert u.intent == "emergency", text
    if kind:
        assert u.triage.kind == kind
    assert u.triage.advice  # every kind's advice comes from the training data


@pytest.mark.parametrize("text", LOOKALIKES)
def test_look_alikes_are_not_sent_to_911(sample: Understander, text: str) -> None:
    assert sample.understand(text).intent != "emergency"


@pytest.mark.parametrize(
    "text",
    [
        "someone collapsed in my yoga class and is not breathing",
        "i got a permit for the block party but now a house on the street is on fire",
        "what do i do if my son is choking right now",
        "how do I get a parking permit, also my neighbour is unconscious on the floor",
    ],
)
def test_a_look_alike_word_never_cancels_an_emergency(sample: Understander, text: str) -> None:
    assert floor(text) is not None
    assert sample.understand(text).intent == "emergency"


def test_past_or_negated_mentions_soften_to_a_reminder(sample: Understander) -> None:
    u = sample.understand("there was a fire in my building last month, who cleans up the debris?")
    assert u.intent != "emergency"
    assert u.triage.soft  # "if anyone is in danger right now, call 911" leads the answer


def test_advice_comes_from_the_data(sample: Understander) -> None:
    gas = sample.understand("strong smell of gas in my hallway")
    assert gas.triage.advice == sample.training.advice["gas"]
    assert "988" in sample.understand("i want to end my life").triage.advice


def test_thresholds_are_chosen_by_cross_validation(sample: Understander) -> None:
    thresholds = sample.triager.thresholds
    assert 0 < thresholds.band <= thresholds.alarm <= 0.5


def test_without_the_sentence_model_triage_still_works(sample_words_only: Understander) -> None:
    assert sample_words_only.understand("my neighbour's house is on fire").intent == "emergency"
    assert sample_words_only.understand("my dad collapsed and isn't breathing").intent == "emergency"
    assert sample_words_only.understand("when is trash day").intent != "emergency"


def test_stored_models_load_back_the_same(sample: Understander) -> None:
    from knowledge.learned import Learned

    loaded = Learned.from_bytes(sample.learned.to_bytes())
    assert loaded is not None
    assert loaded.thresholds == sample.learned.thresholds and loaded.novelty == sample.learned.novelty
    for name in ("intents", "services", "triage", "kinds"):
        mine, theirs = getattr(sample.learned, name), getattr(loaded, name)
        assert mine.classes == theirs.classes and (mine.coef == theirs.coef).all()


def test_held_back_examples_of_each_intent_and_service_are_understood(sample: Understander) -> None:
    """Cross-validation: each example predicted by models trained without it."""
    from knowledge.evaluate import cross_validate

    reports = cross_validate(sample, folds=3, parts=("intent", "service"))
    for figure in reports["intent"].figures:
        assert figure.ratio >= 0.6, figure
    assert reports["intent"].overall >= 0.85 and reports["service"].overall >= 0.8


def test_an_emergency_at_the_end_of_a_long_calm_story_is_caught(sample: Understander) -> None:
    """Judged whole, the story is mostly praise and potholes; its last sentence is the point."""
    story = (
        "I have been a resident of the Sunset for thirty years and I usually write to you about "
        "potholes and the street sweeping schedule, which has been very good lately. I also wanted "
        "to say the new library hours are great. But tonight a man is beating the woman next door "
        "with a belt and she is screaming for help."
    )
    whole = sample.triager.assess(story, sample.featurizer.transform([story]))
    assert not whole.emergency  # what the sentence-by-sentence reading adds
    assert sample.understand(story).intent == "emergency"
    thanks = (
        "Thanks for fixing the streetlight on Irving last week, the crew was quick and polite. "
        "My neighbour just fell off his ladder and he is not moving."
    )
    assert sample.understand(thanks).intent == "emergency"


def test_a_long_story_about_an_emergency_that_is_over_is_not_an_alarm(sample: Understander) -> None:
    story = (
        "We had a small fire in our kitchen last spring. Everything is repaired now and nobody was "
        "hurt. Who do I ask about a permit to rebuild the back fence?"
    )
    u = sample.understand(story)
    assert u.intent != "emergency"


def test_cross_validated_triage_figures_count_the_floor(sample_words_only: Understander) -> None:
    """`kb check`'s 911 figures: out of fold, and the floor raises the alarm as it does live."""
    from knowledge.evaluate import cross_validate
    from knowledge.learned import triage_label

    report = cross_validate(sample_words_only, folds=2, parts=("emergency",))["emergency"]
    figures = {f.name: f for f in report.figures}
    emergencies = sum(triage_label(label) == "emergency" for label, _ in sample_words_only.examples)
    assert figures["emergency recall"].total == emergencies
    assert figures["emergency recall"].ratio >= 0.8 and figures["no false alarm"].ratio >= 0.9
