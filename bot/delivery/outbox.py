"""The outbox's rows: what a turn or a status change leaves to be sent after it commits.

Writing the row in the same transaction as the change it reports (a filed report, a
new status) is what makes delivery at-least-once: either both are stored or neither.
The worker (`bot.delivery.worker`) sends them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.messages import Outgoing
from bot.models import OutboxMessage


@dataclass(frozen=True, slots=True)
class Later:
    """A message for the outbox: to this or another conversation, sent after commit."""

    channel: str
    address: str
    message: Outgoing


def enqueue(session: AsyncSession, later: Later, now: datetime) -> None:
    """Add the message to the session's transaction, due at once."""
    session.add(
        OutboxMessage(
            channel=later.channel,
            address=later.address,
            payload=later.message.to_json(),
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
