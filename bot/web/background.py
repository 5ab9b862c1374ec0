"""A long-running task of the `serve` application, tied to its life.

Started with the application and, on shutdown, told to stop (its event) and awaited, so
work under way ends before the database closes: never fire-and-forget. The outbox, the
media sweep, the transcript feed and the channels' pollers all run this way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from aiohttp import web

Run = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def in_background(name: str, run: Run, *, on_stop: Callable[[], None] | None = None) -> CleanupContext:
    """For `app.cleanup_ctx`: `run(stop)` as a task named `name`; `on_stop` is called when
    stop is set, for a task that must also be told another way (a sweep between files)."""

    async def running(app: web.Application) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(run(stop), name=name)
        yield
        stop.set()
        if on_stop is not None:
            on_stop()
        await task

    return running
