"""What a resident's message is, learned from the city's examples.

Three learned models share one set of features (`classifier.Featurizer`):
emergency triage first (safety over everything), then the intent (a question,
a report, status, small talk, asking for a person, out of scope), then for a
report the kind of service. Which knowledge-base entry answers a question is
found by the hybrid search over the entries' phrasings, in three zones:
answer, "did you mean", or an honest "I don't know".

Rules stay only where they are exact: report numbers, and the 911 floor in
`triage`. Everything else comes from data a city can edit.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from scipy import sparse

from knowledge.catalogue import Catalogue, Service
from knowledge.classifier import LinearClassifier, Prediction
from knowledge.embeddings import Embedder
from knowledge.language import detect
from knowledge.learned import Learned, digest, neighbours, train
from knowledge.model import Entry, KnowledgeBase
from knowledge.search import Hit, SearchIndex
from knowledge.text import Synonyms, fold, words
from knowledge.training import (
    HUMAN,
    OUT_OF_SCOPE,
    STATUS,
    STATUS_MINE,
    STATUS_STOP,
    TrainingData,
    examples,
)
from knowledge.triage import Triage, Triager, sentences

Intent = Literal["faq", "report", "emergency", "status", "smalltalk", "human", "fallback"]

ANSWER_AT = 0.45  # search confidence to answer directly
AMBIGUOUS_GAP = 0.1  # short messages: the first answer must stand out by this much
# A message of this many words or fewer is a topic, not a question ("parking", "trash bins"):
# it may be asked about or reported. Counted as typed, so "how do i pay a parking ticket"
# is a whole question even though only two of its words are search terms.
SHORT_WORDS = 2
# A short message is taken as a report without offering answers too when the intent and
# service models together are this sure (hand-set: "graffiti" 0.99, "parking" 0.82).
REPORT_SURE = 0.9
SUGGEST_AT = 0.30  # middle band: "did you mean"
# An intent the classifier is less sure of than this is not acted on alone: a
# question with a confident search answer is answered, anything else is fallback.
INTENT_AT = 0.4
STOP_AT = 0.8  # "stop updates" with no number stops them all: only when this sure
LANGUAGE_TAG = "language"  # the entry that says how to get help in other languages

# Exact: a report number on its own ("10234", "#10234?", "SR# 10234"), and one anywhere.
_BARE_NUMBER = re.compile(
    r"^\s*(sr|case|ticket|report|ref|no)?\s*(#|no\.?|number)?\s*#?\s*(\d{4,8})\s*[?!.]*\s*$"
)
_NUMBER = re.compile(
    r"(?<![\d/.,:$-])#?\b(\d{4,8})\b(?![\d/%]|[.,:]\d|\s?(st|nd|rd|th|am|pm|ft|feet|blocks?)\b)"
)
_TIMEISH = re.compile(r"\b(19|20)\d\d\b")  # a year is not a report number
# A house number: digits, one to three words, then a street type ("1420 Noe St").
_ADDRESS = re.compile(
    r"^\s+(?!(?:at|on|near|by|in|for|from|of|and)\s)(?:(?:[a-z][a-z0-9'.-]*|\d+(?:st|nd|rd|th))\s+){1,3}(st|street|ave|avenue|blvd|boulevard|rd|road|dr|drive|way|ln|lane|"
    r"pl|place|ct|court|ter|terrace|hwy|highway)\b"
)


@dataclass(frozen=True, slots=True)
class ServiceHit:
    service: Service
    score: float


@dataclass(frozen=True, slots=True)
class Understanding:
    intent: Intent
    score: float
    text: str
    entry: Entry | None = None
    service: Service | None = None
    hits: tuple[Hit, ...] = ()
    services: tuple[ServiceHit, ...] = ()
    triage: Triage = field(default_factory=lambda: Triage(False))
    report_number: str | None = None
    smalltalk: str | None = None  # greeting | thanks | bye | about | help
    status_action: str | None = None  # "mine" (list my reports) | "stop" (stop updates) | None (look up)
    ranked: tuple[tuple[str, float], ...] = ()  # the intent model's view, best first
    language: str | None = None  # set when the message is clearly not in English
    offer_report: Service | None = None  # a short message that may be a report: offer to file one

    @property
    def suggestions(self) -> tuple[Hit, ...]:
        """Entries worth offering as "Did you mean…" when not confident."""
        return tuple(h for h in self.hits if h.score >= SUGGEST_AT)[:3]


def report_number(text: str) -> str | None:
    """The report number a message names, if any (exact: digits, not a year or an address)."""
    folded = fold(text)
    for match in _NUMBER.finditer(folded):
        if not _TIMEISH.fullmatch(match.group(1)) and not _ADDRESS.match(folded[match.end() :]):
            return match.group(1)
    return None


def is_bare_number(text: str) -> bool:
    return bool(_BARE_NUMBER.match(fold(text)))


class Understander:
    """Built once per knowledge base revision; cheap to call per message. Given `learned`
    (models stored for the same examples) it loads them, otherwise it trains."""

    def __init__(
        self,
        kb: KnowledgeBase,
        catalogue: Catalogue | None = None,
        *,
        training: TrainingData | None = None,
        embedder: Embedder | None = None,
        vectors: MutableMapping[str, np.ndarray] | None = None,
        learned: Learned | None = None,
        previous: Learned | None = None,
    ) -> None:
        """`previous`: an earlier revision's models, which training starts from."""
        self.kb = kb
        self.catalogue = catalogue or Catalogue()
        self.training = training or TrainingData()
        self.synonyms = Synonyms(kb.synonyms)
        self.index = SearchIndex(kb.active(), self.synonyms, embedder=embedder, vectors=vectors)
        self._services = {s.code: s for s in self.catalogue.services if s.active}
        self.examples = examples(self.training, kb, self.catalogue)
        self.digest = digest(self.examples, embedder)
        if learned is None:
            learned = train(self.examples, embedder, vectors, services=set(self._services), previous=previous)
        self.learned = learned
        self.featurizer = learned.featurizer(embedder, vectors)
        self.intents = LinearClassifier(self.featurizer, learned.intents) if learned.intents else None
        self.service_model = LinearClassifier(self.featurizer, learned.services) if learned.services else None
        self.triager = Triager(learned.triage, learned.kinds, learned.thresholds, dict(self.training.advice))
        self._neighbours = (
            neighbours([t for _, t in self.examples], vectors)
            if embedder is not None and vectors is not None and learned.novelty > 0
            else None
        )

    def understand(self, text: str) -> Understanding:
        row = self.featurizer.transform([text], remember=False)
        tri = self._triage(text, row)
        if tri.emergency:
            return Understanding("emergency", tri.score, text, triage=tri)
        language = detect(text)
        if language is not None:
            # The models know English only: say what the bot can do and how to get help in
            # that language (the entry tagged "language"), rather than guess.
            entry = next((e for e in self.kb.active() if LANGUAGE_TAG in e.tags), None)
            intent: Intent = "faq" if entry is not None else "fallback"
            return Understanding(intent, 1.0, text, entry=entry, triage=tri, language=language)
        number = report_number(text)
        if is_bare_number(text):
            return Understanding("status", 1.0, text, triage=tri, report_number=number)
        prediction = self.intents.predict(text, row) if self.intents else Prediction("faq", 0.0, ())
        if self._novel(text):  # unlike every example: whatever the classifier says, we don't know it
            prediction = Prediction(OUT_OF_SCOPE, 1.0, ((OUT_OF_SCOPE, 1.0), *prediction.ranked))
        label, sure = prediction.label, prediction.probability >= INTENT_AT
        base = Understanding("fallback", prediction.probability, text, triage=tri, ranked=prediction.ranked)
        if label == STATUS_STOP and not number and prediction.probability < STOP_AT:
            sure = False  # stopping every update is not done on a guess
        if sure and label in (STATUS, STATUS_MINE, STATUS_STOP):
            action = {STATUS_MINE: "mine", STATUS_STOP: "stop"}.get(label)
            if label == STATUS_MINE and number:
                action = None  # "my report 10234": that one report
            return replace(base, intent="status", report_number=number, status_action=action)
        if sure and label == HUMAN:
            return replace(base, intent="human")
        if sure and label.startswith("smalltalk."):
            return replace(base, intent="smalltalk", smalltalk=label.split(".", 1)[1])

        hits = tuple(self.index.search(text, limit=3))
        services = tuple(self._service_hits(row))
        base = replace(base, hits=hits, services=services)
        best = hits[0] if hits else None
        short = len(words(text)) <= SHORT_WORDS
        if sure and label == "report" and services:
            score = round(prediction.probability * services[0].score, 4)
            if short and score < REPORT_SURE and best is not None and best.score >= ANSWER_AT:
                # "parking", "trash": a question or which report? Offer both rather than guess.
                # "blocked driveway", "graffiti": a report (its first step confirms the kind).
                return replace(base, score=best.score, offer_report=services[0].service)
            return replace(base, intent="report", score=score, service=services[0].service)
        answers = best is not None and best.score >= ANSWER_AT and not (short and _close(hits))
        # A question the classifier is unsure of, but the search answers well, is answered.
        if best is not None and answers and (label == "faq" or (label != OUT_OF_SCOPE and not sure)):
            return replace(base, intent="faq", score=best.score, entry=best.entry)
        if label == OUT_OF_SCOPE:
            base = replace(base, hits=tuple(h for h in hits if h.score >= ANSWER_AT))  # only close entries
        return replace(base, score=best.score if best else 0.0)

    def _triage(self, text: str, row: sparse.csr_matrix) -> Triage:
        """The whole message, then each of its sentences: the most alarming result wins."""
        tri = self.triager.assess(text, row)
        parts = sentences(text) if not tri.emergency else []
        if parts:
            for part, part_row in zip(parts, self.featurizer.transform(parts, remember=False), strict=True):
                said = self.triager.assess(part, part_row)
                if said.emergency:
                    return said
                if said.soft and not tri.soft:
                    tri = said
        return tri

    def _novel(self, text: str) -> bool:
        if self._neighbours is None or not len(self._neighbours) or self.featurizer.embedder is None:
            return False
        nearest = float((self._neighbours @ self.featurizer.embedder.encode_one(text)).max())
        return nearest < self.learned.novelty

    def match_services(self, text: str, limit: int = 3) -> list[ServiceHit]:
        """The likeliest kinds of report for a message, best first; score is a probability."""
        return self._service_hits(self.featurizer.transform([text], remember=False), limit)

    def _service_hits(self, row: sparse.csr_matrix, limit: int = 3) -> list[ServiceHit]:
        if self.service_model is None:
            return [ServiceHit(s, 1.0) for s in list(self._services.values())[:1]]
        ranked = self.service_model.predict("", row).ranked
        return [ServiceHit(self._services[code], p) for code, p in ranked[:limit] if code in self._services]


def _close(hits: tuple[Hit, ...]) -> bool:
    """The first two entries fit about equally: for a one- or two-word message ("parking",
    "trash bins") it is better to ask which one than to guess."""
    return len(hits) >= 2 and hits[0].score - hits[1].score < AMBIGUOUS_GAP
