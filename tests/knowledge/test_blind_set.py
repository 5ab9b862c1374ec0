"""Understanding measured on messages written blind: by someone who saw the topics and the
service catalogue, but never our training data, rules or other test sets.

`tests/data/blind_set.jsonl` must stay unseen by the models: once its lines have been used
to improve understanding (looked at one by one, or folded into training), replace it with a
fresh blind set and set the floors from its first measurement. The floors sit a little
below that measurement, so a change that makes the assistant understand residents worse
fails CI.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.evaluate import read_labelled, score_set
from knowledge.understand import Understander

BLIND_SET = Path(__file__).parents[1] / "data" / "blind_set.jsonl"
# Measured first on 2026-12-01 (420 lines): faq 0.950, report 0.967, emergency 0.983,
# fallback 0.914, status 1.000, smalltalk 0.920, human 0.933; overall 0.957; false alarms 0.014.
FLOORS = {"faq": 0.92, "report": 0.93, "emergency": 0.95, "fallback": 0.85}
MIN_OVERALL = 0.93
MAX_FALSE_ALARMS = 0.03


@pytest.fixture(scope="module")
def measured(sample: Understander):  # type: ignore[no-untyped-def]
    return score_set(sample, read_labelled(BLIND_SET))


def test_the_blind_set_is_understood_above_its_floors(measured) -> None:  # type: ignore[no-untyped-def]
    ratios = {f.name: f.ratio for f in measured.figures}
    for name, floor in FLOORS.items():
        assert ratios[name] >= floor, (name, ratios[name])
    assert measured.overall >= MIN_OVERALL
    assert measured.notes["false alarms"] <= MAX_FALSE_ALARMS
