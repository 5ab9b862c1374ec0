"""The media sweep: what it removes from MEDIA_DIR, what it keeps and why, on real files and
real databases; inside `serve` and as `civic311 media sweep`."""

from __future__ import annotations

import asyncio
import io
import itertools
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from sqlalchemy import select, update

from bot import migrate
from bot.db import Database
from bot.dialog import State
from bot.hub import Hub, build_hub
from bot.media import MediaStore
from bot.media_sweep import CHECK_BATCH, GRACE, sweep_media
from bot.messages import Incoming, Location, Outgoing, Photo
from bot.models import Conversation, Report
from bot.reporting import reports
from bot.settings import load_settings
from bot.timeutil import utcnow
from bot.web.server import MEDIA_SWEEPER, create_app
from dialogs import names
from dialogs.report_draft import Draft

_ids = itertools.count()
OLD = 2 * GRACE  # older than the grace period


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated, empty database of each backend: the sweep needs no sample city."""
    database = Database(database_url)
    await migrate.upgrade(database)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def store(tmp_path: Path) -> MediaStore:
    return MediaStore(tmp_path / "media", max_bytes=10 * 1024 * 1024, public_url="https://311.example.gov")


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


def age(path: Path, by: timedelta) -> Path:
    """Move the file's time back, as if it had been written `by` ago."""
    when = time.time() - by.total_seconds()
    os.utime(path, (when, when), follow_symlinks=False)
    return path


async def stored(store: MediaStore, *, old: bool = True) -> Photo:
    photo = await store.save(jpeg())
    if old:
        age(store.directory / photo.key, OLD)
    return photo


def names_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


async def file_report(db: Database, media: list[str]) -> None:
    async with db.transaction() as session:
        await reports.file_report(
            session, service_code="pothole", description="a pothole", now=utcnow(), media=media
        )


async def draft_conversation(db: Database, keys: list[str], *, expires_in: timedelta, address: str) -> None:
    """A conversation half-way through a report, as the report dialog stores it."""
    draft = Draft(description="bent sign", photos=[{"key": k, "content_type": "image/jpeg"} for k in keys])
    state = State(names.REPORT, "photos", draft.to_json())
    now = utcnow()
    async with db.transaction() as session:
        session.add(
            Conversation(
                channel="webchat", address=address, state=state.to_json(), expires_at=now + expires_in
            )
        )


async def test_an_old_photo_nothing_names_is_removed_and_counted(db: Database, store: MediaStore) -> None:
    photo = await stored(store)
    size = (store.directory / photo.key).stat().st_size
    result = await sweep_media(db, store.directory)
    assert (result.photos, result.photo_bytes, result.temporary, result.failed) == (1, size, 0, 0)
    assert names_in(store.directory) == set()
    assert "removed 1 unused photo" in result.summary()


async def test_photos_on_reports_are_kept_however_old(db: Database, store: MediaStore) -> None:
    on_report, by_url, orphan = [await stored(store) for _ in range(3)]
    await file_report(db, [on_report.key])
    # Open311 may hand back one of our own photos by its URL: still ours, still in use.
    await file_report(db, ["https://elsewhere.example/x.jpg", store.url(by_url.key)])
    result = await sweep_media(db, store.directory)
    assert names_in(store.directory) == {on_report.key, by_url.key}
    assert (result.photos, result.in_use) == (1, 2)
    assert orphan.key not in names_in(store.directory)


async def test_a_photo_in_a_live_draft_is_kept_and_in_an_expired_one_removed(
    db: Database, store: MediaStore
) -> None:
    live, just_expired, long_expired = [await stored(store) for _ in range(3)]
    await draft_conversation(db, [live.key], expires_in=timedelta(minutes=20), address="a")
    # Expired, but within a grace period of its expiry: a turn may still be filing it.
    await draft_conversation(db, [just_expired.key], expires_in=-timedelta(minutes=5), address="b")
    # Expired long ago: the engine throws this state away at the resident's next message.
    await draft_conversation(db, [long_expired.key], expires_in=-OLD, address="c")
    result = await sweep_media(db, store.directory)
    assert names_in(store.directory) == {live.key, just_expired.key}
    assert (result.photos, result.in_use) == (1, 2)


