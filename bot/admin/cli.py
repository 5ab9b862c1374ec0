"""`civic311 admin`: the admin pages' accounts from a shell, for the first admin (nobody
can sign in to add one yet) and for whoever lost the last admin's password.

Every change goes through the same domain (`accounts`) as the pages and writes its audit
row, actor "cli", in the change's own transaction. What is wrong is an `AccountError`,
which `bot.cli` prints as one line; nothing is changed then.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, tzinfo
from typing import TextIO

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.admin import accounts, audit
from bot.admin.accounts import AccountError
from bot.db import Database
from bot.models import AdminSession
from bot.timeutil import utcnow

ACTOR = "cli"
NO_ACCOUNTS = "No accounts yet. Add one with: civic311 admin add-user EMAIL --role admin"

Prompt = Callable[[str], str]


def read_password(email: str, *, stdin: TextIO | None = None, prompt: Prompt = getpass.getpass) -> str:
    """Typed twice at a terminal, where a typo would lock the account's owner out; one line
    of standard input otherwise, so a script or a secret store can pipe it in without it
    ever being on a command line (where `ps` and shell history would show it)."""
    stdin = sys.stdin if stdin is None else stdin
    if stdin is not None and stdin.isatty():
        try:
            first = prompt(f"Password for {email}: ")
            accounts.check_password(first)  # before the second prompt: say it at once
            again = prompt("The same password again: ")
        except EOFError:
            raise AccountError("no password given: nothing changed") from None
        if first != again:
            raise AccountError("the two passwords do not match: nothing changed")
        return first
    line = stdin.readline() if stdin is not None else ""
    if not line:
        raise AccountError("no password on standard input: type it at a terminal, or pipe one line in")
    # The line's end only: spaces are the password's own.
    return line.removesuffix("\n").removesuffix("\r")


async def add_user(args: argparse.Namespace, db: Database) -> str:
    email, role = accounts.clean_email(args.email), accounts.check_role(args.role)
    async with db.reading() as session:  # before the prompt: no password typed for nothing
        if await accounts.find(session, email) is not None:
            raise AccountError(f"there is already an account for {email}")
    # Hashed before the transaction: on SQLite it holds the one write lock.
    hashed = await accounts.hash_password(read_password(email))
    now = utcnow()
    try:
        async with db.transaction() as session:
            account = await accounts.add(session, email, role, hashed, now)
            audit.record(session, ACTOR, "user.add", account.email, now=now, role=account.role)
    except IntegrityError:  # added by someone else while the password was typed
        raise AccountError(f"there is already an account for {email}") from None
    return f"added {account.email} ({account.role})"


async def set_password(args: argparse.Namespace, db: Database) -> str:
    email = args.email.strip().lower()
    async with db.reading() as session:
        if await accounts.find(session, email) is None:
            raise AccountError(f"there is no account for {email}")
    hashed = await accounts.hash_password(read_password(email))
    now = utcnow()
    async with db.transaction() as session:
        row = await accounts.find(session, email)
        ended = 0
        if row is not None:  # gone meanwhile: `set_password` says so
            ended = int(
                await session.scalar(
                    select(func.count()).select_from(AdminSession).where(AdminSession.user_id == row.id)
                )
                or 0
            )
        account = await accounts.set_password(session, email, hashed, now)
        audit.record(session, ACTOR, "user.password", account.email, now=now, sessions_ended=ended)
    return f"new password for {account.email}; {ended} signed-in session(s) ended"


async def set_role(args: argparse.Namespace, db: Database) -> str:
    role = accounts.check_role(args.role)
    now = utcnow()
    async with db.transaction() as session:
        before = await accounts.find(session, args.email)
        was = before.role if before is not None else None
        account = await accounts.set_role(session, args.email, role)
        if was == account.role:
            return f"{account.email} is already {account.role}"
        audit.record(session, ACTOR, "user.role", account.email, now=now, old=was, new=account.role)
    return f"{account.email} is now {account.role} (was {was})"


async def remove_user(args: argparse.Namespace, db: Database) -> str:
    now = utcnow()
    async with db.transaction() as session:
        account = await accounts.remove(session, args.email)
        audit.record(session, ACTOR, "user.remove", account.email, now=now, role=account.role)
    return f"removed {account.email} ({account.role})"


async def list_users(db: Database, time_zone: tzinfo) -> str:
    async with db.reading() as session:
        everyone = await accounts.everyone(session)
    if not everyone:
        return NO_ACCOUNTS
    width = max(len(a.email) for a in everyone)
    return "\n".join(
        f"{a.email:<{width}}  {a.role:<6}  created {a.created_at.astimezone(time_zone):%Y-%m-%d}"
        for a in everyone
    )


_CHANGES: dict[str, Callable[[argparse.Namespace, Database], Awaitable[str]]] = {
    "add-user": add_user,
    "set-password": set_password,
    "set-role": set_role,
    "remove-user": remove_user,
}


async def run(args: argparse.Namespace, db: Database, *, time_zone: tzinfo = UTC) -> int:
    """`time_zone`: the city's, so an account made late in the evening is listed with the
    date its maker saw."""
    if args.admin_command == "list-users":
        print(await list_users(db, time_zone))
    else:
        print(await _CHANGES[args.admin_command](args, db))
    return 0
