"""Channels whose messages are read from the transcript (web chat, terminal).

Delivering to them later (status updates, staff replies) is writing a row
the open page or terminal then picks up; no process memory is involved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from bot.db import Database
from bot.delivery.channel import DeliveryError
from bot.messages import Capabilities, Outgoing
from bot.models import Conversation, TranscriptMessage
from bot.timeutil import utcnow


@dataclass(slots=True)
class TranscriptEntry:
    """One message of a conversation as a channel shows it: who said it, and what."""

    id: int
    direction: str  # "in" from the resident, "out" from the bot or staff
    payload: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, row: TranscriptMessage) -> TranscriptEntry:
        return cls(id=row.id, direction=row.direction, payload=dict(row.payload), created_at=row.created_at)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "direction": self.direction, **self.payload, "at": self.created_at.isoformat()}


class TranscriptChannel:
    def __init__(
        self,
        name: str,
        db: Database,
        capabilities: Capabilities,
        written: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.db = db
        self.capabilities = capabilities
        self.written = written  # told after each message is committed (wakes open pages)

    async def send(self, address: str, message: Outgoing) -> None:
        (error,) = await self.send_batch([(address, message)])
        if error is not None:
            raise error

    async def send_batch(self, messages: Sequence[tuple[str, Outgoing]]) -> list[DeliveryError | None]:
        """All in one transaction: a backlog of status updates costs one write a batch,
        not one a message. An address with no conversation is refused for good."""
        now = utcnow()
        async with self.db.transaction() as conn:  # queued with this process's other writers
            found = await conn.execute(
                select(Conversation.address, Conversation.id).where(
                    Conversation.channel == self.name,
                    Conversation.address.in_({address for address, _ in messages}),
                )
            )
            conversations: dict[str, int] = {address: id_ for address, id_ in found.all()}
            rows = [
                {
                    "conversation_id": conversations[address],
                    "direction": "out",
                    # "later": delivered after its turn (a status update, a staff reply), so a
                    # channel that shows the transcript can tell what the resident has not seen.
                    "payload": {"from": "bot", "later": True, **message.to_json()},
                    "created_at": now,
                }
                for address, message in messages
                if address in conversations
            ]
            if rows:
                await conn.execute(insert(TranscriptMessage), rows)
        if self.written is not None:
            self.written()  # committed: open pages of this process read them now
        return [
            None
            if address in conversations
            else DeliveryError(f"no {self.name} conversation {address}", permanent=True)
            for address, _ in messages
        ]


async def messages_after(
    db: Database, channel: str, address: str, after: int = 0, limit: int = 500
) -> list[TranscriptEntry]:
    async with db.reading() as session:
        rows = await session.scalars(
            select(TranscriptMessage)
            .join(Conversation)
            .where(
                Conversation.channel == channel, Conversation.address == address, TranscriptMessage.id > after
            )
            .order_by(TranscriptMessage.id)
            .limit(limit)
        )
        return [TranscriptEntry.of(r) for r in rows.all()]


async def latest_messages(
    db: Database, channel: str, address: str, limit: int = 100
) -> list[TranscriptEntry]:
    """The newest `limit` messages of a conversation, oldest first (where a returning
    resident picks up; `messages_after(0)` would be the oldest ones instead)."""
    async with db.reading() as session:
        rows = await session.scalars(
            select(TranscriptMessage)
            .join(Conversation)
            .where(Conversation.channel == channel, Conversation.address == address)
            .order_by(TranscriptMessage.id.desc())
            .limit(limit)
        )
        return [TranscriptEntry.of(r) for r in reversed(rows.all())]
