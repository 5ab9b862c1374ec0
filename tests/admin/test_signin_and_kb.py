"""Signing in, sessions, CSRF and the knowledge-base editor over HTTP, on `serve`'s real
application (the browser tests in test_admin_browser.py walk the same paths in Chromium)."""

from __future__ import annotations

import re

import aiohttp
from sqlalchemy import select

from bot.admin import signin
from bot.ask import Asker
from bot.hub import Hub
from bot.models import AdminSession, AuditEntry, KnowledgeEntry
from tests.admin.conftest import ADMIN, EDITOR, PASSWORD, AdminClient

NEW_ANSWER = "311 is open **from 7 to 7** on weekdays."


async def _actions(hub: Hub) -> list[tuple[str, str, str]]:
    async with hub.db.transaction() as session:
        rows = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
        return [(r.actor, r.action, r.subject) for r in rows]


async def test_sign_in_refuses_a_wrong_password_sets_a_guarded_cookie_and_is_throttled(
    client: AdminClient, hub: Hub
) -> None:
    async with client.http.get(client.url("/admin/kb"), allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/admin/login?next=/admin/kb"

    status, html = await client.sign_in(ADMIN, "not the password")
    assert status == 401 and "do not match an account" in html
    assert 'value="admin@city.example"' in html  # what was typed is kept (not the password)
    status, html = await client.sign_in("nobody@city.example", PASSWORD)
    assert status == 401 and "do not match an account" in html

    await client.get("/admin/login")
    async with client.http.post(
        client.url("/admin/login?next=/admin/audit"),
        data={"email": ADMIN, "password": PASSWORD, "csrf": client.csrf},
        allow_redirects=False,
    ) as r:
        assert r.status == 303 and r.headers["Location"] == "/admin/audit"
        cookie = r.cookies["civic311_admin"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/admin"
        assert not cookie["secure"]  # PUBLIC_URL is http here; https makes it Secure
        assert int(cookie["max-age"]) == signin.SESSION_HOURS * 3600
    async with client.http.get(client.url("/admin/login?next=//evil.example/")) as r:
        assert r.status == 200
    status, _ = await client.get("/admin/kb")
    assert status == 200

    # Five wrong passwords for one account: the sixth try waits, even with the right password.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        guesser = AdminClient(other, client.base)
        for _ in range(signin.PER_ACCOUNT):
            status, _ = await guesser.sign_in(EDITOR, "a wrong guess")
            assert status == 401
        status, html = await guesser.sign_in(EDITOR, PASSWORD)
        assert status == 429 and "Too many failed sign-ins. Wait 15 minutes" in html
    assert (ADMIN, "signin", ADMIN) in await _actions(hub)
    assert not [a for a in await _actions(hub) if a[0] == EDITOR]


async def test_a_post_without_the_token_or_from_another_site_changes_nothing(
    admin: AdminClient, hub: Hub
) -> None:
    form = {"question": "When is 311 open?", "answer": NEW_ANSWER, "active": "on"}
    tries = [
        ({}, {"csrf": "forged"}),
        ({"Origin": "http://evil.example"}, {}),
        ({"Sec-Fetch-Site": "cross-site"}, {}),
        ({"Sec-Fetch-Site": "same-site"}, {}),  # another port of this host
    ]
    for headers, extra in tries:
        status, html = await admin.post("/admin/kb/311-hours", {**form, **extra}, headers=headers)
        assert status == 403 and "nothing was changed" in html, headers
    async with admin.http.post(admin.url("/admin/kb/311-hours"), data=form) as r:  # no token at all
        assert r.status == 403
    async with hub.db.transaction() as session:
        row = await session.get(KnowledgeEntry, "311-hours")
        assert row is not None and "24 hours" in row.answer
    assert not [a for a in await _actions(hub) if a[1].startswith("entry.")]


async def test_an_edit_is_checked_seen_by_the_bot_at_once_and_undone_from_the_history(
    admin: AdminClient, hub: Hub
) -> None:
    status, html = await admin.get("/admin/kb?q=open 311")
    assert status == 200 and "/admin/kb/311-hours" in html
    status, html = await admin.get("/admin/kb/311-hours")
    assert status == 200 and "24 hours a day" in html and 'name="csrf"' in html

    # Refused: the message is next to its field, and what was typed is kept.
    typed = {
        "question": "When is 311 open?",
        "alternatives": "311 hours\nmy own new phrasing",
        "answer": "",
        "links": "Hours | not a url",
        "active": "on",
    }
    status, html = await admin.post("/admin/kb/311-hours", {**typed, "action": "save"})
    assert status == 400 and 'id="answer-error"' in html and 'id="links-error"' in html
    assert "my own new phrasing" in html and "Hours | not a url" in html
    assert 'aria-invalid="true"' in html

    # The preview renders the chat's Markdown without saving.
    status, html = await admin.post(
        "/admin/kb/311-hours", {**typed, "answer": NEW_ANSWER, "links": "", "action": "preview"}
    )
    assert (
        status == 200
        and "<strong>from 7 to 7</strong>" in html
        and "311 is open from 7 to 7 on weekdays." in html
    )
    assert "24 hours a day" in (await Asker(hub).ask("When is 311 open?"))["text"]

    status, html = await admin.post(
        "/admin/kb/311-hours", {**typed, "answer": NEW_ANSWER, "links": "", "action": "save"}
    )
    assert status == 200 and "Saved." in html
    said = await Asker(hub).ask("When is 311 open?")
    assert said["entry"] == "311-hours" and "from 7 to 7 on weekdays" in said["text"]
    assert (await Asker(hub).ask("my own new phrasing"))["entry"] == "311-hours"

    status, html = await admin.get("/admin/kb/311-hours/history")
    assert status == 200 and "Revision 2: edited" in html and "Revision 1: imported" in html
    assert '<li class="add">311 is open **from 7 to 7** on weekdays.</li>' in html
    status, html = await admin.post("/admin/kb/311-hours/restore", {"number": "1"})
    assert status == 200 and "The revision is current again" in html
    assert "24 hours a day" in (await Asker(hub).ask("When is 311 open?"))["text"]
    actions = [a[1] for a in await _actions(hub) if a[0] == ADMIN]
    assert actions[-2:] == ["entry.edit", "entry.restore"]

    # Deactivated, the bot no longer gives it; deleted, its history brings it back.
    await admin.post("/admin/kb/311-hours/active", {"active": "0"})
    assert (await Asker(hub).ask("When is 311 open?")).get("entry") != "311-hours"
    status, html = await admin.post("/admin/kb/311-hours/delete", {})
    assert status == 200 and "deleted" in html
    status, html = await admin.get("/admin/kb/311-hours")
    assert status == 404
    status, html = await admin.post("/admin/kb/311-hours/restore", {"number": "1"})
    assert status == 200
    assert (await Asker(hub).ask("When is 311 open?"))["entry"] == "311-hours"


async def test_a_new_entry_and_log_out_everywhere(admin: AdminClient, hub: Hub) -> None:
    new = {
        "id": "backyard-bees",
        "question": "Can I keep bees in my back yard?",
        "answer": "Yes, up to two hives, registered with the city.",
        "tags": "animals, permits",
        "active": "on",
        "action": "save",
    }
    status, html = await admin.post("/admin/kb/new", {**new, "id": "311-hours"})
    assert status == 400 and "There is already an entry &#39;311-hours&#39;" in html
    status, html = await admin.post("/admin/kb/new", new)
    assert status == 200 and "Entry created" in html, re.findall(r'class="error"[^>]*>([^<]*)', html)
    assert (await Asker(hub).ask("Can I keep bees in my back yard?"))["entry"] == "backyard-bees"

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        phone = AdminClient(http, admin.base)
        assert (await phone.sign_in(ADMIN))[0] == 200
        status, _ = await admin.post("/admin/logout-everywhere", {})
        assert status == 200  # the login page
        async with http.get(phone.url("/admin/kb"), allow_redirects=False) as r:
            assert r.status == 303
    async with hub.db.transaction() as session:
        assert (await session.scalars(select(AdminSession))).all() == []


async def test_bad_requests_get_a_clear_page_not_a_500(client: AdminClient, hub: Hub) -> None:
    await client.get("/admin/login")
    body = b"email=ana%40city.example&password=\xff\xfe&csrf=" + client.csrf.encode()
    async with client.http.post(
        client.url("/admin/login"), data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    ) as r:
        assert r.status in (400, 401) and "Traceback" not in await r.text()
    async with client.http.post(
        client.url("/admin/login"), data=b"x", headers={"Content-Type": "multipart/form-data"}
    ) as r:
        assert r.status == 400 and "could not be read" in await r.text()
    async with client.http.get(
        client.url("/admin/kb"), headers={"Cookie": "civic311_admin=\u00e9t\u00e9"}
    ) as r:
        assert r.status == 200 and "Sign in" in await r.text()  # redirected to the login page
    status, _ = await client.post("/admin/login", {"email": "ana\x00@city.example", "password": "x"})
    assert status == 401

    await client.get("/admin/login")
    async with client.http.post(
        client.url("/admin/login?next=/admin/%0d%0aSet-Cookie:x=1"),
        data={"email": ADMIN, "password": PASSWORD, "csrf": client.csrf},
        allow_redirects=False,
    ) as r:
        assert r.status == 303 and r.headers["Location"] == "/admin/kb"
    for path in ("/admin/kb/new?from=\u00b2", "/admin/kb/new?from=99999999999999999999999"):
        status, _ = await client.get(path)
        assert status == 200
    status, html = await client.post(
        "/admin/kb/new", {"id": "new", "question": "A question?", "answer": "An answer.", "action": "save"}
    )
    assert status == 400 and "a word these pages use" in html
