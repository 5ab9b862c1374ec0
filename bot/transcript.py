"""Channels whose messages are read from the transcript (web chat, terminal).

Delivering to them later (status updates, staff replies) is writing a row
the open page or terminal then picks up; no process memory is involved.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.channel import DeliveryError
from bot.db import Database
from bot.messages import Capabilities, Outgoing
from bot.models import Conversation, TranscriptMessage
from bot.timeutil import utcnow


class TranscriptChannel:
    def __init__(self, name: str, db: Database, capabilities: Capabilities) -> None:
        self.name = name
        self.db = db
        self.capabilities = capabilities

    async def send(self, address: str, message: Outgoing) -> None:
        async with self.db.transaction() as session:
            conversation_id = await session.scalar(
                select(Conversation.id).where(
                    Conversation.channel == self.name, Conversation.address == address
                )
            )
            if conversation_id is None:
                raise DeliveryError(f"no {self.name} conversation {address}", permanent=True)
            session.add(
                TranscriptMessage(
                    conversation_id=conversation_id,
                    direction="out",
                    # "later": delivered after its turn (a status update, a staff reply), so a
                    # channel that shows the transcript can tell what the resident has not seen.
                    payload={"from": "bot", "later": True, **message.to_json()},
                    created_at=utcnow(),
                )
            )


async def messages_after(
    db: Database, channel: str, address: str, after: int = 0, limit: int = 500
) -> list[TranscriptMessage]:
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
        return list(rows.all())


async def latest_messages(
    db: Database, channel: str, address: str, limit: int = 100
) -> list[TranscriptMessage]:
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
        return list(reversed(rows.all()))