async def test_a_fresh_photo_nothing_names_yet_is_kept(db: Database, store: MediaStore) -> None:
    """An upload in flight: the file is written, its turn not yet committed."""
    fresh = await stored(store, old=False)
    nearly = await stored(store, old=False)
    age(store.directory / nearly.key, GRACE - timedelta(minutes=1))
    result = await sweep_media(db, store.directory)
    assert names_in(store.directory) == {fresh.key, nearly.key}
    assert (result.photos, result.recent) == (0, 2)


async def test_old_unfinished_uploads_are_removed_and_fresh_ones_kept(
    db: Database, store: MediaStore
) -> None:
    store.directory.mkdir(parents=True)
    old_part = store.directory / ".upload-k3j_x9a1.part"
    old_part.write_bytes(b"\xff\xd8\xff" + b"\0" * 997)
    age(old_part, OLD)
    old_check = store.directory / ".write-test-ab12cd34"
    old_check.touch()
    age(old_check, OLD)
    fresh_part = store.directory / ".upload-zz99yy88.part"
    fresh_part.write_bytes(b"partial")
    result = await sweep_media(db, store.directory)
    assert names_in(store.directory) == {fresh_part.name}
    assert (result.temporary, result.temporary_bytes, result.recent) == (2, 1000, 1)


