"""Linear classifiers over resident messages, trained from labelled examples.

Features are the message's sentence vector (MiniLM, when the model is there)
beside hashed character n-grams (robust to typos and texting style) and word
n-grams, weighted by TF-IDF fitted on the examples. A one-vs-rest logistic
model over them, fitted by averaged stochastic gradient descent (seconds for
thousands of examples, where lbfgs takes a minute), gives probabilities good
enough for three zones. Without the sentence model the n-grams carry it alone.

A trained model is plain arrays (`LinearModel`, the featurizer's IDF weights),
so it can be stored beside the content it was trained on and loaded in
milliseconds by every other process, with no pickles.
"""

from __future__ import annotations

import functools
import itertools
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from knowledge.embeddings import Embedder, text_key
from knowledge.text import fold

# The sentence vector's share against the n-grams (unit length each), and the L2 strength:
# chosen by 3-fold cross-validation over the sample city's examples
# (`python benchmarks/feature_weights.py`). At 0.5 and 1e-5: intents 0.940, services
# 0.971, 911 recall 0.960 at 2% false alarms; at the earlier hand-set 2.0 and 2e-5:
# 0.926, 0.950 and 0.920. A weaker dense share lets the n-grams carry what they know.
DENSE_WEIGHT = 0.5
WORD_WEIGHT = 0.7
ALPHA = 1e-5
EPOCHS = 12
CHAR_FEATURES = 1 << 16
WORD_FEATURES = 1 << 15
HASHED_MEMO = 65_536  # texts whose hashed n-grams are kept (two arrays of ~100 numbers each)
_DIGITS = re.compile(r"\d{4,}")
_TOKEN = re.compile(r"\w+")


def _char_grams(text: str) -> Iterator[str]:
    """Character 2- to 5-grams inside each word padded with spaces, as "char_wb" does."""
    for word in text.split():
        padded = f" {word} "
        for n in range(2, 6):
            for i in range(len(padded) - n + 1):
                yield padded[i : i + n]
            if len(padded) <= n:
                break


def _word_grams(text: str) -> Iterator[str]:
    tokens = _TOKEN.findall(text)
    yield from tokens
    yield from (f"{a} {b}" for a, b in itertools.pairwise(tokens))


@functools.lru_cache(maxsize=HASHED_MEMO)
def _hashed_row(text: str, grams: Callable[[str], Iterator[str]], size: int) -> tuple[np.ndarray, np.ndarray]:
    """One text's hashed n-gram counts (indices, counts). Memoised: retraining after one
    edit hashes that one text again, not the ten thousand that did not change."""
    counts = Counter(zlib.crc32(g.encode()) & (size - 1) for g in grams(text))
    n = len(counts)
    return np.fromiter(counts.keys(), np.int32, n), np.fromiter(counts.values(), np.float32, n)


def _hashed(
    texts: Sequence[str], grams: Callable[[str], Iterator[str]], size: int, *, remember: bool = True
) -> sparse.csr_matrix:
    """Counts of hashed n-grams, one row per text (the hashing trick: no vocabulary to
    keep, and sklearn is needed only to train, not to answer). Residents' messages are
    not memoised (`remember=False`): a server would keep every distinct one it was sent."""
    hashed = _hashed_row if remember else _hashed_row.__wrapped__
    rows = [hashed(text, grams, size) for text in texts]
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(indices) for indices, _ in rows], out=indptr[1:])
    empty = np.zeros(0, dtype=np.int32)
    return sparse.csr_matrix(
        (
            np.concatenate([values for _, values in rows] or [empty.astype(np.float32)]),
            np.concatenate([indices for indices, _ in rows] or [empty]),
            indptr,
        ),
        shape=(len(texts), size),
    )


def _normalise(text: str) -> str:
    """Digits stand for any digits: "10234" and "88102" are the same kind of thing."""
    return _DIGITS.sub(lambda m: "0" * min(len(m.group()), 7), fold(text))


def _idf(counts: sparse.csr_matrix) -> np.ndarray:
    """Smoothed inverse document frequency, as scikit-learn computes it."""
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    idf: np.ndarray = (np.log((1 + counts.shape[0]) / (1 + df)) + 1).astype(np.float32)
    return idf


def _weigh(counts: sparse.csr_matrix, idf: np.ndarray) -> sparse.csr_matrix:
    """Sublinear TF times IDF, each row scaled to unit length (as TfidfTransformer does)."""
    data = (1.0 + np.log(counts.data.astype(np.float32))) * idf[counts.indices]
    lengths = np.diff(counts.indptr)
    row_of = np.repeat(np.arange(len(lengths)), lengths)
    norms = np.sqrt(np.bincount(row_of, weights=data * data, minlength=len(lengths)))
    data = data / np.maximum(norms, 1e-9)[row_of].astype(np.float32)
    return sparse.csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape)


def _counts(texts: Sequence[str], *, remember: bool = True) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    normalised = [_normalise(t) for t in texts]
    return (
        _hashed(normalised, _char_grams, CHAR_FEATURES, remember=remember),
        _hashed(normalised, _word_grams, WORD_FEATURES, remember=remember),
    )


