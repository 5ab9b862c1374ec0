"""Web chat sessions: an unguessable bearer token; the database keeps only its hash.

A session unused for `max_idle` (WEBCHAT_SESSION_DAYS) no longer opens its conversation:
a token left in a shared or lost browser does not open a resident's history for ever.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.models import WebSession
from bot.timeutil import utcnow

TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def create(db: Database) -> tuple[str, str]:
    """A new session: (token for the browser, conversation address)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    address = "w-" + secrets.token_hex(12)
    now = utcnow()

    async def add(session: AsyncSession) -> None:
        session.add(
            WebSession(token_hash=token_hash(token), address=address, created_at=now, last_seen_at=now)
        )

    await db.run(add)
    return token, address


TOUCH_EVERY = timedelta(hours=1)  # how stale last_seen_at may get: one write an hour, not one a message


async def resolve(
    db: Database, token: str | None, *, max_idle: timedelta | None = None, seen: bool = False
) -> str | None:
    """The conversation address of a token, or None for an unknown, malformed or expired one.
    `seen`: the resident is writing, so the idle time starts again (a write at most hourly;
    in between this stays a read)."""
    if not token or len(token) > 200:
        return None
    hashed = token_hash(token)

    async def find(session: AsyncSession) -> Row[str, datetime] | None:
        query = select(WebSession.address, WebSession.last_seen_at).where(WebSession.token_hash == hashed)
        return (await session.execute(query)).first()

    row = await db.run(find, read_only=True)
    if row is None:
        return None
    address, last_seen = row
    now = utcnow()
    if max_idle is not None and last_seen <= now - max_idle:
        return None
    if seen and last_seen < now - TOUCH_EVERY:

        async def touch(session: AsyncSession) -> None:
            await session.execute(
                update(WebSession).where(WebSession.token_hash == hashed).values(last_seen_at=now)
            )

        await db.run(touch)
    return str(address)
