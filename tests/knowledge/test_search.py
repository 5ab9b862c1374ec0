"""Search over a small made-up base: synonyms, typos, and the confidence it reports."""

from __future__ import annotations

from knowledge.model import Entry
from knowledge.search import SearchIndex
from knowledge.text import Synonyms, terms

ENTRIES = [
    Entry(
        "trash-day",
        "When is my garbage picked up?",
        "The hauler collects bins weekly.",
        alternatives=("garbage collection day",),
    ),
    Entry(
        "pay-ticket",
        "How do I pay a parking ticket?",
        "Pay online or in person.",
        alternatives=("pay a parking fine",),
    ),
    Entry("library-card", "How do I get a library card?", "Free at any branch with ID."),
    Entry("inactive", "When is trash day on holidays?", "Shifted one day.", active=False),
]
SYN = Synonyms([["garbage", "trash", "rubbish", "refuse"], ["pickup", "picked up", "collection"]])


def test_synonyms_rewrite_words_and_phrases_to_one_term() -> None:
    assert terms("rubbish picked up", SYN) == terms("garbage pickup", SYN) == ["garbage", "pickup"]


def test_paraphrase_with_synonyms_finds_the_entry() -> None:
    index = SearchIndex(ENTRIES, SYN)
    hits = index.search("when does the trash collection come")
    assert hits[0].entry.id == "trash-day"


def test_misspelt_words_are_corrected_to_the_base_vocabulary() -> None:
    index = SearchIndex(ENTRIES, SYN)
    assert index.search("how to pay a parkng tikcet")[0].entry.id == "pay-ticket"
    assert index.speller.correct("fight") == "fight"  # a real word is not "corrected"


def test_inactive_entries_are_never_found() -> None:
    index = SearchIndex(ENTRIES, SYN)
    assert all(h.entry.id != "inactive" for h in index.search("trash day holidays"))


def test_confidence_is_high_for_a_close_question_and_low_for_an_unrelated_one() -> None:
    index = SearchIndex(ENTRIES, SYN)
    close = index.search("how do I get a library card")[0]
    assert close.score > 0.8
    unrelated = index.search("who won the game last night")
    assert not unrelated or unrelated[0].score < 0.4
    assert index.search("") == [] and index.search("?!") == []


def test_a_huge_base_scores_its_shortlist_exactly_and_never_overrates_the_rest(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Past EXACT_ROWS phrasings, entries are shortlisted by their mean phrasing. The best
    entry must be the exact one, and no entry may score above its best phrasing."""
    import knowledge.search as search
    from knowledge.embeddings import load_default

    embedder = load_default()
    if embedder is None:
        import pytest

        pytest.skip("needs the sentence model")
    entries = [
        Entry(
            f"e{i}",
            f"How do I renew permit number {i} for the {w}?",
            "At the office.",
            alternatives=(f"{w} permit {i}",),
        )
        for i, w in enumerate(["boat", "dog", "garage", "tree", "sign", "fence", "deck", "shed"] * 3)
    ] + ENTRIES[:3]
    vectors: dict[str, object] = {}
    exact = SearchIndex(entries, SYN, embedder=embedder, vectors=vectors)  # type: ignore[arg-type]
    monkeypatch.setattr(search, "EXACT_ROWS", 10)
    monkeypatch.setattr(search, "SHORTLIST", 3)
    shortlisted = SearchIndex(entries, SYN, embedder=embedder, vectors=vectors)  # type: ignore[arg-type]
    assert exact._semantic is not None and exact._semantic.means is None
    assert shortlisted._semantic is not None and shortlisted._semantic.means is not None
    for text in ["when is the garbage picked up", "pay my parking fine", "renew the dog permit"]:
        full = exact._semantic.similarities(text)
        quick = shortlisted._semantic.similarities(text)
        assert int(quick.argmax()) == int(full.argmax())
        assert (quick <= full + 1e-5).all()
        assert exact.search(text)[0].entry.id == shortlisted.search(text)[0].entry.id
