"""Keeping under a platform's limits instead of waiting for its 429s.

Platforms allow a message or so a second per chat or channel and some number a second in
all; beyond that they answer 429 with a wait, and keep answering 429 to a client that does
not wait. The outbox sends several messages at once, so a channel paces them here. A send
waits at most `max_wait_s`; beyond that it is given back to the outbox (DeliveryError with
`retry_after`), which tries it again after the wait: a send held past the outbox's lease
could go out twice.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

from aiolimiter import AsyncLimiter

from bot.delivery.channel import DeliveryError

MAX_WAIT_S = 10.0  # well inside the outbox's lease
KEEP_ADDRESSES = 10_000  # addresses whose pace is remembered (the least recent are forgotten)


class Pacer:
    """`per_address` makes the limiter of one chat or channel; `per_second` is the limit in
    all. Paces one process: processes sharing a bot share the platform's limit, and the
    platform's 429s (`pause`) cover the rest."""

    def __init__(
        self,
        platform: str,
        per_address: Callable[[str], AsyncLimiter],
        *,
        per_second: float,
        max_wait_s: float = MAX_WAIT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.platform = platform
        self.per_address = per_address
        self.max_wait_s = max_wait_s
        self.clock = clock
        self._all = AsyncLimiter(per_second, 1.0)
        self._addresses: OrderedDict[str, AsyncLimiter] = OrderedDict()
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """The platform said to wait (a 429): no send at all until then."""
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self.clock())

    async def wait_turn(self, address: str) -> None:
        """Return when a message to `address` may be sent now; DeliveryError with a
        `retry_after` if that would take longer than `max_wait_s`."""
        paused = self.paused_for()
        if paused > 0:
            raise DeliveryError(f"{self.platform} asked to wait (429)", retry_after=paused)
        limiter = self._limiter(address)
        try:
            async with asyncio.timeout(self.max_wait_s):
                await limiter.acquire()
                await self._all.acquire()
        except TimeoutError:
            raise DeliveryError(
                "too many messages to this chat for now", retry_after=self.max_wait_s
            ) from None

    def _limiter(self, address: str) -> AsyncLimiter:
        limiter = self._addresses.get(address)
        if limiter is None:
            limiter = self._addresses[address] = self.per_address(address)
            while len(self._addresses) > KEEP_ADDRESSES:
                self._addresses.popitem(last=False)
        else:
            self._addresses.move_to_end(address)
        return limiter
