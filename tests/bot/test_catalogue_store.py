"""The service catalogue in the database: loaded on first start, edits reach every process."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.content import catalogue_store
from bot.db import Database
from bot.hub import Hub
from bot.models import Base
from knowledge.catalogue import Catalogue, Service
from knowledge.loader import SAMPLE_DIR, dump_catalogue, load_catalogue


async def test_the_migrations_build_exactly_the_models(db: Database) -> None:
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
    assert diff == []


async def test_the_sample_catalogue_is_loaded_on_first_start(hub: Hub) -> None:
    async with hub.db.reading() as session:
        catalogue = await catalogue_store.load(session)
    sample = load_catalogue(SAMPLE_DIR / "services.yaml")
    assert {s.code: s for s in catalogue.services} == {s.code: s for s in sample.services}
    assert catalogue.groups == sample.groups and catalogue.departments == sample.departments
    groups = [s.group for s in catalogue.services]
    assert groups == sorted(groups, key=sample.groups.index)  # kept together, in the groups' order
    pothole = catalogue.get("pothole")
    assert pothole is not None and pothole.department == "Public Works" and pothole.typical_days == 5
    assert [a.code for a in pothole.attributes] == ["size"]


async def test_an_imported_service_is_understood_at_once(hub: Hub) -> None:
    async with hub.db.transaction() as session:
        catalogue = await catalogue_store.load(session)
        ferry = Service(
            "ferry-dock",
            "Broken ferry dock",
            "A damaged public ferry dock or gangway.",
            group="Streets and sidewalks",
            department="Public Works",
            keywords=("ferry dock", "gangway broken"),
            typical_days=9,
        )
        result = await catalogue_store.import_catalogue(
            session, replace(catalogue, services=(*catalogue.services, ferry))
        )
    assert result.added == 1
    async with hub.db.transaction() as session:
        understander = await hub.services.knowledge.current(session)
    u = understander.understand("the ferry dock is broken again")
    assert u.intent == "report" and u.service is not None and u.service.code == "ferry-dock"


async def test_a_service_left_out_of_a_file_is_kept_and_can_be_retired(hub: Hub) -> None:
    async with hub.db.transaction() as session:
        catalogue = await catalogue_store.load(session)
        pothole = catalogue.get("pothole")
        assert pothole is not None
        await catalogue_store.import_catalogue(session, Catalogue((replace(pothole, active=False),)))
    async with hub.db.reading() as session:
        after = await catalogue_store.load(session)
    assert len(after.services) == len(catalogue.services)  # nothing deleted
    assert after.get("pothole").active is False  # type: ignore[union-attr]


def test_export_round_trips(tmp_path: Path) -> None:
    catalogue = load_catalogue(SAMPLE_DIR / "services.yaml")
    dump_catalogue(catalogue, tmp_path / "s.yaml")
    assert load_catalogue(tmp_path / "s.yaml") == catalogue
