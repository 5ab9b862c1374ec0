"""Web chat sessions: an unguessable bearer token; the database keeps only its hash."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select, update

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
    async with db.transaction() as session:
        session.add(
            WebSession(token_hash=token_hash(token), address=address, created_at=now, last_seen_at=now)
        )
    return token, address


async def resolve(db: Database, token: str | None) -> str | None:
    """The conversation address of a token, or None for an unknown or malformed one."""
    if not token or len(token) > 200:
        return None
    async with db.reading() as session:
        return await session.scalar(
            select(WebSession.address).where(WebSession.token_hash == token_hash(token))
        )


async def touch(db: Database, address: str) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(WebSession).where(WebSession.address == address).values(last_seen_at=utcnow())
        )
