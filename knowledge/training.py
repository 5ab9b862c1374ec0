"""Training examples: what residents write, labelled by what they mean.

The assistant learns what a message is from these examples (as Rasa keeps its
NLU data), not from hand-written patterns. A city edits them like the rest of
its content: they live in `training.yaml`, in the database, and round-trip
through `kb export` and `kb import`.

Labels, one per example:
- conversation intents, fixed by the code that acts on them (`INTENTS`);
- `report:<service code>`, what residents write when they report that service;
- `emergency:<kind>`, a danger happening now, with the kind's advice in `advice`;
- `not_emergency` (look-alikes) and `past_or_negated` (over, negated, hypothetical).

Knowledge-base entries bring their own examples: their question and alternatives.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from knowledge.catalogue import Catalogue
from knowledge.model import KnowledgeBase

STATUS = "status"
STATUS_MINE = "status.mine"
STATUS_STOP = "status.stop"
HUMAN = "human"
OUT_OF_SCOPE = "out_of_scope"
SMALLTALK = ("smalltalk.greeting", "smalltalk.thanks", "smalltalk.bye", "smalltalk.about", "smalltalk.help")
INTENTS = (STATUS, STATUS_MINE, STATUS_STOP, HUMAN, OUT_OF_SCOPE, *SMALLTALK)

REPORT = "report:"
EMERGENCY = "emergency:"
FAQ = "faq:"
NOT_EMERGENCY = "not_emergency"
PAST_OR_NEGATED = "past_or_negated"

MAX_EXAMPLE_CHARS = 500


@dataclass(frozen=True, slots=True)
class TrainingData:
    """All labelled examples of one revision, plus the advice for each emergency kind."""

    intents: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    services: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    emergencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    not_emergency: tuple[str, ...] = ()
    past_or_negated: tuple[str, ...] = ()
    advice: Mapping[str, str] = field(default_factory=dict)

    def rows(self) -> Iterator[tuple[str, str]]:
        """(label, text) pairs, in file order: how the database keeps them."""
        for label, texts in self.intents.items():
            yield from ((label, t) for t in texts)
        for code, texts in self.services.items():
            yield from ((REPORT + code, t) for t in texts)
        for kind, texts in self.emergencies.items():
            yield from ((EMERGENCY + kind, t) for t in texts)
        yield from ((NOT_EMERGENCY, t) for t in self.not_emergency)
        yield from ((PAST_OR_NEGATED, t) for t in self.past_or_negated)

    @classmethod
    def from_rows(cls, rows: list[tuple[str, str]], advice: Mapping[str, str]) -> TrainingData:
        intents: dict[str, list[str]] = {}
        services: dict[str, list[str]] = {}
        emergencies: dict[str, list[str]] = {}
        other: dict[str, list[str]] = {NOT_EMERGENCY: [], PAST_OR_NEGATED: []}
        for label, text in rows:
            if label.startswith(REPORT):
                services.setdefault(label[len(REPORT) :], []).append(text)
            elif label.startswith(EMERGENCY):
                emergencies.setdefault(label[len(EMERGENCY) :], []).append(text)
            elif label in other:
                other[label].append(text)
            else:
                intents.setdefault(label, []).append(text)
        return cls(
            {k: tuple(v) for k, v in intents.items()},
            {k: tuple(v) for k, v in services.items()},
            {k: tuple(v) for k, v in emergencies.items()},
            tuple(other[NOT_EMERGENCY]),
            tuple(other[PAST_OR_NEGATED]),
            dict(advice),
        )

    def __len__(self) -> int:
        return sum(1 for _ in self.rows())


def examples(data: TrainingData, kb: KnowledgeBase, catalogue: Catalogue) -> list[tuple[str, str]]:
    """Every labelled example the classifiers learn from: the training data, each active
    entry's phrasings (`faq:<id>`), and each service's name and keywords beside its
    examples, so a new service is understood before anyone writes examples for it."""
    out = [(label, text) for label, text in data.rows()]
    for entry in kb.active():
        out.extend((FAQ + entry.id, p) for p in entry.phrasings())
    for service in catalogue.services:
        if service.active:
            out.extend((REPORT + service.code, t) for t in (service.name, *service.keywords))
    return out
