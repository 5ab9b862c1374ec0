"""Signing in and out: the login form, log out, and log out everywhere."""

from __future__ import annotations

import secrets

from aiohttp import web

from bot.admin import audit, signin
from bot.admin.web.keys import COOKIE, LOGIN_COOKIE, LOGIN_TOKEN, hub_of, signed_in
from bot.admin.web.render import back_to, page
from bot.timeutil import utcnow
from bot.web.requests import client_address

WRONG = "That email and password do not match an account. Check both and try again."


def _secure(request: web.Request) -> bool:
    return hub_of(request).settings.PUBLIC_URL.startswith("https://")


async def login_form(request: web.Request) -> web.StreamResponse:
    return await _login_page(request)


async def _login_page(
    request: web.Request, *, email: str = "", error: str = "", status: int = 200
) -> web.StreamResponse:
    # The form's CSRF token is paired with a cookie until there is a session to hold it.
    token = request.cookies.get(LOGIN_COOKIE, "")
    if not signin.plausible_token(token):
        token = secrets.token_urlsafe(32)
    request[LOGIN_TOKEN] = token
    target = back_to(request, "")
    response = await page(
        request, "login.html", status=status, email=email, error=error, title="Sign in", next=target
    )
    response.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="Lax", path="/admin/login", secure=_secure(request)
    )
    return response


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    email, password = str(form.get("email", "")).strip(), str(form.get("password", ""))
    if not email or not password:
        return await _login_page(
            request, email=email, error="Enter your email and your password.", status=400
        )
    hub = hub_of(request)
    address = client_address(request, hub.settings.trusted_proxies)
    now = utcnow()
    try:
        account = await signin.check_password(hub.db, email, password, address=address, now=now)
    except signin.Throttled as wait:
        minutes = "a minute" if wait.minutes == 1 else f"{wait.minutes} minutes"
        return await _login_page(
            request,
            email=email,
            status=429,
            error=f"Too many failed sign-ins. Wait {minutes}, then try again.",
        )
    if account is None:
        return await _login_page(request, email=email, error=WRONG, status=401)
    async with hub.db.transaction() as session:
        await signin.sweep(session, now)  # ended sessions go when someone signs in
        token = await signin.start(session, account, address=address, now=now)
        audit.record(session, account.email, "signin", account.email, now=now, address=address)
    response = web.HTTPSeeOther(back_to(request, "/admin/kb"))
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        path="/admin",
        max_age=signin.SESSION_HOURS * 3600,
        secure=_secure(request),
    )
    response.del_cookie(LOGIN_COOKIE, path="/admin/login")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    who = signed_in(request)
    async with hub_of(request).db.transaction() as session:
        await signin.end(session, who.token_hash)
        audit.record(session, who.account.email, "signout", who.account.email, now=utcnow())
    response = web.HTTPSeeOther("/admin/login")
    response.del_cookie(COOKIE, path="/admin")
    raise response


async def logout_everywhere(request: web.Request) -> web.StreamResponse:
    """Every session of the account ends: a lost phone, a shared computer."""
    who = signed_in(request)
    async with hub_of(request).db.transaction() as session:
        ended = await signin.end_everywhere(session, who.account.id)
        audit.record(
            session, who.account.email, "signout.everywhere", who.account.email, now=utcnow(), sessions=ended
        )
    response = web.HTTPSeeOther("/admin/login")
    response.del_cookie(COOKIE, path="/admin")
    raise response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_post("/logout-everywhere", logout_everywhere)
