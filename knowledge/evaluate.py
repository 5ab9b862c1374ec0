"""How well the assistant understands, measured as `rasa test nlu` does.

Cross-validation: every example is predicted by models trained without it
(k folds), per intent, per service and per knowledge-base entry, with the
worst confusions. A labelled set (one JSON object a line, as the evaluation
sets are written) is scored with the same rules as the project's scorer.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from knowledge.classifier import Featurizer, cross_validated
from knowledge.learned import MAX_ORDINARY, MAX_PER_LABEL, cap, intent_label, triage_label
from knowledge.search import SearchIndex
from knowledge.training import REPORT
from knowledge.triage import floor
from knowledge.understand import Understander, Understanding


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    correct: int
    total: int

    @property
    def ratio(self) -> float:
        return self.correct / self.total if self.total else float("nan")


@dataclass(slots=True)
class Report:
    """Figures of one measurement: per label, the confusions, and overall."""

    figures: list[Figure] = field(default_factory=list)
    confusions: list[tuple[str, str, int]] = field(default_factory=list)  # (wanted, got, count)
    notes: dict[str, float] = field(default_factory=dict)

    @property
    def overall(self) -> float:
        total = sum(f.total for f in self.figures)
        return sum(f.correct for f in self.figures) / total if total else float("nan")


def _report(wanted: Sequence[str], got: Sequence[str], worst: int = 8) -> Report:
    by_label: dict[str, list[bool]] = {}
    confusions: Counter[tuple[str, str]] = Counter()
    for w, g in zip(wanted, got, strict=True):
        by_label.setdefault(w, []).append(w == g)
        if w != g:
            confusions[(w, g)] += 1
    return Report(
        [Figure(k, sum(v), len(v)) for k, v in sorted(by_label.items())],
        [(w, g, n) for (w, g), n in confusions.most_common(worst)],
    )


PARTS = ("intent", "service", "emergency", "entry")


def cross_validate(u: Understander, folds: int = 5, parts: Sequence[str] = PARTS) -> dict[str, Report]:
    """Out-of-fold figures for the intent, service and emergency models, and for entries
    (each fold's phrasings searched for in an index built without them)."""
    texts = [t for _, t in u.examples]
    labels = [label for label, _ in u.examples]
    _, rows = Featurizer.fit(texts, u.featurizer.embedder, u.featurizer._vectors)
    out: dict[str, Report] = {}

    if "intent" in parts:
        intents = cap([intent_label(x) for x in labels], MAX_PER_LABEL)
        intent_targets = [str(intent_label(labels[i])) for i in intents]
        out["intent"] = _predicted(rows[intents], intent_targets, folds)
    if "service" in parts:
        reports = [i for i, x in enumerate(labels) if x.startswith(REPORT)]
        out["service"] = _predicted(rows[reports], [labels[i][len(REPORT) :] for i in reports], folds)
    if "emergency" in parts:
        out["emergency"] = _emergency(u, rows, texts, labels, folds)
    if "entry" in parts:
        out["entry"] = _entries(u, folds)
    return out


def _emergency(u: Understander, rows: object, texts: list[str], labels: list[str], folds: int) -> Report:
    coarse = [triage_label(x) for x in labels]
    picked = cap(coarse, MAX_ORDINARY)
    targets = [coarse[i] for i in picked]
    classes, probs = cross_validated(rows[picked], targets, folds=folds)  # type: ignore[index]
    report = Report()
    if "emergency" in classes:
        p = probs[:, classes.index("emergency")]
        is_emergency = np.array([coarse[i] == "emergency" for i in picked])
        alarm = u.triager.thresholds.alarm
        # As the assistant decides: the floor raises the alarm whatever the model says.
        floored = np.array([floor(texts[i]) is not None for i in picked])
        raised = (p >= alarm) | floored
        report = Report(
            [
                Figure("emergency recall", int(raised[is_emergency].sum()), int(is_emergency.sum())),
                Figure("no false alarm", int((~raised[~is_emergency]).sum()), int((~is_emergency).sum())),
            ]
        )
        report.notes = {"alarm threshold": alarm, "uncertain band from": u.triager.thresholds.band}
    return report


def _predicted(rows: object, targets: list[str], folds: int) -> Report:
    classes, probs = cross_validated(rows, targets, folds=folds)
    got = [classes[i] for i in np.argmax(probs, axis=1)]
    return _report(targets, got)


def _entries(u: Understander, folds: int) -> Report:
    entries = u.kb.active()
    pairs = [(e.id, p, n) for e in entries for n, p in enumerate(e.alternatives)]
    wanted: list[str] = []
    got: list[str] = []
    for fold in range(folds):
        held = [(eid, p) for n, (eid, p, _) in enumerate(pairs) if n % folds == fold]
        held_texts = {(eid, p) for eid, p in held}
        trimmed = [
            replace(e, alternatives=tuple(a for a in e.alternatives if (e.id, a) not in held_texts))
            for e in entries
        ]
        index = SearchIndex(trimmed, u.synonyms, embedder=u.index.embedder, vectors=u.featurizer._vectors)
        for eid, text in held:
            hits = index.search(text, limit=1)
            wanted.append(eid)
            got.append(hits[0].entry.id if hits else "(nothing)")
    return _report(wanted, got)


@dataclass(frozen=True, slots=True)
class Labelled:
    text: str
    expect: str
    target: str = ""  # entry id (faq) or service code (report)
    near_miss: bool = False


def read_labelled(path: Path) -> list[Labelled]:
    """A labelled set; a bad line is refused with its line number."""
    items = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                items.append(
                    Labelled(
                        str(raw["text"]),
                        str(raw["expect"]),
                        str(raw.get("id") or raw.get("service") or ""),
                        bool(raw.get("near_miss", False)),
                    )
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: not a labelled line ({exc})") from None
    return items


def is_correct(item: Labelled, u: Understanding) -> bool:
    if item.expect == "faq":
        return u.intent == "faq" and u.entry is not None and u.entry.id == item.target
    if item.expect == "report":
        return u.intent == "report" and u.service is not None and u.service.code == item.target
    if item.expect == "fallback":
        return u.intent in ("fallback", "human")
    return u.intent == item.expect


def score_set(u: Understander, items: Iterable[Labelled]) -> Report:
    wanted: list[str] = []
    got: list[str] = []
    alarms = non_emergencies = 0
    for item in items:
        result = u.understand(item.text)
        wanted.append(item.expect)
        got.append(item.expect if is_correct(item, result) else _said(result))
        if item.expect != "emergency":
            non_emergencies += 1
            alarms += result.intent == "emergency"
    report = _report(wanted, got)
    report.notes = {"false alarms": alarms / non_emergencies if non_emergencies else 0.0}
    return report


def _said(u: Understanding) -> str:
    if u.intent == "faq" and u.entry is not None:
        return f"faq:{u.entry.id}"
    if u.intent == "report" and u.service is not None:
        return f"report:{u.service.code}"
    return u.intent
