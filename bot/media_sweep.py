"""Sweeping MEDIA_DIR: photos nothing refers to any more, and uploads cut off half-way.

A photo is written before the turn that records it (adapters/webchat/api.py), and a
failing turn removes it again; a process killed between the two (SIGKILL, a crash, a
power cut) leaves the photo, or the store's `.upload-*.part` file, with nothing pointing
at it. Drafts lose photos too: a cancelled report, a draft that timed out, photos beyond
a report's limit or replaced through "change photos" are all files no report will ever
show. The sweep removes such files; nothing else in the folder is touched.

What counts as in use, and why it is safe against what runs at the same time:
- A photo is in use when a report's `media` names it, or when the state of a conversation
  whose draft has not expired names it (anywhere in the state, so a dialog that keeps
  photos elsewhere is still safe). A draft counts until one grace period after it
  expired: a turn that read the draft just before the expiry may still be filing it, and
  the clocks of two servers need not agree to the second.
- Drafts are read before reports. Filing moves a photo from a draft to a report in one
  transaction, and never back, so whichever side of that commit the read of the drafts
  falls on, one of the two reads sees the photo (PostgreSQL's READ COMMITTED suffices; on
  SQLite both reads share one snapshot anyway).
- Only files older than the grace period are candidates, their age counted from the
  moment the sweep started, before it read anything. An upload in flight has written its
  file but not yet committed its turn; no turn takes an hour, so a file that old that
  nothing names will never be named (a turn waits at most SQLITE_BUSY_TIMEOUT_S, ten
  minutes at the most, for the SQLite lock). It need not outlast
  CONVERSATION_TIMEOUT_MINUTES: live drafts are read from the database rather than
  guessed from a file's age, and a draft's photo stays as long as its draft does.
- Only names the store itself makes are removed: a photo key (`valid_key`) or its
  temporary files (`TEMPORARY`); a symbolic link, a folder or any other name is left
  alone and never followed. The folder is opened once and every name is taken relative to
  that handle, so swapping MEDIA_DIR for a link half-way changes nothing.

It scales with neither side loaded whole: reports' keys are streamed from the database
(the database unpacks the JSON lists) into a sorted array of 64-bit hashes, 8 bytes a
photo, and the folder is read entry by entry and checked in batches against it. Two
different keys with the same hash can only keep an orphan, never remove a photo in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import threading
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select, text

from bot.db import Database
from bot.media import MIB, TEMPORARY, valid_key
from bot.models import Conversation, Report
from bot.timeutil import utcnow

log = logging.getLogger(__name__)

GRACE = timedelta(hours=1)
SWEEP_EVERY = timedelta(minutes=60)  # MEDIA_SWEEP_MINUTES
STREAM_ROWS = 5000  # rows fetched at a time from the database
CHECK_BATCH = 4096  # files checked against the references at a time

# Every element of every report's `media`, unpacked by the database: no row is built in
# Python, and reports without photos cost a scan, not a decode.
_REPORT_MEDIA = {
    "sqlite": (
        f"SELECT j.value FROM {Report.__tablename__} AS r, json_each(r.media) AS j WHERE j.type = 'text'"
    ),
    "postgresql": f"SELECT jsonb_array_elements_text(r.media) FROM {Report.__tablename__} AS r "
    "WHERE jsonb_typeof(r.media) = 'array'",
}


class SweepError(OSError):
    """MEDIA_DIR cannot be swept (missing, not a folder, unreadable); the message says which."""


@dataclass(slots=True)
class SweepResult:
    dry_run: bool = False
    photos: int = 0  # removed (or, in a dry run, to be removed)
    photo_bytes: int = 0
    temporary: int = 0
    temporary_bytes: int = 0
    in_use: int = 0  # photos kept because a report or a live draft names them
    recent: int = 0  # photos and temporary files kept because they are younger than the grace period
    failed: int = 0  # could not be removed (permissions, a read-only disk)
    errors: list[str] = field(default_factory=list)

    @property
    def removed(self) -> int:
        return self.photos + self.temporary

    @property
    def freed(self) -> int:
        return self.photo_bytes + self.temporary_bytes

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        line = (
            f"{verb} {_count(self.photos, 'unused photo')} ({_size(self.photo_bytes)}) and "
            f"{_count(self.temporary, 'unfinished upload')} ({_size(self.temporary_bytes)}); "
            f"kept {_count(self.in_use, 'photo')} in use and {self.recent} recent "
            f"file{'s' if self.recent != 1 else ''}"
        )
        if self.failed:
            line += f"; {self.failed} could not be removed ({self.errors[0]})"
        return line


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' if n != 1 else ''}"


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    return f"{size / 1024:.1f} kB" if size < MIB else f"{size / MIB:.1f} MB"


def _keys_in(value: object) -> Iterator[str]:
    """Every photo key a conversation state holds, wherever the dialog put it (a bare key,
    or a URL ending in one)."""
    if isinstance(value, str):
        tail = value.rpartition("/")[2]
        if valid_key(tail):
            yield tail
    elif isinstance(value, dict):
        for item in value.values():
            yield from _keys_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys_in(item)


async def referenced(db: Database, *, live_since: datetime) -> NDArray[np.int64]:
    """Hashes of the keys in use, sorted: named by a draft that expired after `live_since`
    (or not at all), or by a report. Drafts are read first (see the module's docstring)."""
    hashes = array("q")
    async with db.reading() as session:
        drafts = await session.stream(
            select(Conversation.state)
            .where(Conversation.expires_at > live_since)
            .execution_options(yield_per=STREAM_ROWS)
        )
        async for rows in drafts.partitions():
            for (state,) in rows:
                hashes.extend(hash(key) for key in _keys_in(state))
        dialect = "sqlite" if db.is_sqlite else "postgresql"
        media = await session.stream(text(_REPORT_MEDIA[dialect]).execution_options(yield_per=STREAM_ROWS))
        async for rows in media.partitions():
            hashes.extend(hash(str(value).rpartition("/")[2]) for (value,) in rows)
    return np.unique(np.frombuffer(hashes, dtype=np.int64)) if hashes else np.empty(0, dtype=np.int64)


def _open_folder(directory: Path) -> int:
    try:
        return os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        raise SweepError(f"MEDIA_DIR {directory} does not exist") from None
    except NotADirectoryError:
        raise SweepError(f"MEDIA_DIR {directory} is not a folder") from None
    except OSError as exc:
        raise SweepError(f"MEDIA_DIR {directory} cannot be read: {exc.strerror or exc}") from None


def check_folder(directory: Path) -> None:
    """Raise SweepError when `directory` cannot be swept, before any database work."""
    os.close(_open_folder(directory))


class _FolderSweep:
    """One pass over the folder; runs in a worker thread, since listing and removing block."""

    def __init__(self, folder: int, refs: NDArray[np.int64], cutoff: float, result: SweepResult) -> None:
        self.folder = folder
        self.refs = refs
        self.cutoff = cutoff
        self.result = result
        self.pending: list[tuple[str, int]] = []  # old photos, to check against the references

    def run(self, halted: Callable[[], bool]) -> None:
        with os.scandir(self.folder) as entries:
            for entry in entries:
                self.visit(entry)
                if len(self.pending) >= CHECK_BATCH:
                    self.check()
                    if halted():
                        return
        self.check()

    def visit(self, entry: os.DirEntry[str]) -> None:
        photo = valid_key(entry.name)
        if not photo and not TEMPORARY.fullmatch(entry.name):
            return
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return
        if not stat.S_ISREG(info.st_mode):
            return  # a link, a folder, a socket under one of our names: not ours
        if info.st_mtime >= self.cutoff:
            self.result.recent += 1
        elif photo:
            self.pending.append((entry.name, info.st_size))
        elif self.remove(entry.name):
            self.result.temporary += 1
            self.result.temporary_bytes += info.st_size

    def check(self) -> None:
        if not self.pending:
            return
        hashes = np.fromiter((hash(n) for n, _ in self.pending), dtype=np.int64, count=len(self.pending))
        if len(self.refs):
            at = np.minimum(np.searchsorted(self.refs, hashes), len(self.refs) - 1)
            used = (self.refs[at] == hashes).tolist()
        else:
            used = [False] * len(self.pending)
        for (name, size), in_use in zip(self.pending, used, strict=True):
            if in_use:
                self.result.in_use += 1
            elif self.remove(name):
                self.result.photos += 1
                self.result.photo_bytes += size
        self.pending.clear()

    def remove(self, name: str) -> bool:
        if self.result.dry_run:
            return True
        try:
            os.unlink(name, dir_fd=self.folder)  # a link would be removed itself, never followed
        except FileNotFoundError:
            return False  # removed meanwhile (a discarded photo, another sweep)
        except OSError as exc:
            self.result.failed += 1
            if len(self.result.errors) < 3:
                self.result.errors.append(f"{name}: {exc.strerror or exc}")
            return False
        return True


async def sweep_media(
    db: Database,
    directory: Path,
    *,
    grace: timedelta = GRACE,
    now: datetime | None = None,
    dry_run: bool = False,
    halted: Callable[[], bool] = lambda: False,
) -> SweepResult:
    """Remove what nothing uses from `directory` (see the module's docstring for what is
    kept and why); `dry_run` counts without removing. `halted` is asked between batches,
    so a process shutting down need not wait for a very large folder to be read whole."""
    now = now or utcnow()  # taken before anything is read: the ages count from here
    folder = await asyncio.to_thread(_open_folder, directory)
    try:
        refs = await referenced(db, live_since=now - grace)
        result = SweepResult(dry_run=dry_run)
        cutoff = (now - grace).timestamp()
        await asyncio.to_thread(_FolderSweep(folder, refs, cutoff, result).run, halted)
    finally:
        os.close(folder)
    if result.removed or result.failed:
        log.log(
            logging.WARNING if result.failed else logging.INFO,
            "media sweep of %s: %s photos (%d bytes) and %s unfinished uploads (%d bytes) %s, "
            "%d bytes freed; %d in use, %d recent, %d could not be removed",
            directory,
            result.photos,
            result.photo_bytes,
            result.temporary,
            result.temporary_bytes,
            "to remove" if dry_run else "removed",
            0 if dry_run else result.freed,
            result.in_use,
            result.recent,
            result.failed,
        )
    return result


class MediaSweeper:
    """The sweep, every `every`, inside `serve`: the photos are on the machine that serves
    them. The first sweep runs at start, since a restart is when a killed process's
    leftovers are there to find. `clock` is where the time is read, for tests."""

    def __init__(
        self,
        db: Database,
        directory: Path,
        *,
        every: timedelta = SWEEP_EVERY,
        grace: timedelta = GRACE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.directory = directory
        self.every = every
        self.grace = grace
        self.clock = clock
        self.sweeps = 0  # completed, for tests and anyone curious
        self.swept = asyncio.Event()  # set after each sweep
        self._halt = threading.Event()

    async def sweep_once(self) -> SweepResult | None:
        try:
            if not self.directory.exists():
                return None  # no photo stored yet: nothing to sweep, nothing to warn about
            return await sweep_media(
                self.db, self.directory, grace=self.grace, now=self.clock(), halted=self._halt.is_set
            )
        except SweepError as exc:
            log.warning("media sweep skipped: %s", exc)
        except Exception:  # a database hiccup: the next sweep tries again
            log.exception("media sweep failed; trying again in %s", self.every)
        finally:
            self.sweeps += 1
            self.swept.set()
        return None

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Sweep until `stop` is set."""
        while not stop.is_set():
            await self.sweep_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every.total_seconds())

    def halt(self) -> None:
        """A sweep under way stops at its next batch of files: shutting down need not wait
        for a very large folder to be read whole."""
        self._halt.set()
