"""Telegram's limits: about one message a second to a chat (a burst of a few is allowed),
twenty a minute to a group and thirty a second in all. PTB's own AIORateLimiter is not
used: after a 429 it holds every request until the wait is over, and a send held past the
outbox's lease could go out twice (bot.delivery.pacing)."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiolimiter import AsyncLimiter

from bot.api import Pacer as _Pacer

PER_SECOND = 30.0
PER_CHAT_PER_SECOND = 1.0
CHAT_BURST = 3.0
PER_GROUP_PER_MINUTE = 20.0  # a send waits at most max_wait_s (10 s), then goes back to the outbox


def _limiter(chat: str) -> AsyncLimiter:
    if chat.startswith("-"):  # Telegram's group and channel ids are negative
        return AsyncLimiter(PER_GROUP_PER_MINUTE, 60.0)
    return AsyncLimiter(CHAT_BURST, CHAT_BURST / PER_CHAT_PER_SECOND)


class Pacer(_Pacer):
    def __init__(self, *, max_wait_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__("Telegram", _limiter, per_second=PER_SECOND, max_wait_s=max_wait_s, clock=clock)
