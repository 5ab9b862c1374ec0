"""Retraining after an edit starts from the models of the revision before: what the edit
did not touch is kept, what it touched is learned, and enough change refits everything."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from knowledge.learned import DRIFT_SHARE, MIN_DRIFT, Learned, train
from knowledge.model import KnowledgeBase
from knowledge.training import TrainingData
from knowledge.understand import Understander

NEW_REPORT = "the hydrant in front of the laundromat is weeping onto the pavement"


def _with_alternative(u: Understander, text: str) -> KnowledgeBase:
    first, *rest = u.kb.entries
    return KnowledgeBase((replace(first, alternatives=(*first.alternatives, text)), *rest), u.kb.synonyms)


def _with_reports(training: TrainingData, code: str, texts: list[str]) -> TrainingData:
    services = dict(training.services)
    services[code] = (*services[code], *texts)
    return replace(training, services=services)


def _retrained(u: Understander, kb: KnowledgeBase, training: TrainingData, previous: Learned) -> Understander:
    return Understander(kb, u.catalogue, training=training, previous=previous)


def test_an_faq_edit_keeps_the_service_and_kind_models_and_the_thresholds(
    sample_words_only: Understander,
) -> None:
    u = sample_words_only
    before = u.learned
    edited = _with_alternative(u, "what time do the 311 folks clock out")
    after = _retrained(u, edited, u.training, before).learned
    assert after.services is before.services and after.kinds is before.kinds
    assert after.thresholds == before.thresholds
    assert after.intents is not before.intents and after.triage is not before.triage
    assert after.char_idf is before.char_idf and after.drift == 1


def test_a_new_report_example_is_learned(sample_words_only: Understander) -> None:
    u = sample_words_only
    training = _with_reports(u.training, "water-leak", [NEW_REPORT])
    after = _retrained(u, u.kb, training, u.learned)
    assert after.learned.services is not u.learned.services
    assert after.match_services(NEW_REPORT)[0].service.code == "water-leak"
    assert after.learned.kinds is u.learned.kinds  # no emergency example changed


def test_an_emergency_example_chooses_the_thresholds_again(sample_words_only: Understander) -> None:
    u = sample_words_only
    emergencies = dict(u.training.emergencies)
    emergencies["gas"] = (*emergencies["gas"], "the whole stairwell reeks of rotten eggs and my eyes sting")
    after = _retrained(u, u.kb, replace(u.training, emergencies=emergencies), u.learned).learned
    assert after.kinds is not u.learned.kinds
    assert after.keys["thresholds"] != u.learned.keys["thresholds"]


def test_changes_past_the_drift_allowance_refit_the_features(sample_words_only: Understander) -> None:
    u = sample_words_only
    allowance = max(MIN_DRIFT, int(DRIFT_SHARE * u.learned.fitted_on))
    texts = [f"pipe number {i} under the sidewalk is dripping" for i in range(allowance + 1)]
    after = _retrained(u, u.kb, _with_reports(u.training, "water-leak", texts), u.learned).learned
    assert after.drift == 0 and after.keys["features"] != u.learned.keys["features"]
    assert not np.array_equal(after.char_idf, u.learned.char_idf)


def test_small_edits_add_up_until_the_features_are_refitted(sample_words_only: Understander) -> None:
    u = sample_words_only
    allowance = max(MIN_DRIFT, int(DRIFT_SHARE * u.learned.fitted_on))
    half = allowance // 2 + 1
    first = _with_reports(u.training, "water-leak", [f"leak {i} by the curb" for i in range(half)])
    once = _retrained(u, u.kb, first, u.learned)
    assert once.learned.drift == half and once.learned.char_idf is u.learned.char_idf
    second = _with_reports(first, "pothole", [f"hole {i} in the lane" for i in range(half)])
    twice = _retrained(u, u.kb, second, once.learned)
    assert twice.learned.drift == 0  # 2 x half > allowance: fitted afresh


def test_what_retraining_needs_is_stored_with_the_models(sample_words_only: Understander) -> None:
    learned = sample_words_only.learned
    loaded = Learned.from_bytes(learned.to_bytes())
    assert loaded is not None and loaded.seen is not None and learned.seen is not None
    assert np.array_equal(loaded.seen, learned.seen) and loaded.keys == learned.keys
    assert loaded.drift == learned.drift and loaded.fitted_on == learned.fitted_on > 0
    # Stored models serve as the starting point in another process: nothing changed, nothing refitted.
    services = {s.code for s in sample_words_only.catalogue.services if s.active}
    again = train(sample_words_only.examples, None, services=services, previous=loaded)
    assert again.keys == learned.keys and again.thresholds == learned.thresholds


def test_models_of_another_sentence_model_are_not_started_from(
    sample: Understander, sample_words_only: Understander
) -> None:
    u = sample_words_only
    after = _retrained(u, u.kb, u.training, sample.learned).learned
    assert after.keys["sentence model"] == "no-embeddings"
    assert after.intents is not sample.learned.intents
    assert after.char_idf.shape == u.learned.char_idf.shape


def test_answering_a_long_message_adds_nothing_to_the_shared_vector_cache(sample) -> None:  # type: ignore[no-untyped-def]
    """Sentences of residents' messages are encoded to judge them, not kept: a server's
    cache of example vectors must not grow with every message it answers."""
    vectors = sample.featurizer._vectors
    before = len(vectors)
    sample.understand(
        "We moved in last spring and love the street. The neighbours are kind."
        " Today the park fountain is broken again."
    )
    assert len(vectors) == before
