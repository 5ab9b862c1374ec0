"""The Telegram channel keeps under Telegram's limits itself, and never holds a send long."""

from __future__ import annotations

import time

import pytest

from adapters.telegram.pacing import Pacer
from bot.delivery.channel import DeliveryError


async def test_a_chat_gets_a_short_burst_then_about_one_message_a_second() -> None:
    pacer = Pacer()
    started = time.monotonic()
    for _ in range(6):
        await pacer.wait_turn("7001")
    # Three at once, then one a second: the sixth no sooner than about 3 s (a lower bound:
    # a pacer cannot be faster than its rate, however busy the machine).
    assert time.monotonic() - started >= 2.5
    other = time.monotonic()
    await pacer.wait_turn("7002")  # another chat is not held up by the first
    assert time.monotonic() - other < 2.5


async def test_a_send_that_would_wait_too_long_is_given_back_with_a_time() -> None:
    pacer = Pacer(max_wait_s=0.2)
    for _ in range(3):
        await pacer.wait_turn("-100123")  # a group: 20 a minute, a burst of them at first
    with pytest.raises(DeliveryError):
        for _ in range(30):
            await pacer.wait_turn("-100123")
    pacer.pause(30)  # Telegram said 429, retry_after 30
    with pytest.raises(DeliveryError) as paused:
        await pacer.wait_turn("7001")
    assert paused.value.retry_after is not None and 29 <= paused.value.retry_after <= 30
