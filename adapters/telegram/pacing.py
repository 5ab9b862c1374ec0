"""Keeping under Telegram's limits instead of waiting for its 429s.

Telegram allows about one message a second to a chat, twenty a minute to a group and
thirty a second in all; beyond that it answers 429 with a wait, and keeps answering
429 to a bot that does not wait. The outbox sends up to eight messages at once, so the
channel paces them here. PTB's own AIORateLimiter is not used: after a 429 it holds
every request until the wait is over, and a send held past the outbox's lease could
go out twice. Here a send waits at most `max_wait_s`; beyond that it is given back to
the outbox, which tries it again after the wait.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

from aiolimiter import AsyncLimiter

from bot.api import DeliveryError

PER_SECOND = 30.0
PER_CHAT_PER_SECOND = 1.0
CHAT_BURST = 3.0
PER_GROUP_PER_MINUTE = 20.0
MAX_WAIT_S = 10.0  # well inside the outbox's lease
KEEP_CHATS = 10_000  # chats whose pace is remembered (the least recent are forgotten)


class Pacer:
    def __init__(
        self, *, max_wait_s: float = MAX_WAIT_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_wait_s = max_wait_s
        self.clock = clock
        self._all = AsyncLimiter(PER_SECOND, 1.0)
        self._chats: OrderedDict[str, AsyncLimiter] = OrderedDict()
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Telegram said to wait (a 429): no send at all until then."""
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self.clock())

    async def wait_turn(self, chat: str) -> None:
        """Return when a message to `chat` may be sent now; DeliveryError with a
        `retry_after` if that would take longer than `max_wait_s`."""
        paused = self.paused_for()
        if paused > 0:
            raise DeliveryError("Telegram asked to wait (429)", retry_after=paused)
        limiter = self._chat(chat)
        try:
            async with asyncio.timeout(self.max_wait_s):
                await limiter.acquire()
                await self._all.acquire()
        except TimeoutError:
            raise DeliveryError(
                "too many messages to this chat for now", retry_after=self.max_wait_s
            ) from None

    def _chat(self, chat: str) -> AsyncLimiter:
        limiter = self._chats.get(chat)
        if limiter is None:
            group = chat.startswith("-")  # Telegram's group and channel ids are negative
            limiter = (
                AsyncLimiter(PER_GROUP_PER_MINUTE, 60.0) if group else AsyncLimiter(PER_CHAT_PER_SECOND, 1.0)
            )
            self._chats[chat] = limiter
            while len(self._chats) > KEEP_CHATS:
                self._chats.popitem(last=False)
        else:
            self._chats.move_to_end(chat)
        return limiter