async def test_nothing_but_the_stores_own_names_is_touched(
    db: Database, store: MediaStore, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / ("A" * 32 + ".jpg")  # a photo name, but not in MEDIA_DIR
    target.write_bytes(b"precious")
    age(target, OLD)
    media = store.directory
    media.mkdir(parents=True)
    strangers = {
        "notes.txt": b"x",
        "A" * 32 + ".gif": b"x",  # not an extension the store writes
        "A" * 31 + ".jpg": b"x",  # one character short of a key
        ".upload-abc.partial": b"x",
        "upload-abcdefgh.part": b"x",
    }
    for name, data in strangers.items():
        (media / name).write_bytes(data)
        age(media / name, OLD)
    (media / ("B" * 32 + ".jpg")).symlink_to(target)  # a link under a key's name
    age(media / ("B" * 32 + ".jpg"), OLD)
    (media / ("C" * 32 + ".png")).mkdir()  # a folder under a key's name
    (media / ("C" * 32 + ".png") / ("D" * 32 + ".png")).write_bytes(b"x")  # never descended into
    age(media / ("C" * 32 + ".png") / ("D" * 32 + ".png"), OLD)
    (media / "sub").symlink_to(outside, target_is_directory=True)

    result = await sweep_media(db, media)
    assert result.removed == 0 and result.failed == 0
    assert names_in(media) == {*strangers, "B" * 32 + ".jpg", "C" * 32 + ".png", "sub"}
    assert target.read_bytes() == b"precious"
    assert (media / ("C" * 32 + ".png") / ("D" * 32 + ".png")).exists()


async def test_a_dry_run_counts_and_removes_nothing(db: Database, store: MediaStore) -> None:
    orphan = await stored(store)
    part = store.directory / ".upload-abcdefgh.part"
    part.write_bytes(b"12345")
    age(part, OLD)
    result = await sweep_media(db, store.directory, dry_run=True)
    assert (result.photos, result.temporary, result.temporary_bytes) == (1, 1, 5)
    assert names_in(store.directory) == {orphan.key, part.name}
    assert result.summary().startswith("would remove 1 unused photo")


async def test_more_files_than_one_batch_are_all_checked(db: Database, tmp_path: Path) -> None:
    """Keys in use among thousands of orphans, on both sides of a batch boundary."""
    media = tmp_path / "media"
    media.mkdir()
    count = CHECK_BATCH + 500
    keys = [f"{i:032d}.jpg" for i in range(count)]
    when = time.time() - OLD.total_seconds()
    for key in keys:
        (media / key).write_bytes(b"x")
        os.utime(media / key, (when, when))
    used = set(keys[::97])
    await file_report(db, sorted(used))
    result = await sweep_media(db, media)
    assert names_in(media) == used
    assert (result.photos, result.in_use) == (count - len(used), len(used))


async def test_a_missing_media_dir_is_said_in_one_line(db: Database, tmp_path: Path) -> None:
    from bot.media_sweep import SweepError

    with pytest.raises(SweepError, match="does not exist"):
        await sweep_media(db, tmp_path / "nowhere")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(SweepError, match="is not a folder"):
        await sweep_media(db, tmp_path / "a-file")


# ------------------------------------------------------------------ through the engine


class Resident:
    """A resident of the web chat, through the real engine and dialogs."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.replies: list[Outgoing] = []

    async def say(self, text: str = "", **kw: object) -> None:
        result = await self.hub.engine.handle(
            Incoming(channel="webchat", conversation="r1", message_id=f"m{next(_ids)}", text=text, **kw)  # type: ignore[arg-type]
        )
        self.replies = result.replies

    async def tap(self, label_start: str) -> None:
        offered = [c for r in self.replies for c in r.choices]
        chosen = [c for c in offered if c.label.lower().startswith(label_start.lower())]
        assert chosen, f"no {label_start!r} in {[c.label for c in offered]}"
        await self.say(choice=chosen[0].id)


async def state_text(hub: Hub) -> str:
    async with hub.db.reading() as session:
        return str(await session.scalar(select(Conversation.state)))


async def test_a_cancelled_drafts_photo_is_removed_once_past_the_grace_period(hub: Hub) -> None:
    store = hub.services.media
    assert store is not None
    photo = await store.save(jpeg())
    resident = Resident(hub)
    await resident.say(photos=(photo,))  # a photo first: a report begins with it
    assert photo.key in await state_text(hub)
    age(store.directory / photo.key, OLD)
    kept = await sweep_media(hub.db, store.directory)
    assert (kept.photos, kept.in_use) == (0, 1) and store.path(photo.key) is not None

    await resident.say("cancel")
    assert photo.key not in await state_text(hub)  # cancelling really drops the draft
    await sweep_media(hub.db, store.directory)
    assert store.path(photo.key) is None


async def test_an_expired_drafts_photo_is_removed_before_the_resident_returns(hub: Hub) -> None:
    store = hub.services.media
    assert store is not None
    photo = await store.save(jpeg())
    resident = Resident(hub)
    await resident.say(photos=(photo,))
    age(store.directory / photo.key, OLD)
    async with hub.db.transaction() as session:  # left alone long past the timeout
        await session.execute(update(Conversation).values(expires_at=utcnow() - OLD))
    assert photo.key in await state_text(hub)  # the state stays until the resident returns...
    result = await sweep_media(hub.db, store.directory)
    assert result.photos == 1 and store.path(photo.key) is None  # ...but its photo is not in use
    await resident.say("hello")
    assert photo.key not in await state_text(hub)  # and the engine starts afresh then


async def test_a_photo_moves_from_the_draft_to_the_filed_report_and_is_kept(hub: Hub) -> None:
    store = hub.services.media
    assert store is not None
    resident = Resident(hub)
    await resident.say("there's a huge pothole on 5th and Market, almost lost a tire")
    await resident.tap("Yes")
    photo = await store.save(jpeg())
    await resident.say(photos=(photo,))
    await resident.tap("Done")
    await resident.say(location=Location(37.7829, -122.4074))
    await resident.tap("larger than a dinner plate")
    await resident.tap("Send report")
    assert photo.key not in await state_text(hub)  # the draft is gone...
    async with hub.db.reading() as session:
        assert (await session.scalars(select(Report.media))).one() == [photo.key]  # ...onto the report
    age(store.directory / photo.key, OLD)
    result = await sweep_media(hub.db, store.directory)
    assert (result.photos, result.in_use) == (0, 1) and store.path(photo.key) is not None


# ------------------------------------------------------------------ inside serve


async def test_serve_sweeps_at_start_and_awaits_the_sweep_on_shutdown(
    database_url: str, tmp_path: Path
) -> None:
    settings = load_settings(DATABASE_URL=database_url, MEDIA_DIR=tmp_path / "media", _env_file=None)
    hub = build_hub(settings)
    await migrate.upgrade(hub.db)
    try:
        assert hub.services.media is not None
        orphan = await stored(hub.services.media)
        app = create_app(hub, deliver_outbox=False)
        sweeper = app[MEDIA_SWEEPER]
        assert sweeper.every == timedelta(minutes=settings.MEDIA_SWEEP_MINUTES)
        async with TestClient(TestServer(app)) as client:
            await asyncio.wait_for(sweeper.swept.wait(), timeout=60)
            assert hub.services.media.path(orphan.key) is None
            tasks = [t for t in asyncio.all_tasks() if t.get_name() == "media-sweep"]
            assert len(tasks) == 1 and not tasks[0].done()
            assert (await client.get("/healthz")).status == 200
        assert tasks[0].done() and tasks[0].exception() is None  # awaited, not left running
        assert sweeper.sweeps == 1
    finally:
        await hub.close()


async def test_serve_can_leave_the_sweep_to_cron(database_url: str, tmp_path: Path) -> None:
    settings = load_settings(
        DATABASE_URL=database_url, MEDIA_DIR=tmp_path / "media", MEDIA_SWEEP_MINUTES=0, _env_file=None
    )
    hub = build_hub(settings)
    try:
        assert MEDIA_SWEEPER not in create_app(hub, deliver_outbox=False)
    finally:
        await hub.close()


# ------------------------------------------------------------------ civic311 media sweep


def civic311(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{cwd}/c.db", **env},
    )


def test_the_command_says_what_it_removed_and_a_dry_run_removes_nothing(
    sqlite_prepared: str, tmp_path: Path
) -> None:
    store = MediaStore(tmp_path / "media", max_bytes=10 * 1024 * 1024, public_url="http://x")

    async def fill() -> tuple[Photo, Photo]:
        kept, orphan = await stored(store), await stored(store)
        database = Database(sqlite_prepared)
        try:
            await file_report(database, [kept.key])
        finally:
            await database.dispose()
        return kept, orphan

    kept, orphan = asyncio.run(fill())
    part = tmp_path / "media" / ".upload-abcdefgh.part"
    part.write_bytes(b"x" * 2048)
    age(part, OLD)
    size = (tmp_path / "media" / orphan.key).stat().st_size

    dry = civic311("media", "sweep", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "would remove 1 unused photo" in dry.stdout and "1 unfinished upload (2.0 kB)" in dry.stdout
    assert names_in(tmp_path / "media") == {kept.key, orphan.key, part.name}

    out = civic311("media", "sweep", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert size < 1024 and f"removed 1 unused photo ({size} bytes)" in out.stdout
    assert "kept 1 photo in use" in out.stdout
    assert names_in(tmp_path / "media") == {kept.key}


@pytest.mark.parametrize("problem", ["missing", "a file"])
def test_a_bad_media_dir_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, problem: str
) -> None:
    from bot.cli import main

    where = tmp_path / "photos"
    if problem == "a file":
        where.write_text("not a folder")
    monkeypatch.setenv("MEDIA_DIR", str(where))
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/never.db")
    code = main(["media", "sweep"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert err.startswith(f"civic311: MEDIA_DIR {where} ")
    assert ("does not exist" if problem == "missing" else "is not a folder") in err
    assert not (tmp_path / "never.db").exists()  # said before touching any database
