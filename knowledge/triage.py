"""Telling emergencies apart: who must be told to call 911 before anything else.

Safety comes first, so triage fails safe:
- a short floor of unmistakable phrases ("not breathing", "on fire", "kill
  myself") that no other word in the message can cancel;
- a classifier learned from the city's examples (emergencies by kind,
  look-alikes, past or negated mentions, and every ordinary message the bot
  knows), with its thresholds chosen by cross-validation: above the alarm
  threshold the 911 message; in the uncertain band below it the normal answer,
  led by "If anyone is in danger right now, call 911";
- past or negated mentions ("there was a fire last month") soften to that
  same reminder, never to silence; a floor phrase is never softened;
- a message of several sentences is also judged sentence by sentence, so an
  emergency told at the end of a long, calm story is not averaged away.

The advice for each kind comes from the training data, never from code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from knowledge.classifier import LinearModel, cross_validated
from knowledge.text import fold

EMERGENCY = "emergency"
PAST = "past_or_negated"
OTHER = "other"

# What the alarm may cost: the share of non-emergency examples (out of fold) that may
# raise the 911 message, and the share of emergencies the uncertain band must still catch.
MAX_FALSE_ALARM = 0.01
BAND_RECALL = 0.995
ALARM_CEILING = 0.5  # never demand more certainty than this to raise the alarm
BAND_FLOOR = 0.05

# The floor: phrases that mean danger whatever else the message says. Deliberately short;
# the classifier carries the breadth. Only phrases that are exact belong here: a bare noun
# ("heart attack", "overdose", "stabbing") is as often a question, the news or a figure of
# speech ("a heart attack on a plate"), and the classifier, which sees the whole message,
# judges those. Nothing cancels a floor phrase, not even past or negated wording.
_FLOOR: list[tuple[str, str]] = [
    ("fire", r"\b(on fire|caught fire|catching fire|in flames|is burning down|house fire|building fire)\b"),
    (
        "gas",
        r"\b(smell(s|ing)? (of |like )?(natural )?gas|gas (leak|smell|odou?r)|leaking gas|rotten eggs?)\b",
    ),
    (
        "wire",
        r"\b(power ?lines? (is |are )?(down|sparking)|downed (power )?lines?|live wires?|sparking wires?)\b",
    ),
    (
        "medical",
        r"\b(not breathing|isn'?t breathing|stopped breathing|can'?t breathe|unconscious|unresponsive|"
        r"no pulse|having a (heart attack|stroke|seizure)|is seizing|overdosing|(is|s|are|baby|child|kid) choking|"
        r"won'?t wake up)\b",
    ),
    (
        "crime",
        r"\b(shots fired|shooting at|someone is shooting|active shooter|gunman|has a gun|with a gun|"
        r"pointing a gun|(been|got|just|is being|was just) stabbed|stabbing (me|him|her|them|people|someone)|"
        r"being (robbed|mugged|attacked|stabbed|kidnapped)|breaking into (my|our|the) (house|home|apartment|car))",
    ),
    (
        "self_harm",
        r"\b(kill(ing)? myself|suicid\w*|end(ing)? my life|take my (own )?life|want to die|wanna die|"
        r"hurt(ing)? myself|cut(ting)? myself|better off dead|(don'?t|do not) want to (live|be alive)|"
        r"end it all|no reason to live)\b",
    ),
]
_COMPILED = [(kind, re.compile(pattern)) for kind, pattern in _FLOOR]


def floor(text: str) -> str | None:
    """The kind of an unmistakable emergency phrase in the text, if any."""
    folded = fold(text)
    return next((kind for kind, pattern in _COMPILED if pattern.search(folded)), None)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*[\n;]+\s*")
MIN_SENTENCE_WORDS = 3


def sentences(text: str) -> list[str]:
    """The sentences of a message that has more than one (each of a few words at least);
    [] for a one-sentence message, which is judged whole anyway."""
    parts = [p.strip() for p in _SENTENCE_END.split(text)]
    parts = [p for p in parts if len(p.split()) >= MIN_SENTENCE_WORDS]
    return parts if len(parts) > 1 else []


@dataclass(frozen=True, slots=True)
class Triage:
    emergency: bool
    kind: str | None = None
    soft: bool = False  # uncertain, past or negated: the normal answer, led by a 911 reminder
    score: float = 0.0  # probability of an emergency happening now
    advice: str = ""


@dataclass(frozen=True, slots=True)
class Thresholds:
    alarm: float
    band: float


class Triager:
    """The floor, then the learned emergency model (classes `emergency`, `past_or_negated`,
    `other`) and the model of emergency kinds, which picks the advice."""

    def __init__(
        self,
        model: LinearModel | None,
        kinds: LinearModel | None,
        thresholds: Thresholds,
        advice: dict[str, str],
    ) -> None:
        self._model, self._kinds, self.thresholds, self.advice = model, kinds, thresholds, advice

    def assess(self, text: str, row: sparse.csr_matrix) -> Triage:
        floor_kind = floor(text)
        if floor_kind is not None:
            # Unmistakable: nothing else in the message, past or negated wording included,
            # may cancel it. A wrong alarm costs a sentence; a missed one can cost a life.
            return Triage(True, floor_kind, score=0.9, advice=self.advice.get(floor_kind, ""))
        if self._model is None:
            return Triage(False)
        probs = dict(zip(self._model.classes, self._model.proba(row)[0].tolist(), strict=True))
        p_emergency, p_past, p_other = (probs.get(k, 0.0) for k in (EMERGENCY, PAST, OTHER))
        score = round(p_emergency, 4)
        if p_emergency >= self.thresholds.alarm:
            kind = self._kind(row)
            return Triage(True, kind, score=score, advice=self.advice.get(kind, ""))
        if p_emergency >= self.thresholds.band or (p_past > p_emergency and p_past > p_other):
            # Uncertain, or over, negated or hypothetical: remind, never silence.
            kind = self._kind(row)
            return Triage(False, kind, soft=True, score=score, advice=self.advice.get(kind, ""))
        return Triage(False, score=score)

    def _kind(self, row: sparse.csr_matrix) -> str:
        if self._kinds is None:
            return next(iter(self.advice), "danger")
        probs = self._kinds.proba(row)[0]
        return self._kinds.classes[int(np.argmax(probs))]


def choose_thresholds(rows: sparse.csr_matrix, coarse: list[str]) -> Thresholds:
    """From out-of-fold probabilities: the alarm at the lowest probability that keeps false
    alarms within MAX_FALSE_ALARM (never above ALARM_CEILING: recall first), and the band
    low enough to catch BAND_RECALL of the emergencies."""
    classes, probs = cross_validated(rows, coarse, folds=3)
    p = probs[:, classes.index(EMERGENCY)]
    is_emergency = np.array([c == EMERGENCY for c in coarse])
    others = np.sort(p[~is_emergency])
    if not len(others) or not is_emergency.any():
        return Thresholds(ALARM_CEILING, BAND_FLOOR)
    allowed = int(MAX_FALSE_ALARM * len(others))
    alarm = float(others[-allowed - 1]) + 1e-6 if allowed < len(others) else 0.0
    alarm = min(ALARM_CEILING, max(alarm, BAND_FLOOR * 2))
    band = float(np.quantile(p[is_emergency], 1 - BAND_RECALL))
    band = min(alarm, max(BAND_FLOOR, band))
    return Thresholds(round(alarm, 4), round(band, 4))
