"""Signing in to the admin pages: throttled password checks and sessions kept as rows.

A session is a random token in an HttpOnly cookie; the database keeps its hash, the
account, a CSRF token for the session's forms, and when it ends. Rows rather than signed
cookies, so signing out (here or everywhere) takes effect in every process at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin import accounts
from bot.admin.accounts import Account
from bot.models import AdminSession, AdminUser, RateCounter

SESSION_HOURS = 12  # a session ends this long after signing in, however busy
IDLE = timedelta(hours=2)  # and this long after its last page
TOUCH_EVERY = timedelta(minutes=5)

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
    return f"admin-login:account:{email.strip().lower()[:150]}", f"admin-login:address:{address[:100]}"


async def _wait(session: AsyncSession, key: str, limit: int, now: datetime) -> timedelta | None:
    row = await session.get(RateCounter, key)
    if row is None or now - row.window_start >= WINDOW or row.count < limit:
        return None
    return row.window_start + WINDOW - now


async def _count_failure(session: AsyncSession, key: str, now: datetime) -> None:
    row = await session.get(RateCounter, key)
    if row is None:
        session.add(RateCounter(key=key, window_start=now, count=1))
    elif now - row.window_start >= WINDOW:
        row.window_start, row.count = now, 1
    else:
        row.count += 1


async def check_password(
    session: AsyncSession, email: str, password: str, *, address: str, now: datetime
) -> Account | None:
    """The account if the password is right; None if not (counted against the account and
    the address). Raises Throttled, without checking, while either has failed too often:
    guessing is slowed for one account from many places, and many accounts from one place."""
    account_key, address_key = _keys(email, address)
    waits = [
        w
        for w in (
            await _wait(session, account_key, PER_ACCOUNT, now),
            await _wait(session, address_key, PER_ADDRESS, now),
        )
        if w is not None
    ]
    if waits:
        raise Throttled(max(waits))
    row = await accounts.find(session, email)
    if await accounts.password_matches(row.password_hash if row else None, password) and row:
        await session.execute(delete(RateCounter).where(RateCounter.key == account_key))
        return Account(row.id, row.email, row.role, row.created_at)
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
    if not token or len(token) > 200:
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
