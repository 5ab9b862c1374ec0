"""The admin sub-application: sessions, CSRF and roles as middleware, so no page can forget
them, and the areas' routes.

Cross-site requests are refused two ways: every form carries the session's CSRF token, and
a browser's own word on where a post came from (Sec-Fetch-Site, Origin) must be this site.
A page on another port of the same host is "same-site" to a cookie, so SameSite alone would
not stop it.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

from aiohttp import web

from bot.admin import signin
from bot.admin.web import (
    auth_pages,
    catalogue_pages,
    inbox_pages,
    kb_pages,
    people_pages,
    report_pages,
    testbox_pages,
)
from bot.admin.web.changes import RERUNS, Reruns
from bot.admin.web.keys import ADMIN_HUB, COOKIE, LOGIN_COOKIE, SIGNED_IN, hub_of
from bot.admin.web.render import STATIC, page, setup
from bot.hub import Hub
from bot.timeutil import utcnow
from bot.web.background import in_background

log = logging.getLogger(__name__)

# Areas only an admin may use; an editor edits content.
ADMIN_ONLY = ("/admin/users", "/admin/services", "/admin/departments")
REFUSED_CROSS_SITE = (
    "This form was not sent from these pages (another site, or a page too old to trust), "
    "so nothing was changed. Go back, reload the page and try again."
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _open(path: str) -> bool:
    return path == "/admin/login" or path.startswith("/admin/static/")


@web.middleware
async def require_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every page but the login page needs a signed-in account; an editor stays out of the
    admins' areas."""
    if _open(request.path):
        return await handler(request)
    hub = hub_of(request)
    async with hub.db.transaction() as session:
        who = await signin.resolve(session, request.cookies.get(COOKIE), utcnow())
    if who is None:
        if request.method in ("GET", "HEAD"):
            target = request.path_qs if request.path != "/admin/" else ""
            raise web.HTTPSeeOther("/admin/login" + (f"?next={quote(target)}" if target else ""))
        return await page(
            request,
            "message.html",
            status=401,
            title="Signed out",
            message="Your session has ended, so nothing was changed. Sign in again and repeat the change.",
        )
    request[SIGNED_IN] = who
    if request.path.startswith(ADMIN_ONLY) and not who.account.is_admin:
        return await page(
            request,
            "message.html",
            status=403,
            title="For admins only",
            message="Only an admin can manage accounts and the service catalogue. Ask an admin of your city.",
        )
    return await handler(request)


def _allowed_origins(request: web.Request) -> set[str]:
    public = urlsplit(hub_of(request).settings.PUBLIC_URL)
    return {f"{public.scheme}://{public.netloc}", f"{request.scheme}://{request.host}"}


@web.middleware
async def refuse_cross_site(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return await handler(request)
    fetch_site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    # A browser's Sec-Fetch-Site cannot be set by a page, so where it is sent it decides;
    # an older browser sends only Origin ("null" where a policy hides it: the token decides).
    if fetch_site is not None:
        from_here = fetch_site in ("same-origin", "none")
    else:
        from_here = origin in (None, "null") or origin in _allowed_origins(request)
    if (request.content_length or 0) > MAX_FORM_BYTES:
        return await page(request, "message.html", status=413, title="Too large", message=TOO_LARGE)
    try:
        form = await request.post() if request.content_type in FORM_TYPES else {}
    except ValueError:  # not UTF-8, a multipart without its boundary: no browser of ours
        return await page(request, "message.html", status=400, title="Not understood", message=UNREADABLE)
    sent = str(form.get("csrf", "")) or request.headers.get("X-CSRF-Token", "")
    who = request.get(SIGNED_IN)
    expected = who.csrf_token if who else request.cookies.get(LOGIN_COOKIE, "")
    matched = signin.plausible_token(sent) and signin.plausible_token(expected)
    if not from_here or not matched or not hmac.compare_digest(sent.encode(), expected.encode()):
        log.warning(
            "admin: refused a %s %s (Sec-Fetch-Site=%s, Origin=%s, token %s)",
            request.method,
            request.path,
            fetch_site,
            origin,
            "matched" if sent == expected else "wrong",
        )
        return await page(
            request, "message.html", status=403, title="Not sent from here", message=REFUSED_CROSS_SITE
        )
    return await handler(request)


MAX_FORM_BYTES = 512 * 1024  # the longest form (a service's questions) is a few kilobytes
TOO_LARGE = "That form is larger than these pages take, so nothing was changed."
UNREADABLE = "That form could not be read (it was not sent as UTF-8), so nothing was changed."
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@web.middleware
async def page_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Admin pages are never cached (a shared computer's back button), framed or sniffed."""
    response = await handler(request)
    if not request.path.startswith("/admin/static/"):
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        # "no-referrer" (the rest of serve) makes Chromium send "Origin: null" with a form.
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'",
        )
    return response


async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/admin/kb")


def create(hub: Hub) -> web.Application:
    # Order: headers wrap everything; the session is known before the CSRF token is checked.
    app = web.Application(middlewares=[page_headers, require_session, refuse_cross_site])
    app[ADMIN_HUB] = hub
    setup(app, hub.settings.time_zone)
    reruns = Reruns(hub)
    app[RERUNS] = reruns
    app.cleanup_ctx.append(in_background("admin-regression", reruns.run))
    app.router.add_get("/", home)
    app.router.add_static("/static/", STATIC)
    for area in (
        auth_pages,
        kb_pages,
        inbox_pages,
        testbox_pages,
        catalogue_pages,
        report_pages,
        people_pages,
    ):
        area.add_routes(app)
    return app