class Featurizer:
    """Turns texts into one sparse row each; its state is two IDF vectors."""

    def __init__(
        self,
        char_idf: np.ndarray,
        word_idf: np.ndarray,
        embedder: Embedder | None = None,
        vectors: MutableMapping[str, np.ndarray] | None = None,
    ) -> None:
        self.char_idf, self.word_idf = char_idf, word_idf
        self.embedder = embedder
        self._vectors = vectors if vectors is not None else {}

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        embedder: Embedder | None = None,
        vectors: MutableMapping[str, np.ndarray] | None = None,
    ) -> tuple[Featurizer, sparse.csr_matrix]:
        """The featurizer fitted on `texts`, and their rows (hashed once)."""
        chars, words = _counts(texts)
        featurizer = cls(_idf(chars), _idf(words), embedder, vectors)
        return featurizer, featurizer._rows(texts, chars, words)

    def transform(self, texts: Sequence[str], *, remember: bool = True) -> sparse.csr_matrix:
        """Rows for `texts`. Training remembers new vectors in the shared cache (they are
        stored with the content); answering a message does not (`remember=False`), or a
        long-running server's cache would grow with every sentence residents send."""
        return self._rows(texts, *_counts(texts, remember=remember), remember=remember)

    def _rows(
        self,
        texts: Sequence[str],
        chars: sparse.csr_matrix,
        words: sparse.csr_matrix,
        *,
        remember: bool = True,
    ) -> sparse.csr_matrix:
        parts = [_weigh(chars, self.char_idf), _weigh(words, self.word_idf) * WORD_WEIGHT]
        if self.embedder is not None:
            parts.append(sparse.csr_matrix(self._dense(texts, remember) * DENSE_WEIGHT))
        return sparse.hstack(parts, format="csr", dtype=np.float32)

    def _dense(self, texts: Sequence[str], remember: bool) -> np.ndarray:
        assert self.embedder is not None
        if len(texts) == 1:
            return self.embedder.encode_one(texts[0])[None, :]
        keys = [text_key(t) for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in self._vectors))
        fresh = (
            dict(zip(map(text_key, missing), self.embedder.encode(missing), strict=True)) if missing else {}
        )
        if remember:
            self._vectors.update(fresh)
        return np.vstack([fresh[k] if k in fresh else self._vectors[k] for k in keys]).astype(np.float32)


@dataclass(frozen=True)
class LinearModel:
    """One-vs-rest logistic regression as arrays: one row of weights per class (one row
    in all for two classes, for the second)."""

    classes: tuple[str, ...]
    coef: np.ndarray
    intercept: np.ndarray

    def __post_init__(self) -> None:
        # Kept in the layout answering reads (features x classes, contiguous) and shown as
        # its transpose: multiplying by a transposed view would copy the whole matrix on
        # every message, and keeping both layouts would hold every model twice.
        object.__setattr__(self, "coef", np.ascontiguousarray(np.asarray(self.coef).T).T)

    def proba(self, rows: sparse.csr_matrix) -> np.ndarray:
        from scipy.special import expit

        scores = np.asarray(rows @ self._weights) + self.intercept
        if len(self.classes) == 2:
            positive = expit(scores[:, 0])
            return np.column_stack([1 - positive, positive])
        probs = expit(scores)
        normalised: np.ndarray = probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)
        return normalised

    @property
    def _weights(self) -> np.ndarray:
        """The weights as one contiguous (features x classes) block: a view, no copy."""
        weights: np.ndarray = self.coef.T
        return weights

    @classmethod
    def fit(cls, rows: sparse.csr_matrix, labels: Sequence[str]) -> LinearModel:
        from sklearn.linear_model import SGDClassifier  # training only: answering needs no sklearn

        y = np.asarray(labels)
        # Square-root balancing: small classes (goodbyes) are not drowned by big ones
        # (questions), without letting a handful of examples dominate either.
        counts = Counter(labels)
        mean = len(labels) / len(counts)
        weights = np.array([np.sqrt(mean / counts[label]) for label in labels])
        model = SGDClassifier(
            loss="log_loss", alpha=ALPHA, max_iter=EPOCHS, tol=None, average=True, random_state=0, n_jobs=2
        )
        model.fit(rows, y, sample_weight=weights)
        return cls(
            tuple(str(c) for c in model.classes_),
            np.asarray(model.coef_, dtype=np.float32),
            np.asarray(model.intercept_, dtype=np.float32),
        )


@dataclass(frozen=True, slots=True)
class Prediction:
    label: str
    probability: float
    ranked: tuple[tuple[str, float], ...]  # best first


class LinearClassifier:
    """A model with the featurizer it was trained on."""

    def __init__(self, featurizer: Featurizer, model: LinearModel) -> None:
        self.featurizer = featurizer
        self.model = model
        self.labels = model.classes

    def predict(self, text: str, rows: sparse.csr_matrix | None = None) -> Prediction:
        probs = self.model.proba(rows if rows is not None else self.featurizer.transform([text]))[0]
        order = np.argsort(-probs)
        ranked = tuple((self.labels[i], round(float(probs[i]), 4)) for i in order)
        return Prediction(ranked[0][0], ranked[0][1], ranked)


def cross_validated(
    rows: sparse.csr_matrix, labels: Sequence[str], *, folds: int = 5, seed: int = 0
) -> tuple[tuple[str, ...], np.ndarray]:
    """Out-of-fold probabilities for every example (classes, matrix): what thresholds and
    `kb check` are chosen and measured on, never the examples a model was trained on."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels)
    classes = tuple(sorted(set(labels)))
    out = np.zeros((len(labels), len(classes)))
    counts = Counter(labels)
    usable = min(folds, min(counts.values())) if counts else 0
    if usable < 2 or len(classes) < 2:
        return classes, out
    for train, test in StratifiedKFold(usable, shuffle=True, random_state=seed).split(rows, y):
        model = LinearModel.fit(rows[train], list(y[train]))
        index = [classes.index(c) for c in model.classes]
        out[np.ix_(test, index)] = model.proba(rows[test])
    return classes, out
