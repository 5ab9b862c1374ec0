"""One reader at a time of a platform's update feed, going on from where the last stopped."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.db import Database
from bot.pollers import PollerLease
from bot.timeutil import utcnow


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


async def test_one_holder_at_a_time_and_the_position_survives(db: Database) -> None:
    clock = Clock()
    a = PollerLease(db, "telegram:1", holder="a", lease=timedelta(seconds=90), clock=clock)
    b = PollerLease(db, "telegram:1", holder="b", lease=timedelta(seconds=90), clock=clock)
    assert await a.acquire() == 0
    assert await b.acquire() is None  # a holds it
    assert await a.advance(501)
    assert await a.acquire() == 501  # renewing is acquiring again

    clock.now += timedelta(seconds=91)  # a stopped renewing (killed)
    assert await b.acquire() == 501  # b goes on where a stopped
    assert not await a.advance(400)  # a, back, cannot move the position
    assert await b.acquire() == 501

    await b.release()
    assert await a.acquire() == 501  # at once after a clean stop
    other = PollerLease(db, "telegram:2", holder="b", clock=clock)
    assert await other.acquire() == 0  # each feed its own


async def test_two_processes_racing_for_a_free_lease_get_one_holder(db: Database) -> None:
    import asyncio

    leases = [PollerLease(db, "race", holder=f"p{n}") for n in range(6)]
    got = await asyncio.gather(*(lease.acquire() for lease in leases))
    assert sum(g is not None for g in got) == 1


async def test_a_holder_of_this_machine_that_was_killed_is_not_waited_out(db: Database) -> None:
    import asyncio
    import sys

    from bot.pollers import holder_name

    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await gone.wait()  # a process of this machine that has ended
    host = holder_name().split(":")[0]
    killed = PollerLease(db, "telegram:9", holder=f"{host}:{gone.pid}:dead0000")
    assert await killed.acquire() == 0
    assert await killed.advance(77)
    restarted = PollerLease(db, "telegram:9")  # this process, restarted: the lease has 90 s to run
    assert await restarted.acquire() == 77
    elsewhere = PollerLease(db, "telegram:9", holder="another-host:1:abcd0000")
    assert await elsewhere.acquire() is None  # a live holder is waited for
