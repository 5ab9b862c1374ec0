"""Long polling with getUpdates, for development and for cities without a public https
address: one process at a time (a lease in the database), from where the last stopped.

The position is written after each update is handled, so a restart neither loses an
update (it was not confirmed to Telegram) nor runs one twice (the engine knows its id).
An update that keeps failing for a reason other than the database is skipped after a
few tries, with its id in the log, rather than holding up every update after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import Update
from telegram.error import Conflict, TelegramError

from adapters.telegram.client import ALLOWED_UPDATES, LONG_POLL_S, redact
from adapters.telegram.updates import UpdateHandler
from bot.api import UNAVAILABLE, PollerLease, first_of

log = logging.getLogger(__name__)

RETRY_S = 3.0  # after a failed poll or a database that is away
MAX_TRIES = 5  # of one update whose handling fails for a reason other than the database


class Poller:
    def __init__(self, handler: UpdateHandler, lease: PollerLease, *, long_poll_s: int = LONG_POLL_S) -> None:
        self.handler = handler
        self.lease = lease
        self.long_poll_s = long_poll_s
        self._tries: dict[int, int] = {}
        self._holding = False

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    await self._round(stop)
                except Exception as exc:
                    log.warning("telegram polling: %s; trying again in %.0f s", self._said(exc), RETRY_S)
                    await first_of(stop, within_s=RETRY_S)
        finally:
            if self._holding:
                with contextlib.suppress(Exception):
                    await self.lease.release()

    async def _round(self, stop: asyncio.Event) -> None:
        position = await self.lease.acquire()
        if position is None:  # another process reads: wait, and try for the lease again
            self._holding = False
            await first_of(stop, within_s=self.lease.lease.total_seconds() / 3)
            return
        bot = await self.handler.bots.ready()
        if not self._holding:
            self._holding = True
            log.info("telegram polling: this process reads the updates (from %s)", position or "the start")
            await bot.delete_webhook()  # getUpdates is refused while a webhook is set
        poll = asyncio.ensure_future(
            bot.get_updates(
                offset=position or None,
                timeout=self.long_poll_s,
                allowed_updates=list(ALLOWED_UPDATES),
            )
        )
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait([poll, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not poll.done():
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError, TelegramError):
                await poll
            return
        try:
            updates = poll.result()
        except Conflict:
            log.warning("telegram polling: Telegram says another reader or a webhook is active")
            await first_of(stop, within_s=RETRY_S)
            return
        for update in updates:
            if stop.is_set():
                return
            if not await self._handle(update):
                return  # not handled: read it again on the next round
            position = update.update_id + 1
            if not await self.lease.advance(position):
                log.info("telegram polling: another process took over reading the updates")
                self._holding = False
                return
        if not updates and not await self.lease.advance(position):  # the lease, renewed
            self._holding = False

    async def _handle(self, update: Update) -> bool:
        try:
            await self.handler.handle(update)
        except Exception as exc:
            if isinstance(exc, UNAVAILABLE | TelegramError):
                raise  # the database or Telegram is away: the whole round waits
            tries = self._tries.get(update.update_id, 0) + 1
            self._tries[update.update_id] = tries
            if tries < MAX_TRIES:
                log.exception("telegram polling: update %s failed (try %d)", update.update_id, tries)
                return False
            log.error("telegram polling: update %s skipped after %d tries", update.update_id, tries)
        self._tries.pop(update.update_id, None)
        return True

    def _said(self, exc: Exception) -> str:
        text = exc.message if isinstance(exc, TelegramError) else f"{type(exc).__name__}: {exc}"
        return redact(text, self.handler.bots.bot.token)
