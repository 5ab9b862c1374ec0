"""Typed keys for what the admin sub-application and its requests hold."""

from __future__ import annotations

from aiohttp import web

from bot.admin.signin import SignedIn
from bot.hub import Hub

ADMIN_HUB = web.AppKey("admin_hub", Hub)
SIGNED_IN = web.RequestKey("admin_signed_in", SignedIn)  # who made the request, when signed in
LOGIN_TOKEN = web.RequestKey("admin_login_token", str)  # the login form's CSRF token

COOKIE = "civic311_admin"
LOGIN_COOKIE = "civic311_admin_login"  # before there is a session: the login form's CSRF pair


def hub_of(request: web.Request) -> Hub:
    return request.config_dict[ADMIN_HUB]


def signed_in(request: web.Request) -> SignedIn:
    """Who made the request; every route but the login page is behind `app.require_session`."""
    if SIGNED_IN not in request:
        raise web.HTTPSeeOther("/admin/login")
    return request[SIGNED_IN]
