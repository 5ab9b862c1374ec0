"""Training the assistant's models from labelled examples, and storing them as arrays.

One call trains everything understanding needs (features, intent, service,
emergency and emergency-kind models, and triage thresholds chosen by
cross-validation). The result is keyed by a digest of the examples and the
sentence model, so a process that finds it stored (in the database) loads it
instead of training again: retraining happens once per content change, not
once per process.

Retraining after an edit starts from the previous models: while few examples
have changed since the features were fitted (DRIFT_SHARE), the features keep
their IDF weights, so every model whose own examples did not change (a FAQ edit
leaves the service and emergency-kind models alone) is kept as it is, and the
triage thresholds stay unless emergency examples changed. Past that share,
everything is fitted afresh.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from knowledge.classifier import Featurizer, LinearModel
from knowledge.embeddings import Embedder, text_key
from knowledge.training import EMERGENCY, FAQ, NOT_EMERGENCY, PAST_OR_NEGATED, REPORT
from knowledge.triage import OTHER, PAST, Thresholds, choose_thresholds
from knowledge.vectors import VectorStore

FORMAT = 4  # bump when features or models change shape: stored models are then retrained
MAX_PER_LABEL = 4000  # examples per intent the intent model learns from
MAX_ORDINARY = 20_000  # ordinary messages triage learns from: all of the sample's (they teach precision)
NOVELTY_QUANTILE = 0.01  # this share of examples is further from all the others than "novel" is
NOVELTY_SAMPLE = 1500
MAX_NEIGHBOURS = 20_000  # examples a message is compared with for novelty
DRIFT_SHARE = 0.01  # examples that may change, in all, before the features are fitted afresh
MIN_DRIFT = 50  # ... and at least this many, for small bases
MODELS = ("intents", "services", "triage", "kinds")


@dataclass(frozen=True, slots=True)
class Learned:
    char_idf: np.ndarray
    word_idf: np.ndarray
    intents: LinearModel | None
    services: LinearModel | None
    triage: LinearModel | None
    kinds: LinearModel | None
    thresholds: Thresholds
    novelty: float = 0.0  # a message less similar than this to every example is unlike anything known
    seen: np.ndarray | None = None  # hashes of the examples trained on (sorted), to measure an edit
    drift: int = 0  # examples changed since the features were fitted
    fitted_on: int = 0  # examples there were when the features were fitted
    keys: dict[str, str] = field(default_factory=dict)  # per model, a digest of what it was fitted on

    def featurizer(
        self, embedder: Embedder | None, vectors: MutableMapping[str, np.ndarray] | None = None
    ) -> Featurizer:
        return Featurizer(self.char_idf, self.word_idf, embedder, vectors)

    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {"char_idf": self.char_idf, "word_idf": self.word_idf}
        meta: dict[str, object] = {
            "format": FORMAT,
            "thresholds": [self.thresholds.alarm, self.thresholds.band],
            "novelty": self.novelty,
            "drift": self.drift,
            "fitted_on": self.fitted_on,
            "keys": self.keys,
        }
        if self.seen is not None:
            arrays["seen"] = self.seen
        for name in MODELS:
            model: LinearModel | None = getattr(self, name)
            if model is not None:
                arrays[f"{name}.coef"] = model.coef
                arrays[f"{name}.intercept"] = model.intercept
                meta[name] = list(model.classes)
        buffer = io.BytesIO()
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> Learned | None:
        """The stored models, or None when they are of another format (then: retrain)."""
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            if meta.get("format") != FORMAT:
                return None

            def model(name: str) -> LinearModel | None:
                if name not in meta:
                    return None
                return LinearModel(tuple(meta[name]), data[f"{name}.coef"], data[f"{name}.intercept"])

            alarm, band = meta["thresholds"]
            return cls(
                data["char_idf"],
                data["word_idf"],
                model("intents"),
                model("services"),
                model("triage"),
                model("kinds"),
                Thresholds(float(alarm), float(band)),
                float(meta.get("novelty", 0.0)),
                data.get("seen"),
                int(meta.get("drift", 0)),
                int(meta.get("fitted_on", 0)),
                dict(meta.get("keys", {})),
            )


def digest(examples: Sequence[tuple[str, str]], embedder: Embedder | None) -> str:
    h = hashlib.sha256(f"{FORMAT}\n{embedder.model_id if embedder else 'no-embeddings'}\n".encode())
    for label, text in examples:
        h.update(f"{label}\t{text}\n".encode())
    return h.hexdigest()


def intent_label(label: str) -> str | None:
    """Examples' labels as the intent model sees them; emergencies belong to triage."""
    if label.startswith(FAQ):
        return "faq"
    if label.startswith(REPORT):
        return "report"
    if label.startswith(EMERGENCY) or label in (PAST_OR_NEGATED, NOT_EMERGENCY):
        return None
    return label


def triage_label(label: str) -> str:
    if label.startswith(EMERGENCY):
        return "emergency"
    return PAST if label == PAST_OR_NEGATED else OTHER


def example_hashes(examples: Sequence[tuple[str, str]]) -> np.ndarray:
    """One 64-bit hash per (label, text), to tell which examples an edit changed."""
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(f"{label}\t{text}".encode(), digest_size=8).digest(), "little")
            for label, text in examples
        ],
        dtype=np.uint64,
    )


def _key(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.tobytes() if isinstance(part, np.ndarray) else repr(part).encode())
    return h.hexdigest()


