"""The sample city's understander, built once per test session (with and without the
sentence model), for tests that need no database."""

from __future__ import annotations

import asyncio

import pytest

from bot.content.kb_store import _LEARNED_MEMO, _VECTOR_MEMO
from knowledge.embeddings import load_default
from knowledge.learned import digest
from knowledge.loader import load_sample
from knowledge.training import examples
from knowledge.understand import Understander
from tests.conftest import _prepared_template


def _build(with_model: bool) -> Understander:
    sample = load_sample()
    assert sample.knowledge is not None and sample.training is not None
    embedder = load_default() if with_model else None
    key = digest(examples(sample.training, sample.knowledge, sample.catalogue), embedder)
    return Understander(
        sample.knowledge,
        sample.catalogue,
        training=sample.training,
        embedder=embedder,
        vectors=_VECTOR_MEMO,  # shared with the database fixtures: each text is embedded once
        learned=_LEARNED_MEMO.get(key),  # the models the prepared database trained, if it did
    )


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Understander:
    # The prepared database (made once per run, shared by xdist workers) trains the same
    # models on the same examples: opening it fills this process's memos, so this costs
    # building an index rather than a second training.
    asyncio.run(_prepared_template("sqlite", tmp_path_factory.getbasetemp()))
    return _build(with_model=True)


@pytest.fixture(scope="session")
def sample_words_only() -> Understander:
    return _build(with_model=False)
