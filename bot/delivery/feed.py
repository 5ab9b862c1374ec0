"""Waking the open chat pages of this process when their conversation gets a message.

Each open page used to poll the transcript every second, so idle pages cost a query a
second each and thousands of them slowed everyone's replies. Now one task per process asks
the database once per poll which conversations got messages, and wakes only the pages
that watch those; an idle page costs nothing but its socket. A write made in this process
(`nudge`) is seen at once instead of at the next poll. Messages written by other processes
are seen within a poll, which needs no LISTEN/NOTIFY and works the same on SQLite.

On PostgreSQL, ids come from a sequence and transactions commit in any order, so a message
can become visible after one with a higher id was already seen. Each poll therefore looks
back over the ids seen in the last few seconds, and a page is woken when its conversation's
newest id grew; a page that wakes for nothing new costs one query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator

from sqlalchemy import func, select

from bot.db import Database
from bot.models import Conversation, TranscriptMessage
from bot.waiting import first_of

log = logging.getLogger(__name__)

Watched = tuple[str, str]  # (channel, address)
LOOKBACK_S = 5.0  # a commit may become visible this long after a higher id was seen
# Where the first poll after a quiet spell starts: this many ids below the newest, because a
# commit with a lower id may still be on its way (and a page's first read may have missed it).
FIRST_LOOKBACK_IDS = 1000
MIN_GAP_S = 0.05  # nudges from a busy process are polled together, not one query each


class TranscriptFeed:
    def __init__(
        self, db: Database, poll_s: float = 1.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.db = db
        self.poll_s = poll_s
        self._clock = clock
        self.polls = 0  # queries made, for tests and metrics
        self._watchers: dict[Watched, set[asyncio.Event]] = {}
        self._newest: dict[Watched, int] = {}  # newest id each watched conversation was woken for
        # (when, newest id seen then); the first is the newest mark older than LOOKBACK_S.
        self._marks: deque[tuple[float, int]] = deque()
        self._nudged = asyncio.Event()

    @property
    def watching(self) -> int:
        return sum(len(events) for events in self._watchers.values())

    @contextlib.contextmanager
    def watch(self, channel: str, address: str) -> Iterator[asyncio.Event]:
        """An event set whenever the conversation may have new messages. The watcher clears
        it before it reads, so a message written while it reads wakes it again."""
        key = (channel, address)
        woken = asyncio.Event()
        self._watchers.setdefault(key, set()).add(woken)
        self._nudged.set()  # a first watcher after a quiet spell starts the polls
        try:
            yield woken
        finally:
            events = self._watchers.get(key)
            if events is not None:
                events.discard(woken)
                if not events:
                    del self._watchers[key]
                    self._newest.pop(key, None)

    def nudge(self) -> None:
        """This process wrote transcript messages: poll now rather than at the next tick."""
        self._nudged.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._nudged.clear()
            if self._watchers:
                try:
                    await self.poll()
                except Exception as exc:  # a database outage: pages wait, polls go on
                    log.warning("transcript feed poll failed: %s", exc)
            else:
                self._marks.clear()  # after a quiet spell, start again from the newest id
            await first_of(stop, self._nudged, within_s=self.poll_s if self._watchers else None)
            await asyncio.sleep(MIN_GAP_S)

    async def poll(self) -> None:
        async with self.db.reading() as session:
            if not self._marks:
                newest = await session.scalar(select(func.max(TranscriptMessage.id)))
                self.polls += 1
                self._mark(max(0, (newest or 0) - FIRST_LOOKBACK_IDS))
                # A message may have landed between a page's own read and this first mark.
                for events in self._watchers.values():
                    for woken in events:
                        woken.set()
                return
            rows = (
                await session.execute(
                    select(Conversation.channel, Conversation.address, func.max(TranscriptMessage.id))
                    .select_from(TranscriptMessage)
                    .join(Conversation, Conversation.id == TranscriptMessage.conversation_id)
                    .where(TranscriptMessage.id > self._marks[0][1])
                    .group_by(Conversation.channel, Conversation.address)
                )
            ).all()
        self.polls += 1
        seen = self._marks[-1][1]
        for channel, address, newest in rows:
            seen = max(seen, newest)
            key = (channel, address)
            watching = self._watchers.get(key)
            if watching and newest > self._newest.get(key, 0):
                self._newest[key] = newest
                for woken in watching:
                    woken.set()
        self._mark(seen)

    def _mark(self, seen: int) -> None:
        now = self._clock()
        self._marks.append((now, seen))
        while len(self._marks) > 1 and self._marks[1][0] <= now - LOOKBACK_S:
            self._marks.popleft()
