"""Correcting misspelt words to the knowledge base's own vocabulary.

rapidfuzz finds the closest known word; a general English word list guards
real words from being "corrected" (fight -> light), so only words that are
neither ours nor English are changed.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Iterable
from functools import lru_cache

from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein


class _Words:
    """A fixed set of words, sorted in one block of bytes: 2 MB where a frozenset of the
    160,000 English words takes 18 MB. Looking one up is a binary search (microseconds),
    done once per unknown word and remembered by the speller."""

    def __init__(self, words: Iterable[str]) -> None:
        encoded = sorted({w.encode() for w in words})
        self._blob = b"".join(encoded)
        self._ends = array("I", itertools.accumulate(len(w) for w in encoded))

    def __len__(self) -> int:
        return len(self._ends)

    def _word(self, i: int) -> bytes:
        return self._blob[self._ends[i - 1] if i else 0 : self._ends[i]]

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str):
            return False
        key = word.encode()
        low, high = 0, len(self._ends)
        while low < high:
            middle = (low + high) // 2
            if self._word(middle) < key:
                low = middle + 1
            else:
                high = middle
        return low < len(self._ends) and self._word(low) == key


@lru_cache(maxsize=1)
def _english() -> _Words:
    try:
        from spellchecker import SpellChecker
    except ImportError:  # the guard is a refinement; without it only our vocabulary counts
        return _Words(())
    return _Words(SpellChecker().word_frequency.keys())


class Speller:
    def __init__(self, vocabulary: Iterable[str]) -> None:
        self.vocabulary = frozenset(w for w in vocabulary if len(w) >= 3 and w.isalpha())
        self._choices = sorted(self.vocabulary)
        self._cache: dict[str, str] = {}
        # Read now, with the index being built, rather than at the first misspelt word: the
        # word list is parsed from a 30 MB dict that is then dropped, and a process that
        # serves returns such memory once its build is done, not after every message.
        _english()

    def correct(self, word: str) -> str:
        if len(word) < 4 or not word.isalpha() or word in self.vocabulary:
            return word
        if word in self._cache:
            return self._cache[word]
        fixed = word
        if word not in _english() or len(word) >= 12:
            fixed = self._closest(word) or word
        if len(self._cache) < 100_000:
            self._cache[word] = fixed
        return fixed

    def _closest(self, word: str) -> str | None:
        limit = 1 if len(word) <= 5 else 2
        candidates = process.extract(word, self._choices, scorer=fuzz.ratio, score_cutoff=70, limit=5)
        best: tuple[int, float, str] | None = None
        for candidate, score, _ in candidates:
            distance = DamerauLevenshtein.distance(word, candidate)
            if distance <= limit and (best is None or (distance, -score) < (best[0], -best[1])):
                best = (distance, score, candidate)
        return best[2] if best else None
