"""When a platform says an address is gone or has moved.

A resident who blocked the bot, or a group that removed it, must stop getting updates
at once: every further message would be refused too, one attempt each, and retrying
them would only anger the platform. A group that became a supergroup has a new chat id,
and its conversation, its subscriptions and its waiting messages follow it.
"""

from __future__ import annotations

import logging

from sqlalchemy import and_, delete, exists, update
from sqlalchemy.orm import aliased

from bot.db import Database
from bot.models import OUTBOX_WAITING_STATUSES, Conversation, OutboxMessage, Subscription

log = logging.getLogger(__name__)


async def stopped(db: Database, channel: str, address: str, reason: str) -> int:
    """No more updates to this address: its subscriptions end and the messages waiting
    for it are kept as failed, with the reason. Returns how many messages were waiting."""
    async with db.transaction() as session:
        await session.execute(
            update(Subscription)
            .where(Subscription.channel == channel, Subscription.address == address)
            .values(active=False)
        )
        result = await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.channel == channel,
                OutboxMessage.address == address,
                OutboxMessage.status == "pending",
            )
            .values(status="failed", last_error=reason[:2000], lease_until=None)
        )
    waiting = int(getattr(result, "rowcount", 0) or 0)
    log.info(
        "%s: an address stopped receiving (%s); %d waiting messages kept as failed", channel, reason, waiting
    )
    return waiting


async def moved(db: Database, channel: str, old: str, new: str) -> None:
    """The address changed (a group upgraded to a supergroup): what was the old one's is
    the new one's. Where the new address already has its own (a conversation, a report it
    follows), that stays and the old one's is dropped."""
    if old == new:
        return
    async with db.transaction() as session:
        taken = exists().where(Conversation.channel == channel, Conversation.address == new)
        await session.execute(
            update(Conversation)
            .where(Conversation.channel == channel, Conversation.address == old, ~taken)
            .values(address=new)
        )
        other = aliased(Subscription)
        already = exists().where(
            and_(other.channel == channel, other.address == new, other.report_id == Subscription.report_id)
        )
        await session.execute(
            delete(Subscription).where(Subscription.channel == channel, Subscription.address == old, already)
        )
        await session.execute(
            update(Subscription)
            .where(Subscription.channel == channel, Subscription.address == old)
            .values(address=new)
        )
        await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.channel == channel,
                OutboxMessage.address == old,
                OutboxMessage.status.in_(OUTBOX_WAITING_STATUSES),
            )
            .values(address=new)
        )
    log.info("%s: an address moved; its conversation, subscriptions and waiting messages follow", channel)
