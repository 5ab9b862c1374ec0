"""What follows every change an admin makes: the regression set is asked again, so the
test box shows what the change moved.

Not in the request: asking fifty questions after an edit (the first one rebuilding the
index) took seconds, and the admin waits for none of it. One task per `serve` process
runs the set after a change; changes in a row make one run. Nothing is lost if the
process stops first: the results carry the content revision they were asked on, the
test box says when they are older than the content, and "Run again" asks them.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from bot.admin import regression
from bot.hub import Hub
from bot.waiting import first_of

log = logging.getLogger(__name__)


class Reruns:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.wanted = asyncio.Event()
        self.running = False

    @property
    def busy(self) -> bool:
        """A run is wanted or under way (for benchmarks and tests that wait for quiet)."""
        return self.running or self.wanted.is_set()

    def want(self) -> None:
        self.wanted.set()

    async def run(self, stop: asyncio.Event) -> None:
        while True:
            await first_of(self.wanted, stop, within_s=None)
            if stop.is_set():
                return
            self.wanted.clear()
            self.running = True
            try:
                # This process rebuilds (after a training change: retrains) now, not on a
                # resident's next message; then the set is asked.
                async with self.hub.db.reading() as session:
                    await self.hub.services.knowledge.current(session)
                moved = await regression.rerun(self.hub)
            except Exception:  # logged; the test box offers "Run again"
                log.exception("the regression set could not be asked again after a change")
                continue
            finally:
                self.running = False
            if moved:
                log.info("an admin change moved %d regression answers", len(moved))


RERUNS = web.AppKey("admin_reruns", Reruns)


async def after_change(request: web.Request) -> None:
    """Call after the change is committed."""
    request.config_dict[RERUNS].want()
