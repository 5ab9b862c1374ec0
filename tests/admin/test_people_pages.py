"""User management (admins only) and the audit log over HTTP, on `serve`'s real application."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import select

from bot.admin import accounts, audit
from bot.hub import Hub
from bot.models import AdminSession, AuditEntry
from bot.timeutil import utcnow
from tests.admin.conftest import ADMIN, EDITOR, AdminClient
from tests.admin.test_content_pages import error_of

NEWCOMER = "newcomer@city.example"
FIRST_PASSWORD = "first password, long"
SECOND_PASSWORD = "second password, longer"


@pytest.fixture
async def other(admin_site: str) -> AsyncIterator[AdminClient]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield AdminClient(http, admin_site)


async def _account(hub: Hub, email: str) -> accounts.Account | None:
    async with hub.db.transaction() as session:
        row = await accounts.find(session, email)
        return await accounts.get(session, row.id) if row is not None else None


async def _sessions(hub: Hub, user_id: int) -> int:
    async with hub.db.transaction() as session:
        return len((await session.scalars(select(AdminSession).where(AdminSession.user_id == user_id))).all())


def _signed_out(page: str) -> bool:
    return 'action="/admin/login' in page and "Sign out" not in page


async def test_users_add_role_password_remove_and_the_last_admin_is_kept(
    admin: AdminClient, other: AdminClient, hub: Hub
) -> None:
    status, page = await admin.get("/admin/users")
    assert status == 200 and ADMIN in page and EDITOR in page

    status, page = await admin.post(
        "/admin/users", {"email": "not an email", "role": "editor", "password": "short"}
    )
    assert status == 400
    assert error_of(page, "email") == "'not an email' is not an email address."
    assert error_of(page, "password").startswith("The password is too short: use at least 10 characters")
    assert 'value="not an email"' in page and 'value="short"' not in page  # a password is not echoed
    status, page = await admin.post(
        "/admin/users", {"email": EDITOR, "role": "admin", "password": FIRST_PASSWORD}
    )
    assert status == 400 and error_of(page, "email") == f"There is already an account for {EDITOR}."
    assert "Type the password again" in error_of(page, "password")
    status, page = await admin.post(
        "/admin/users", {"email": NEWCOMER, "role": "owner", "password": FIRST_PASSWORD}
    )
    assert status == 400 and "role 'owner' is not one of" in error_of(page, "role").lower()
    assert await _account(hub, NEWCOMER) is None

    status, page = await admin.post(
        "/admin/users", {"email": " Newcomer@City.example ", "role": "editor", "password": FIRST_PASSWORD}
    )
    assert status == 200 and "Account added" in page and NEWCOMER in page
    newcomer = await _account(hub, NEWCOMER)
    assert newcomer is not None and newcomer.role == "editor"
    me = await _account(hub, ADMIN)
    assert me is not None

    # The newcomer signs in elsewhere; an admin's new password for them signs that browser out.
    assert (await other.sign_in(NEWCOMER, FIRST_PASSWORD))[0] == 200
    assert await _sessions(hub, newcomer.id) == 1
    status, page = await admin.post(f"/admin/users/{newcomer.id}/password", {"password": "tiny"})
    assert status == 400 and "too short" in error_of(page, "password")
    assert await _sessions(hub, newcomer.id) == 1
    status, page = await admin.post(f"/admin/users/{newcomer.id}/password", {"password": SECOND_PASSWORD})
    assert status == 200 and "Password set" in page and "Signed in on 0 browsers" in page
    status, page = await other.get("/admin/kb")
    assert _signed_out(page)
    assert (await other.sign_in(NEWCOMER, FIRST_PASSWORD))[0] == 401
    assert (await other.sign_in(NEWCOMER, SECOND_PASSWORD))[0] == 200

    # Roles: the newcomer becomes an admin, and can then manage users; back to editor, kept out.
    status, page = await admin.post(f"/admin/users/{newcomer.id}/role", {"role": "admin"})
    assert status == 200 and "Role changed" in page
    status, page = await other.get("/admin/users")
    assert status == 200
    status, page = await admin.post(f"/admin/users/{newcomer.id}/role", {"role": "editor"})
    assert status == 200
    status, page = await other.get("/admin/users")
    assert status == 403

    # The only admin can be neither demoted nor removed.
    for action, data in (("role", {"role": "editor"}), ("remove", {})):
        status, page = await admin.post(f"/admin/users/{me.id}/{action}", data)
        assert status == 400, action
        assert error_of(page, action) == f"{ADMIN} is the only admin; make another admin first."
    assert await _account(hub, ADMIN) == me  # still the admin it was

    status, page = await admin.post(f"/admin/users/{newcomer.id}/remove")
    assert status == 200 and "Account removed" in page and NEWCOMER not in page
    assert await _account(hub, NEWCOMER) is None
    status, page = await other.get("/admin/kb")
    assert _signed_out(page)
    status, page = await admin.get("/admin/users/99999")
    assert status == 404

    async with hub.db.transaction() as session:
        rows = (await session.scalars(select(AuditEntry).where(AuditEntry.action.like("user.%")))).all()
    assert [(r.actor, r.action, r.subject) for r in rows] == [
        (ADMIN, "user.add", NEWCOMER),
        (ADMIN, "user.password", NEWCOMER),
        (ADMIN, "user.role", NEWCOMER),
        (ADMIN, "user.role", NEWCOMER),
        (ADMIN, "user.remove", NEWCOMER),
    ]
    assert rows[2].detail == {"before": "editor", "after": "admin"}
    assert all(SECOND_PASSWORD not in str(r.detail) for r in rows)


async def test_the_audit_log_newest_first_in_pages_for_everyone(editor: AdminClient, hub: Hub) -> None:
    start = utcnow()
    async with hub.db.transaction() as session:
        for n in range(60):
            audit.record(session, ADMIN, "entry.edit", f"entry-{n}", now=start, fields=["answer", "tags"])
    status, page = await editor.get("/admin/audit")
    assert status == 200
    assert page.index("entry-59") < page.index("entry-58")  # newest first
    assert ">entry-10<" in page and ">entry-9<" not in page and "answer; tags" in page
    async with hub.db.transaction() as session:
        older = [r.id for r in await audit.page(session, limit=51)][49]
    assert f'href="/admin/audit?before={older}"' in page
    status, page = await editor.get(f"/admin/audit?before={older}")
    assert status == 200 and ">entry-9<" in page and ">entry-0<" in page and ">entry-10<" not in page
    assert "signin</code>" in page and EDITOR in page  # the editor's own sign-in, the oldest
    assert 'href="/admin/audit">Newest' in page and "?before=" not in page.split("Newest")[1]
    status, page = await editor.get("/admin/audit?before=nonsense")
    assert status == 200 and "entry-59" in page
