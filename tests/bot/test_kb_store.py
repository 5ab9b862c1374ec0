"""The knowledge base in the database: edits reach every process, vectors are kept."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select

from bot.bootstrap import prepare
from bot.content import catalogue_store, kb_store
from bot.hub import build_hub
from bot.messages import Incoming
from bot.models import PhrasingVector
from bot.settings import Settings
from knowledge.model import Entry, KnowledgeBase
from knowledge.training import examples
from tests.hubs import prepared_hub


async def ask(hub, text: str, mid: str) -> str:  # type: ignore[no-untyped-def]
    result = await hub.engine.handle(Incoming("console", "kb-test", mid, text=text))
    return result.replies[0].text


async def test_an_edit_in_one_process_is_answered_by_another_without_restart(settings: Settings) -> None:
    one, two = build_hub(settings), build_hub(settings)  # two servers sharing one database
    try:
        await prepare(one.db, auto_upgrade=True, knowledge=one.services.knowledge)
        await prepare(two.db, auto_upgrade=True, knowledge=two.services.knowledge)
        assert "24 hours" in await ask(two, "when is 311 open?", "m1")
        async with one.db.transaction() as session:
            kb = await kb_store.load(session)
            edited = [
                replace(e, answer="311 is closed for the holiday today.") if e.id == "311-hours" else e
                for e in kb.entries
            ]
            await kb_store.import_kb(session, KnowledgeBase(tuple(edited), kb.synonyms))
        assert "closed for the holiday" in await ask(two, "when is 311 open?", "m2")
    finally:
        await one.close()
        await two.close()


async def test_a_new_entry_and_synonym_are_found(hub) -> None:  # type: ignore[no-untyped-def]
    async with hub.db.transaction() as session:
        kb = await kb_store.load(session)
        entry = Entry("jury-duty-xyz", "How do I postpone jury duty?", "Call the **jury office**.")
        await kb_store.import_kb(
            session, KnowledgeBase((*kb.entries, entry), (*kb.synonyms, ("jury", "juror")))
        )
    assert "jury office" in await ask(hub, "can a juror postpone their jury duty", "j1")


async def test_phrasing_vectors_are_stored_once(hub) -> None:  # type: ignore[no-untyped-def]
    async with hub.db.reading() as session:
        stored = await session.scalar(select(func.count()).select_from(PhrasingVector))
        kb = await kb_store.load(session)
        training = await kb_store.load_training(session)
        catalogue = await catalogue_store.load(session)
    texts = {text for _, text in examples(training, kb, catalogue)}
    assert stored == len(texts)  # each text once, whatever uses it (search, classifiers)


async def test_the_assistant_works_without_the_language_model(settings: Settings) -> None:
    hub = build_hub(settings)
    hub.services.knowledge = kb_store.KnowledgeCache(embedder=lambda: None)
    try:
        await prepare(hub.db, auto_upgrade=True, knowledge=hub.services.knowledge)
        assert "24 hours" in await ask(hub, "when is 311 open?", "n1")
        assert "911" in await ask(hub, "my neighbour's house is on fire", "n2")
        assert hub.services.knowledge._understander.index.embedder is None  # type: ignore[union-attr]
    finally:
        await hub.close()


async def test_a_rebuild_in_a_read_only_session_writes_nothing(hub) -> None:  # type: ignore[no-untyped-def]
    async with hub.db.transaction() as session:
        kb = await kb_store.load(session)
        entry = Entry("jury-duty-ro", "How do I postpone jury duty?", "Call the **jury office**.")
        await kb_store.import_kb(session, KnowledgeBase((*kb.entries, entry), kb.synonyms))
        before = await session.scalar(select(func.count()).select_from(PhrasingVector))
    async with hub.db.reading() as session:  # e.g. an Open311 GET is the first to see the edit
        understander = await hub.services.knowledge.current(session)
        after = await session.scalar(select(func.count()).select_from(PhrasingVector))
    assert after == before
    assert understander.understand("How do I postpone jury duty?").hits[0].entry.id == "jury-duty-ro"


async def test_training_imported_by_the_command_line_is_seen_by_another_process(
    sqlite_prepared: str, tmp_path: Path
) -> None:
    import subprocess
    import sys

    from bot.settings import load_settings
    from knowledge.loader import SAMPLE_DIR, TRAINING_FILE, dump_training, load_training

    sample = load_training(SAMPLE_DIR / TRAINING_FILE)
    word = "zorblatt"  # a word no example has: only the new examples can teach it
    human = (*sample.intents["human"], f"{word} me now")
    taught = replace(sample, intents={**sample.intents, "human": human})
    dump_training(taught, tmp_path / "training.yaml")
    out = subprocess.run(  # noqa: ASYNC221 (the test waits for the command on purpose)
        [sys.executable, "-m", "bot.cli", "kb", "import", "training.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DATABASE_URL": sqlite_prepared},
    )
    assert out.returncode == 0, out.stderr
    assert "training examples" in out.stdout and "understanding ready" in out.stdout
    settings = load_settings(DATABASE_URL=sqlite_prepared, MEDIA_DIR=tmp_path / "media", _env_file=None)
    # Another process: it loads what the import trained.
    async with prepared_hub(settings) as hub, hub.db.reading() as session:
        understander = await hub.services.knowledge.current(session)
        stored = await kb_store.load_learned(session, understander.digest)
    assert stored is not None  # trained once, by the import, not by this process
    assert stored.drift == 1  # ... starting from the models stored before: one example changed
    assert understander.understand(f"{word} me now").intent == "human"
