"""The sample city's understander, trained once per test session (with and without the
sentence model), for tests that need no database."""

from __future__ import annotations

import pytest

from bot.kb_store import _VECTOR_MEMO
from knowledge.embeddings import load_default
from knowledge.loader import load_sample
from knowledge.understand import Understander


def _build(with_model: bool) -> Understander:
    sample = load_sample()
    assert sample.knowledge is not None
    return Understander(
        sample.knowledge,
        sample.catalogue,
        training=sample.training,
        embedder=load_default() if with_model else None,
        vectors=_VECTOR_MEMO,  # shared with the database fixtures: each text is embedded once
    )


@pytest.fixture(scope="session")
def sample() -> Understander:
    return _build(with_model=True)


@pytest.fixture(scope="session")
def sample_words_only() -> Understander:
    return _build(with_model=False)
