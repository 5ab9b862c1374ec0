"""Signing in to the admin pages: throttled password checks and sessions kept as rows.

A session is a random token in an HttpOnly cookie; the database keeps its hash, the
account, a CSRF token for the session's forms, and when it ends. Rows rather than signed
cookies, so signing out (here or everywhere) takes effect in every process at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin import accounts
from bot.admin.accounts import Account
from bot.db import Database, upsert_insert
from bot.models import AdminSession, AdminUser, RateCounter

SESSION_HOURS = 12  # a session ends this long after signing in, however busy
IDLE = timedelta(hours=2)  # and this long after its last page
TOUCH_EVERY = timedelta(minutes=5)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")

# Failed sign-ins allowed per window before that account, or that address, must wait.
WINDOW = timedelta(minutes=15)
PER_ACCOUNT = 5
PER_ADDRESS = 20


@dataclass(frozen=True, slots=True)
class SignedIn:
    account: Account
    csrf_token: str
    token_hash: str


class Throttled(Exception):
    def __init__(self, wait: timedelta) -> None:
        super().__init__(wait)
        self.wait = wait

    @property
    def minutes(self) -> int:
        return max(1, round(self.wait.total_seconds() / 60))


def hashed(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _keys(email: str, address: str) -> tuple[str, str]:
    # What may be stored: PostgreSQL refuses a NUL, and a typed email may hold anything.
    email = "".join(ch for ch in email if ch.isprintable())
    return f"admin-login:account:{email.strip().lower()[:150]}", f"admin-login:address:{address[:100]}"


async def _wait(session: AsyncSession, key: str, limit: int, now: datetime) -> timedelta | None:
    row = await session.get(RateCounter, key)
    if row is None or now - row.window_start >= WINDOW or row.count < limit:
        return None
    return row.window_start + WINDOW - now


async def _count_failure(session: AsyncSession, key: str, now: datetime) -> None:
    """One statement, so failures tried at the same moment are all counted."""
    stale = RateCounter.window_start <= now - WINDOW
    insert = upsert_insert(session, RateCounter).values(key=key, window_start=now, count=1)
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["key"],
            set_={
                "count": case((stale, 1), else_=RateCounter.count + 1),
                "window_start": case((stale, now), else_=RateCounter.window_start),
            },
        )
    )


def plausible_token(value: str | None) -> bool:
    """What `secrets.token_urlsafe(32)` makes; anything else (bytes no browser sends, a
    megabyte) is no session, without touching the database."""
    return bool(value) and _TOKEN.fullmatch(value or "") is not None


async def check_password(
    db: Database, email: str, password: str, *, address: str, now: datetime
) -> Account | None:
    """The account if the password is right; None if not (counted against the account and
    the address). Raises Throttled, without checking, while either has failed too often:
    guessing is slowed for one account from many places, and many accounts from one place.
    The password is verified between two short transactions: argon2 takes a fifth of a
    second, and on SQLite no resident's turn should wait for it."""
    account_key, address_key = _keys(email, address)
    well_formed = accounts.EMAIL.match(email.strip()) is not None and email.isprintable()
    async with db.reading() as session:
        waits = [
            w
            for w in (
                await _wait(session, account_key, PER_ACCOUNT, now),
                await _wait(session, address_key, PER_ADDRESS, now),
            )
            if w is not None
        ]
        row = await accounts.find(session, email) if well_formed and not waits else None
        found = Account(row.id, row.email, row.role, row.created_at) if row else None
        stored = row.password_hash if row else None
    if waits:
        raise Throttled(max(waits))
    matches = await accounts.password_matches(stored, password)
    async with db.transaction() as session:
        if matches and found is not None:
            await session.execute(delete(RateCounter).where(RateCounter.key == account_key))
            return found
        if well_formed:
            await _count_failure(session, account_key, now)
        await _count_failure(session, address_key, now)
    return None


async def start(session: AsyncSession, account: Account, *, address: str, now: datetime) -> str:
    """A new session for the account; returns the token for the cookie."""
    token = secrets.token_urlsafe(32)
    session.add(
        AdminSession(
            token_hash=hashed(token),
            user_id=account.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=SESSION_HOURS),
            address=address[:64],
        )
    )
    return token


async def resolve(session: AsyncSession, token: str | None, now: datetime) -> SignedIn | None:
    """Who a cookie signs in, or None for an unknown, expired or idle session."""
    if token is None or not plausible_token(token):
        return None
    key = hashed(token)
    found = (
        await session.execute(
            select(AdminSession, AdminUser).join(AdminUser).where(AdminSession.token_hash == key)
        )
    ).first()
    if found is None:
        return None
    row, user = found
    if row.expires_at <= now or row.last_seen_at <= now - IDLE:
        await session.execute(delete(AdminSession).where(AdminSession.token_hash == key))
        return None
    if row.last_seen_at < now - TOUCH_EVERY:
        await session.execute(
            update(AdminSession).where(AdminSession.token_hash == key).values(last_seen_at=now)
        )
    return SignedIn(Account(user.id, user.email, user.role, user.created_at), row.csrf_token, key)


async def end(session: AsyncSession, token_hash: str) -> None:
    await session.execute(delete(AdminSession).where(AdminSession.token_hash == token_hash))


async def end_everywhere(session: AsyncSession, user_id: int) -> int:
    result = await session.execute(delete(AdminSession).where(AdminSession.user_id == user_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def sweep(session: AsyncSession, now: datetime) -> None:
    await session.execute(
        delete(AdminSession).where(
            (AdminSession.expires_at <= now) | (AdminSession.last_seen_at <= now - IDLE)
        )
    )
