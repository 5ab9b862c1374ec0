"""Turning what residents type into search terms.

Steps: fold case and accents; rewrite synonyms (including multi-word ones)
to one canonical term; split; drop stop words; stem. The same function runs
over entries and messages, so "rubbish collection" meets "garbage pickup".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import snowballstemmer

_stemmer = snowballstemmer.stemmer("english")

STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "so",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "into",
        "onto",
        "about",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "doing",
        "have",
        "has",
        "had",
        "having",
        "i",
        "me",
        "my",
        "mine",
        "we",
        "our",
        "us",
        "you",
        "your",
        "yours",
        "he",
        "him",
        "his",
        "she",
        "her",
        "it",
        "its",
        "they",
        "them",
        "their",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "can",
        "could",
        "would",
        "should",
        "shall",
        "will",
        "may",
        "might",
        "must",
        "just",
        "also",
        "too",
        "very",
        "really",
        "please",
        "thanks",
        "thank",
        "hi",
        "hello",
        "hey",
        "okay",
        "ok",
        "yes",
        "no",
        "not",
        "any",
        "some",
        "all",
        "anything",
        "something",
        "want",
        "wanted",
        "need",
        "needed",
        "know",
        "get",
        "got",
        "like",
        "would",
        "im",
        "ive",
        "id",
        "dont",
        "cant",
        "wont",
        "whats",
        "theres",
        "thats",
        "one",
        "ones",
        "way",
        "thing",
        "things",
        "lot",
        "bit",
        "guys",
    ]
)

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def fold(text: str) -> str:
    if not text.isascii():  # most texts are: nothing to decompose (a tenth of start-up, before)
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.lower()
    text = text.replace("\u2019", "'").replace("&", " and ")
    return text


def words(text: str) -> list[str]:
    """Lower-case word tokens, apostrophes dropped ("don't" -> "dont")."""
    return [w.replace("'", "") for w in _TOKEN.findall(fold(text))]


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return str(_stemmer.stemWord(word))


class Synonyms:
    """Groups of equivalent words and phrases; the first of each group is canonical."""

    def __init__(self, groups: Iterable[Iterable[str]] = ()) -> None:
        self.groups: tuple[tuple[str, ...], ...] = tuple(
            tuple(" ".join(words(t)) for t in g if words(t)) for g in groups
        )
        single: dict[str, str] = {}
        phrases: dict[tuple[str, ...], str] = {}
        for group in self.groups:
            if not group:
                continue
            canonical = group[0].replace(" ", "_")
            for term in group:
                parts = tuple(term.split())
                if len(parts) == 1:
                    single.setdefault(stem(parts[0]), canonical)
                else:
                    phrases.setdefault(tuple(stem(p) for p in parts), canonical)
        self._single = single
        self._phrases = phrases
        self._starts = {p[0] for p in phrases}  # most words start no phrase: one set lookup
        self._longest = max((len(p) for p in phrases), default=1)

    def rewrite(self, stems: list[str]) -> list[str]:
        out: list[str] = []
        i = 0
        while i < len(stems):
            longest = min(self._longest, len(stems) - i) if stems[i] in self._starts else 1
            for size in range(longest, 1, -1):
                canonical = self._phrases.get(tuple(stems[i : i + size]))
                if canonical:
                    out.append(canonical)
                    i += size
                    break
            else:
                out.append(self._single.get(stems[i], stems[i]))
                i += 1
        return out


def terms(text: str, synonyms: Synonyms | None = None, *, keep_stop: bool = False) -> list[str]:
    """The search terms of a text, in order."""
    stems = [stem(w) for w in words(text)]
    if synonyms is not None:
        stems = synonyms.rewrite(stems)
    if keep_stop:
        return stems
    return [t for t in stems if t not in _STOP_STEMS]


_STOP_STEMS = frozenset(stem(w) for w in STOP_WORDS)
