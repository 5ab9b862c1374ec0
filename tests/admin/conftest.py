"""The admin pages over HTTP: `serve`'s real application on a test server, a real client
with a cookie jar, and accounts made through the accounts module."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.admin import accounts
from bot.db import Database
from bot.hub import Hub
from bot.timeutil import utcnow
from bot.web.server import create_app

PASSWORD = "correct horse battery"
ADMIN = "admin@city.example"
EDITOR = "editor@city.example"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def add_account(db: Database, email: str, role: str, password: str = PASSWORD) -> None:
    async with db.transaction() as session:
        await accounts.add(session, email, role, await accounts.hash_password(password), utcnow())


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@dataclass
class AdminClient:
    """A browser without a browser: keeps cookies, reads each page's CSRF token."""

    http: aiohttp.ClientSession
    base: str
    csrf: str = ""

    def url(self, path: str) -> str:
        return self.base + path

    async def get(self, path: str, **kw: object) -> tuple[int, str]:
        async with self.http.get(self.url(path), **kw) as r:  # type: ignore[arg-type]
            text = await r.text()
            if 'name="csrf"' in text:
                self.csrf = csrf_of(text)
            return r.status, text

    async def post(
        self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True, **kw: object
    ) -> tuple[int, str]:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf", self.csrf)
        async with self.http.post(self.url(path), data=form, **kw) as r:  # type: ignore[arg-type]
            text = await r.text()
            if 'name="csrf"' in text:
                self.csrf = csrf_of(text)
            return r.status, text

    async def sign_in(self, email: str, password: str = PASSWORD) -> tuple[int, str]:
        await self.get("/admin/login")
        return await self.post("/admin/login", {"email": email, "password": password})


@pytest.fixture
async def admin_site(hub: Hub) -> AsyncIterator[str]:
    """The base URL of `serve`'s application, with an admin and an editor account."""
    await add_account(hub.db, ADMIN, "admin")
    await add_account(hub.db, EDITOR, "editor")
    server = TestServer(create_app(hub, deliver_outbox=False, sweep_media=False), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
async def client(admin_site: str) -> AsyncIterator[AdminClient]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield AdminClient(http, admin_site)


@pytest.fixture
async def admin(client: AdminClient) -> AdminClient:
    status, _ = await client.sign_in(ADMIN)
    assert status == 200
    return client


@pytest.fixture
async def editor(client: AdminClient) -> AdminClient:
    status, _ = await client.sign_in(EDITOR)
    assert status == 200
    return client
