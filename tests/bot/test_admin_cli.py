"""`civic311 admin` as an operator runs it: real processes on each backend, the password
piped in as one line (the terminal's two prompts are checked in this process)."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from bot.admin import accounts, signin
from bot.admin.accounts import AccountError
from bot.admin.cli import NO_ACCOUNTS, read_password, run
from bot.cli import _parser
from bot.db import Database
from bot.migrate import upgrade
from bot.models import AdminSession, AdminUser, AuditEntry
from bot.settings import load_settings
from bot.timeutil import utcnow

pytestmark = pytest.mark.slow  # a process per command, as tests/bot/test_cli.py

PASSWORD = " correct horse battery "  # its spaces are the password's own


@dataclass
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture
async def accounts_db(database_url: str) -> AsyncIterator[Database]:
    """Migrated here: a PostgreSQL database is never upgraded by a command but `db upgrade`."""
    db = Database(database_url)
    await upgrade(db)
    try:
        yield db
    finally:
        await db.dispose()


async def civic311(db: Database, *args: str, stdin: str = "") -> Ran:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "admin",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "DATABASE_URL": db.url},
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=120)
    return Ran(process.returncode or 0, out.decode(), err.decode())


def said_one_line(ran: Ran, *words: str) -> bool:
    lines = ran.err.strip().splitlines()
    return (
        ran.code == 1
        and len(lines) == 1
        and lines[0].startswith("civic311: ")
        and all(w in lines[0] for w in words)
        and not ran.out
    )


async def audit_rows(db: Database) -> list[tuple[str, str, str]]:
    async with db.reading() as session:
        rows = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
        return [(r.actor, r.action, r.subject) for r in rows]


async def add(db: Database, email: str, role: str) -> accounts.Account:
    hashed = await accounts.hash_password(PASSWORD)
    async with db.transaction() as session:
        return await accounts.add(session, email, role, hashed, utcnow())


async def stored_hash(db: Database, email: str) -> str | None:
    async with db.reading() as session:
        row = await accounts.find(session, email)
        return row.password_hash if row is not None else None


async def test_add_user_from_stdin_then_list_users(accounts_db: Database) -> None:
    empty = await civic311(accounts_db, "list-users")
    assert empty.code == 0 and empty.out.strip() == NO_ACCOUNTS, empty.err

    added = await civic311(
        accounts_db, "add-user", " Ana@City.Example", "--role", "admin", stdin=PASSWORD + "\nignored\n"
    )
    assert added.code == 0 and added.out.strip() == "added ana@city.example (admin)", added.err
    hashed = await stored_hash(accounts_db, "ana@city.example")
    assert hashed is not None and hashed.startswith("$argon2id$")
    assert await accounts.password_matches(hashed, PASSWORD)  # the newline cut, nothing else
    assert not await accounts.password_matches(hashed, PASSWORD.strip())
    assert await audit_rows(accounts_db) == [("cli", "user.add", "ana@city.example")]

    listed = await civic311(accounts_db, "list-users")
    assert listed.code == 0, listed.err
    [line] = listed.out.splitlines()
    city_day = utcnow().astimezone(load_settings(_env_file=None).time_zone)  # the city's date
    assert line.split() == ["ana@city.example", "admin", "created", f"{city_day:%Y-%m-%d}"]


async def test_refusals_are_one_line_and_change_nothing(
    accounts_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add(accounts_db, "ana@city.example", "admin")
    before = await stored_hash(accounts_db, "ana@city.example")
    # Nothing is changed by any of them, so they may run at once.
    duplicate, weak, unknown = await asyncio.gather(
        civic311(accounts_db, "add-user", "ANA@city.example", "--role", "editor", stdin="long enough pw\n"),
        civic311(accounts_db, "add-user", "bo@city.example", "--role", "editor", stdin="short\n"),
        civic311(accounts_db, "set-password", "nobody@city.example", stdin="long enough pw\n"),
    )
    assert said_one_line(duplicate, "already an account for ana@city.example"), duplicate
    assert said_one_line(weak, "too short", str(accounts.MIN_PASSWORD)), weak
    assert said_one_line(unknown, "no account for nobody@city.example"), unknown
    # The same way to stderr, so the rest in this process: a second of start-up each saved.
    for argv, stdin, words in (
        (["add-user", "bo@city.example", "--role", "boss"], "long enough pw\n", "'boss' is not one of"),
        (["add-user", "not-an-email", "--role", "editor"], "long enough pw\n", "not an email address"),
        (["add-user", "bo@city.example", "--role", "editor"], "\n", "too short"),
        (["set-password", "ana@city.example"], "", "no password on standard input"),
    ):
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        with pytest.raises(AccountError, match=words):
            await run(_parser(["admin"]).parse_args(["admin", *argv]), accounts_db)
    async with accounts_db.reading() as session:
        assert [a.email for a in await accounts.everyone(session)] == ["ana@city.example"]
    assert await stored_hash(accounts_db, "ana@city.example") == before
    assert await audit_rows(accounts_db) == []


async def test_set_password_ends_sessions_and_the_last_admin_stays(
    accounts_db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    ana = await add(accounts_db, "ana@city.example", "admin")
    await add(accounts_db, "bo@city.example", "editor")
    now = utcnow()
    async with accounts_db.transaction() as session:
        tokens = [await signin.start(session, ana, address=a, now=now) for a in ("1.1.1.1", "2.2.2.2")]

    changed = await civic311(accounts_db, "set-password", "ana@city.example", stdin="a new passphrase\r\n")
    assert changed.code == 0, changed.err
    assert changed.out.strip() == "new password for ana@city.example; 2 signed-in session(s) ended"
    hashed = await stored_hash(accounts_db, "ana@city.example")
    assert await accounts.password_matches(hashed, "a new passphrase")
    assert not await accounts.password_matches(hashed, PASSWORD)
    async with accounts_db.reading() as session:
        assert [await signin.resolve(session, t, utcnow()) for t in tokens] == [None, None]
        assert await session.scalar(select(func.count()).select_from(AdminSession)) == 0

    for refused in await asyncio.gather(
        civic311(accounts_db, "remove-user", "ana@city.example"),
        civic311(accounts_db, "set-role", "ana@city.example", "--role", "editor"),
    ):
        assert said_one_line(refused, "ana@city.example is the only admin"), refused

    for argv, said in (  # in this process: the commands' way out is the one seen above
        (["set-role", "bo@city.example", "--role", "admin"], "bo@city.example is now admin (was editor)"),
        (["set-role", "bo@city.example", "--role", "admin"], "bo@city.example is already admin"),
        (["remove-user", "ana@city.example"], "removed ana@city.example (admin)"),
    ):
        assert await run(_parser(["admin"]).parse_args(["admin", *argv]), accounts_db) == 0
        assert capsys.readouterr().out.strip() == said

    async with accounts_db.reading() as session:
        assert [(u.email, u.role) for u in (await session.scalars(select(AdminUser))).all()] == [
            ("bo@city.example", "admin")
        ]
    assert await audit_rows(accounts_db) == [
        ("cli", "user.password", "ana@city.example"),
        ("cli", "user.role", "bo@city.example"),
        ("cli", "user.remove", "ana@city.example"),
    ]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_at_a_terminal_the_password_is_typed_twice() -> None:
    def typing(*answers: str) -> tuple[list[str], Callable[[str], str]]:
        asked: list[str] = []
        given = iter(answers)

        def prompt(text: str) -> str:
            asked.append(text)
            return next(given)

        return asked, prompt

    asked, prompt = typing("long enough pw", "long enough pw")
    assert read_password("ana@city.example", stdin=Terminal(), prompt=prompt) == "long enough pw"
    assert asked == ["Password for ana@city.example: ", "The same password again: "]

    asked, prompt = typing("long enough pw", "long enough pq")
    with pytest.raises(AccountError, match="do not match"):
        read_password("ana@city.example", stdin=Terminal(), prompt=prompt)

    asked, prompt = typing("short")  # said at once, not after typing it again
    with pytest.raises(AccountError, match="too short"):
        read_password("ana@city.example", stdin=Terminal(), prompt=prompt)
    assert len(asked) == 1

    def end_of_input(text: str) -> str:
        raise EOFError

    with pytest.raises(AccountError, match="no password"):
        read_password("ana@city.example", stdin=Terminal(), prompt=end_of_input)
