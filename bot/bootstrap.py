"""Getting a database ready: migrations, and the sample city on first start."""

from __future__ import annotations

import logging

from bot import migrate
from bot.content import catalogue_store, kb_store
from bot.db import Database
from bot.migrate import NotMigrated
from knowledge.loader import (
    FAQ_FILE,
    SAMPLE_DIR,
    SERVICES_FILE,
    TRAINING_FILE,
    load_catalogue,
    load_knowledge,
    load_training,
)

__all__ = ["NotMigrated", "prepare"]

log = logging.getLogger(__name__)


async def prepare(
    db: Database, *, auto_upgrade: bool, knowledge: kb_store.KnowledgeCache | None = None
) -> None:
    """Upgrade (SQLite, or when asked) or insist the schema is current, then load the
    bundled sample city into an empty knowledge base, service catalogue and training set."""
    await migrate.ensure_current(db, auto_upgrade=auto_upgrade)
    async with db.transaction() as session:
        if await kb_store.is_empty(session):
            result = await kb_store.import_kb(
                session, load_knowledge(SAMPLE_DIR / FAQ_FILE), author="sample city"
            )
            log.info("loaded the sample city's knowledge base: %d entries", result.added)
        if await catalogue_store.is_empty(session):
            services = await catalogue_store.import_catalogue(
                session, load_catalogue(SAMPLE_DIR / SERVICES_FILE)
            )
            log.info("loaded the sample city's service catalogue: %d services", services.added)
        if await kb_store.training_is_empty(session):
            count = await kb_store.import_training(session, load_training(SAMPLE_DIR / TRAINING_FILE))
            log.info("loaded the sample city's training examples: %d", count)
    if knowledge is not None:
        # Build the search index and train (storing new vectors and models) now, so the
        # first resident does not wait for it.
        async with db.transaction() as session:
            await knowledge.current(session)
