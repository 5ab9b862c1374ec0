"""What follows every change an admin makes: the regression set is asked again, so the
test box shows what the change moved."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.admin import regression
from bot.admin.web.keys import hub_of

log = logging.getLogger(__name__)


async def after_change(request: web.Request) -> None:
    """Run after the change is committed: a failure here must not undo or hide the change,
    so it is logged and the page goes on (the test box can re-run the set by hand)."""
    try:
        moved = await regression.rerun(hub_of(request))
    except Exception:
        log.exception("the regression set could not be re-run after a change")
        return
    if moved:
        log.info("admin change moved %d regression answers", len(moved))
