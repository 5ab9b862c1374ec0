"""Rendering a page: the template, and what every page shows (who is signed in, the CSRF
token for its forms, the city's name and time zone)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.admin.web.keys import LOGIN_TOKEN, SIGNED_IN, hub_of

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = TEMPLATES.with_name("static")


def setup(app: web.Application, zone: ZoneInfo) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,  # a misspelt name is an error in tests, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def when(value: datetime | None, style: str = "full") -> str:
        """Times in the city's own zone: admins read "14:05", not UTC."""
        if value is None:
            return ""
        local = value.astimezone(zone)
        return local.strftime("%Y-%m-%d" if style == "date" else "%Y-%m-%d %H:%M")

    env.filters["when"] = when
    versions = {
        f.name: hashlib.sha256(f.read_bytes()).hexdigest()[:12] for f in STATIC.iterdir() if f.is_file()
    }
    # A changed stylesheet is fetched anew, an unchanged one is kept by the browser.
    env.globals["asset"] = lambda name: f"/admin/static/{name}?v={versions.get(name, '0')}"


async def page(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    who = request.get(SIGNED_IN)
    settings = hub_of(request).settings
    base = {
        "me": who.account if who else None,
        "csrf": who.csrf_token if who else request.get(LOGIN_TOKEN, ""),
        "city": settings.CITY_NAME,
        "path": request.path,
        "is_admin": bool(who and who.account.role == "admin"),
    }
    return aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)


def back_to(request: web.Request, default: str) -> str:
    """Where a form returns to: only a path of ours, never another site (an open redirect)."""
    target = request.query.get("next", "")
    if target.startswith("/admin/") and "\\" not in target and target.isprintable() and len(target) < 2000:
        return target
    return default


def as_id(value: object) -> int | None:
    """A row id typed in a URL or a form, or None: "²" is a digit to `str.isdigit` and not
    to `int`, and twenty digits overflow SQLite's integers."""
    text = str(value or "")
    return int(text) if text.isascii() and text.isdecimal() and len(text) <= 12 else None


def is_id(value: object) -> bool:
    return as_id(value) is not None