def _start_from(
    previous: Learned | None, seen: np.ndarray, sentence_model: str
) -> tuple[Learned | None, int]:
    """The models to start from (None: fit everything afresh) and the drift they then carry."""
    if previous is None or previous.seen is None or previous.keys.get("sentence model") != sentence_model:
        return None, 0
    drift = previous.drift + int(np.setxor1d(seen, previous.seen, assume_unique=True).size)
    if drift > max(MIN_DRIFT, DRIFT_SHARE * previous.fitted_on):
        return None, 0
    return previous, drift


def train(
    examples: Sequence[tuple[str, str]],
    embedder: Embedder | None,
    vectors: MutableMapping[str, np.ndarray] | None = None,
    *,
    services: set[str] | None = None,
    previous: Learned | None = None,
) -> Learned:
    """The models for `examples`; given the `previous` models (an earlier revision's), only
    what the change touches is fitted again (see the module's docstring)."""
    texts = [t for _, t in examples]
    labels = [label for label, _ in examples]
    hashes = example_hashes(examples)
    seen = np.unique(hashes)
    sentence_model = embedder.model_id if embedder else "no-embeddings"
    previous, drift = _start_from(previous, seen, sentence_model)
    if previous is not None:
        featurizer = previous.featurizer(embedder, vectors)
        rows = featurizer.transform(texts)
        features, fitted_on = previous.keys["features"], previous.fitted_on
    else:
        featurizer, rows = Featurizer.fit(texts, embedder, vectors)
        features, fitted_on = _key(featurizer.char_idf, featurizer.word_idf, sentence_model), len(seen)
    keys = {"sentence model": sentence_model, "features": features}

    def fit(name: str, indices: list[int], targets: list[str]) -> LinearModel | None:
        keys[name] = _key(features, hashes[indices], targets)
        if previous is not None and previous.keys.get(name) == keys[name]:
            kept: LinearModel | None = getattr(previous, name)
            return kept
        return LinearModel.fit(rows[indices], targets) if len(set(targets)) > 1 else None

    intents = cap([intent_label(x) for x in labels], MAX_PER_LABEL)
    reports = [
        i
        for i, x in enumerate(labels)
        if x.startswith(REPORT) and (services is None or x[len(REPORT) :] in services)
    ]
    coarse = [triage_label(x) for x in labels]
    triage_rows = cap(coarse, MAX_ORDINARY)
    emergencies = [i for i, x in enumerate(labels) if x.startswith(EMERGENCY)]
    triage_targets = [coarse[i] for i in triage_rows]
    triage_model = fit("triage", triage_rows, triage_targets)
    # Thresholds are chosen by cross-validation (five more fits); an edit of ordinary
    # examples within the drift allowance keeps them, a change to emergencies does not.
    alarming = [i for i in triage_rows if coarse[i] != OTHER]
    keys["thresholds"] = _key(features, hashes[alarming], [coarse[i] for i in alarming])
    if triage_model is None:
        thresholds = Thresholds(0.5, 0.05)
    elif previous is not None and previous.keys.get("thresholds") == keys["thresholds"]:
        thresholds = previous.thresholds
    else:
        thresholds = choose_thresholds(rows[triage_rows], triage_targets)
    return Learned(
        featurizer.char_idf,
        featurizer.word_idf,
        fit("intents", intents, [str(intent_label(labels[i])) for i in intents]),
        fit("services", reports, [labels[i][len(REPORT) :] for i in reports]),
        triage_model,
        fit("kinds", emergencies, [labels[i][len(EMERGENCY) :] for i in emergencies]),
        thresholds,
        novelty_threshold(neighbours(texts, vectors)) if embedder and vectors is not None else 0.0,
        seen,
        drift,
        fitted_on,
        keys,
    )


def neighbours(texts: Sequence[str], vectors: MutableMapping[str, np.ndarray]) -> np.ndarray:
    """The example vectors a message's novelty is measured against (an even sample of at
    most MAX_NEIGHBOURS, so a huge base keeps the per-message cost bounded)."""
    keys = [k for k in (text_key(t) for t in dict.fromkeys(texts)) if k in vectors]
    if len(keys) > MAX_NEIGHBOURS:
        keys = [keys[int(i)] for i in np.linspace(0, len(keys) - 1, MAX_NEIGHBOURS)]
    if not keys:
        return np.zeros((0, 384), dtype=np.float32)
    if isinstance(vectors, VectorStore):
        return vectors.first(keys)  # a view of the store, not a second copy of the vectors
    return np.vstack([vectors[k] for k in keys]).astype(np.float32)


def novelty_threshold(matrix: np.ndarray) -> float:
    """The similarity to its nearest other example below which only NOVELTY_QUANTILE of the
    examples fall: a message further from everything than that is out of what we know."""
    if len(matrix) < 20:
        return 0.0
    sample = np.random.default_rng(0).choice(len(matrix), min(NOVELTY_SAMPLE, len(matrix)), replace=False)
    similarities = matrix[sample] @ matrix.T
    similarities[np.arange(len(sample)), sample] = -1.0
    return round(float(np.quantile(similarities.max(axis=1), NOVELTY_QUANTILE)), 4)


def cap(labels: Sequence[str | None], limit: int) -> list[int]:
    """Indices of the labelled examples, at most `limit` per label, spread evenly."""
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        if label is not None:
            by_label.setdefault(label, []).append(i)
    picked: list[int] = []
    for indices in by_label.values():
        if len(indices) <= limit:
            picked.extend(indices)
        else:
            picked.extend(indices[int(i)] for i in np.linspace(0, len(indices) - 1, limit))
    return sorted(picked)
