"""A lease on a platform's update feed, held in the database.

Telegram's getUpdates answers one reader at a time, and its offset is the only memory
of what was read. With several `serve` processes (or a restart while the old process
is still stopping) exactly one must read, and whoever reads next must start where the
last reader stopped. The lease is a row: a process takes it when it is free or has
run out, renews it with every batch, and writes the position in the same statement, so
a process that lost its lease cannot move the position back.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from bot.db import Database
from bot.models import Poller
from bot.timeutil import utcnow

LEASE = timedelta(seconds=90)  # longer than a long poll (50 s) and the batch after it


def holder_name() -> str:
    """This process, recognisably in the table: host, pid and a random part."""
    return f"{_host()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _host() -> str:
    return socket.gethostname()[:60]


def dead_here(holder: str | None) -> bool:
    """Whether the holder was a process of this machine that no longer runs (killed, and
    restarted as this one): its lease need not be waited out. A pid taken again by another
    process only makes us wait, as for a holder elsewhere."""
    if not holder:
        return False
    host, _, pid = holder.rpartition(":")[0].rpartition(":")  # host:pid:random
    if host != _host() or not (pid.isascii() and pid.isdigit()):
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class PollerLease:
    def __init__(
        self,
        db: Database,
        name: str,
        *,
        holder: str | None = None,
        lease: timedelta = LEASE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.name = name
        self.holder = holder or holder_name()
        self.lease = lease
        self.clock = clock

    async def acquire(self) -> int | None:
        """Take (or keep) the lease: the position to read from, or None while another
        process holds it."""
        now = self.clock()
        async with self.db.transaction() as session:
            await session.execute(
                self.db.insert(Poller)
                .values(name=self.name, holder=None, lease_until=None, position=0, updated_at=now)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            holder = await session.scalar(select(Poller.holder).where(Poller.name == self.name))
            free = or_(Poller.holder.is_(None), Poller.holder == self.holder, Poller.lease_until < now)
            if dead_here(holder):  # compared again in the UPDATE: taken only from that holder
                free = or_(free, Poller.holder == holder)
            taken = await session.execute(
                update(Poller)
                .where(Poller.name == self.name, free)
                .values(holder=self.holder, lease_until=now + self.lease, updated_at=now)
            )
            if not int(getattr(taken, "rowcount", 0) or 0):
                return None
            position = await session.scalar(select(Poller.position).where(Poller.name == self.name))
        return int(position or 0)

    async def advance(self, position: int) -> bool:
        """Record how far reading got and renew the lease; False if the lease was lost
        (another process holds it now), and then nothing was written."""
        now = self.clock()
        async with self.db.transaction() as session:
            result = await session.execute(
                update(Poller)
                .where(Poller.name == self.name, Poller.holder == self.holder)
                .values(position=position, lease_until=now + self.lease, updated_at=now)
            )
        return bool(int(getattr(result, "rowcount", 0) or 0))

    async def release(self) -> None:
        """Give the lease up at once (a clean shutdown), so the next reader need not wait."""
        async with self.db.transaction() as session:
            await session.execute(
                update(Poller)
                .where(Poller.name == self.name, Poller.holder == self.holder)
                .values(holder=None, lease_until=None, updated_at=self.clock())
            )
