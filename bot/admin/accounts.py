"""Admin accounts: argon2id password hashes, roles, and the checks a sign-in needs.

Hashing takes tens of milliseconds of CPU by design, so it runs in a thread: a sign-in
must not stall every resident's chat on the same event loop.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import AdminSession, AdminUser

ROLES = ("admin", "editor")
MIN_PASSWORD = 10
MAX_PASSWORD = 1000  # argon2 hashes anything, but a megabyte "password" is an attack
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s.]{1,63}$")

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified when the email is unknown, so a wrong email takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not anybody's password")


class AccountError(ValueError):
    """Something about an account that the person can fix; `str()` says what."""


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    email: str
    role: str
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _account(row: AdminUser) -> Account:
    return Account(row.id, row.email, row.role, row.created_at)


def clean_email(raw: str) -> str:
    email = raw.strip().lower()
    if not EMAIL.match(email):
        raise AccountError(f"'{raw.strip()}' is not an email address")
    return email


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"role '{role}' is not one of: {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password is too short: use at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password is too long: use at most {MAX_PASSWORD} characters")
    if not password.strip():
        raise AccountError("the password is only spaces")
    return password


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, check_password(password))


async def password_matches(stored_hash: str | None, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(stored_hash or _DUMMY_HASH, password[:MAX_PASSWORD]) and bool(stored_hash)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


async def find(session: AsyncSession, email: str) -> AdminUser | None:
    return await session.scalar(select(AdminUser).where(AdminUser.email == email.strip().lower()))


async def get(session: AsyncSession, user_id: int) -> Account | None:
    row = await session.get(AdminUser, user_id)
    return _account(row) if row is not None else None


async def add(session: AsyncSession, email: str, role: str, password_hash: str, now: datetime) -> Account:
    email, role = clean_email(email), check_role(role)
    if await find(session, email) is not None:
        raise AccountError(f"there is already an account for {email}")
    row = AdminUser(
        email=email, role=role, password_hash=password_hash, created_at=now, password_changed_at=now
    )
    session.add(row)
    await session.flush()
    return _account(row)


async def set_password(session: AsyncSession, email: str, password_hash: str, now: datetime) -> Account:
    """A new password signs the account out everywhere: whoever knew the old one is out."""
    row = await _existing(session, email)
    row.password_hash, row.password_changed_at = password_hash, now
    await session.execute(delete(AdminSession).where(AdminSession.user_id == row.id))
    return _account(row)


async def set_role(session: AsyncSession, email: str, role: str) -> Account:
    row = await _existing(session, email)
    role = check_role(role)
    if row.role == "admin" and role != "admin":
        await _keep_one_admin(session, row)
    row.role = role
    return _account(row)


async def remove(session: AsyncSession, email: str) -> Account:
    row = await _existing(session, email)
    if row.role == "admin":
        await _keep_one_admin(session, row)
    account = _account(row)
    await session.execute(delete(AdminSession).where(AdminSession.user_id == row.id))
    await session.delete(row)
    return account


async def everyone(session: AsyncSession) -> list[Account]:
    rows = (await session.scalars(select(AdminUser).order_by(AdminUser.email))).all()
    return [_account(r) for r in rows]


async def _existing(session: AsyncSession, email: str) -> AdminUser:
    row = await find(session, email)
    if row is None:
        raise AccountError(f"there is no account for {email.strip().lower()}")
    return row


async def _keep_one_admin(session: AsyncSession, row: AdminUser) -> None:
    """The last admin cannot be removed or demoted: nobody could manage users after."""
    admins = await session.scalar(
        select(func.count()).select_from(AdminUser).where(AdminUser.role == "admin", AdminUser.id != row.id)
    )
    if not admins:
        raise AccountError(f"{row.email} is the only admin; make another admin first")
