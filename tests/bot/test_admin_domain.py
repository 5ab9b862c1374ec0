"""The admin side's domain, without pages: accounts, throttled sign-in, sessions, and entry
revisions with restore (the pages themselves come with issue 13's handlers)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.admin import accounts, entries, signin
from bot.db import Database
from bot.models import AuditEntry
from bot.timeutil import utcnow


async def _account(db: Database, email: str = "ana@city.example", role: str = "editor") -> accounts.Account:
    hashed = await accounts.hash_password("correct horse battery")
    async with db.transaction() as session:
        return await accounts.add(session, email, role, hashed, utcnow())


async def test_passwords_are_argon2id_and_checked(db: Database) -> None:
    await _account(db)
    async with db.transaction() as session:
        row = await accounts.find(session, "ANA@city.example ")
        assert row is not None and row.password_hash.startswith("$argon2id$")
    ok = await signin.check_password(
        db, "ana@city.example", "correct horse battery", address="1.2.3.4", now=utcnow()
    )
    wrong = await signin.check_password(db, "ana@city.example", "nope", address="1.2.3.4", now=utcnow())
    nobody = await signin.check_password(db, "bo@city.example", "x", address="1.2.3.4", now=utcnow())
    odd = await signin.check_password(db, "ana\x00@city.example", "x", address="1.2.3.4", now=utcnow())
    assert odd is None
    assert ok is not None and ok.email == "ana@city.example"
    assert wrong is None and nobody is None


@pytest.mark.parametrize("bad", ["short", " " * 12, "x" * 1001])
async def test_a_weak_password_is_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(accounts.AccountError, match="password"):
        await accounts.hash_password(bad)


async def test_failed_sign_ins_are_throttled_per_account_even_with_the_right_password(db: Database) -> None:
    await _account(db)
    now = utcnow()
    guesses = [
        signin.check_password(db, "ana@city.example", f"guess {n}", address=f"10.0.0.{n}", now=now)
        for n in range(signin.PER_ACCOUNT)
    ]
    assert await asyncio.gather(*guesses) == [None] * signin.PER_ACCOUNT  # at once: all counted
    with pytest.raises(signin.Throttled) as throttled:
        await signin.check_password(
            db, "ana@city.example", "correct horse battery", address="10.0.1.1", now=now
        )
    assert 1 <= throttled.value.minutes <= 15
    later = now + signin.WINDOW + timedelta(seconds=1)
    assert await signin.check_password(
        db, "ana@city.example", "correct horse battery", address="10.0.1.1", now=later
    )


async def test_sessions_expire_and_end_everywhere(db: Database) -> None:
    account = await _account(db)
    now = utcnow()
    async with db.transaction() as session:
        one = await signin.start(session, account, address="1.1.1.1", now=now)
        two = await signin.start(session, account, address="2.2.2.2", now=now)
    async with db.transaction() as session:
        assert (await signin.resolve(session, one, now)) is not None
        assert await signin.resolve(session, one, now + signin.IDLE + timedelta(minutes=1)) is None
        assert await signin.end_everywhere(session, account.id) == 1  # the idle one is already gone
        assert await signin.resolve(session, two, now) is None
        assert await signin.resolve(session, "made-up", now) is None


async def test_the_last_admin_cannot_be_removed(db: Database) -> None:
    await _account(db, "boss@city.example", "admin")
    async with db.transaction() as session:
        with pytest.raises(accounts.AccountError, match="only admin"):
            await accounts.remove(session, "boss@city.example")


async def test_an_edit_is_checked_kept_as_a_revision_and_can_be_restored(db: Database) -> None:
    now = utcnow()
    async with db.transaction() as session:
        row = await session.get(entries.KnowledgeEntry, "311-hours")
        assert row is not None
        original = row.answer
        form = entries.EntryForm.of(row)
        form.answer = ""
        with pytest.raises(entries.FormErrors) as refused:
            await entries.update(session, "311-hours", form, author="ana@city.example", now=now)
        assert "Answer is missing" in refused.value.form.errors["answer"]
        form.answer = "311 is open from 7 to 7."
        form.links = "no bar here"
        with pytest.raises(entries.FormErrors) as refused:
            await entries.update(session, "311-hours", form, author="ana@city.example", now=now)
        assert "links" in refused.value.form.errors
        form.links = ""
        assert await entries.update(session, "311-hours", form, author="ana@city.example", now=now)
    async with db.transaction() as session:
        history = await entries.revisions(session, "311-hours")
        assert [r.action for r in history] == ["edited", "imported"]
        changes = entries.diff(history[1].snapshot, history[0].snapshot)
        answer = next(c for c in changes if c.field == "answer")
        assert ("+", "311 is open from 7 to 7.") in answer.lines
        await entries.restore(session, "311-hours", 1, author="ana@city.example", now=now)
    async with db.transaction() as session:
        row = await session.get(entries.KnowledgeEntry, "311-hours")
        assert row is not None and row.answer == original
        logged = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert logged == ["entry.edit", "entry.restore"]
