"""Waiting for the first of several events, or a time limit.

The background tasks of `serve` (the transcript feed, the outbox worker, open chat pages)
each sleep until there is work (a nudge) or they must stop, and no longer than their poll.
"""

from __future__ import annotations

import asyncio


async def first_of(*events: asyncio.Event, within_s: float | None) -> bool:
    """Whether any of the events was set within the time (None: no limit). The waits left
    over are cancelled, so a long-lived loop calling this leaks no tasks."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        done, _ = await asyncio.wait(waits, timeout=within_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
    return bool(done)
