"""Who may use these pages (admins only: add, role, password, remove) and what everyone
did (the audit log, for all signed in)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from bot.admin import accounts, audit
from bot.admin.web.keys import hub_of, signed_in
from bot.admin.web.render import is_id, page
from bot.models import AdminSession
from bot.timeutil import utcnow

AUDIT_PAGE = 50
DONE = {
    "added": "Account added. Give its owner the password by a way only they can read.",
    "role": "Role changed. It applies from their next page.",
    "password": "Password set. Every browser signed in to that account was signed out.",
    "removed": "Account removed, and signed out everywhere.",
}


def _sentence(text: str) -> str:
    """The accounts module's reason as a sentence; an email address keeps its case."""
    first = text.split(" ", 1)[0]
    return (text if "@" in first else text[:1].upper() + text[1:]) + ("" if text.endswith(".") else ".")


async def users_page(
    request: web.Request,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    async with hub_of(request).db.reading() as session:
        people = await accounts.everyone(session)
    return await page(
        request,
        "users.html",
        status=status,
        title="Users",
        people=people,
        roles=accounts.ROLES,
        form=form or {"email": "", "role": "editor"},
        errors=errors or {},
        min_password=accounts.MIN_PASSWORD,
        done=DONE.get(request.query.get("done", ""), ""),
    )


async def users_list(request: web.Request) -> web.StreamResponse:
    return await users_page(request)


async def user_add(request: web.Request) -> web.StreamResponse:
    """The password is never written back into the page: a refused form asks for it again."""
    data = await request.post()
    form = {"email": str(data.get("email", "")).strip(), "role": str(data.get("role", ""))}
    password = str(data.get("password", ""))
    errors: dict[str, str] = {}
    checks = (
        ("email", accounts.clean_email, form["email"]),
        ("role", accounts.check_role, form["role"]),
        ("password", accounts.check_password, password),
    )
    for name, check, value in checks:
        if not value:
            errors[name] = _empty(name)
            continue
        try:
            check(value)
        except accounts.AccountError as exc:
            errors[name] = _sentence(str(exc))
    if not errors:
        try:
            hashed = await accounts.hash_password(password)  # not while holding SQLite's write lock
            async with hub_of(request).db.transaction() as session:
                made = await accounts.add(session, form["email"], form["role"], hashed, utcnow())
                audit.record(session, _me(request), "user.add", made.email, now=utcnow(), role=made.role)
        except accounts.AccountError as exc:
            errors["email"] = _sentence(str(exc))
    if errors:
        if "password" not in errors:
            errors["password"] = "Type the password again: it is not kept when a form comes back."
        return await users_page(request, form=form, errors=errors, status=400)
    raise web.HTTPSeeOther("/admin/users?done=added")


def _empty(name: str) -> str:
    return {"email": "Enter the email address of the account.", "role": "Choose a role."}.get(
        name, f"Choose a password of at least {accounts.MIN_PASSWORD} characters."
    )


def _me(request: web.Request) -> str:
    return signed_in(request).account.email


async def _account(request: web.Request) -> accounts.Account | None:
    user_id = request.match_info["user_id"]
    if not is_id(user_id):
        return None
    async with hub_of(request).db.reading() as session:
        return await accounts.get(session, int(user_id))


async def user_page(
    request: web.Request,
    account: accounts.Account | None = None,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    account = account or await _account(request)
    if account is None:
        return await _nobody(request)
    async with hub_of(request).db.reading() as session:
        browsers = await session.scalar(
            select(func.count()).select_from(AdminSession).where(AdminSession.user_id == account.id)
        )
    return await page(
        request,
        "users_one.html",
        status=status,
        title=account.email,
        account=account,
        roles=accounts.ROLES,
        browsers=int(browsers or 0),
        errors=errors or {},
        yourself=account.id == signed_in(request).account.id,
        min_password=accounts.MIN_PASSWORD,
        done=DONE.get(request.query.get("done", ""), ""),
    )


async def user_show(request: web.Request) -> web.StreamResponse:
    return await user_page(request)


async def user_role(request: web.Request) -> web.StreamResponse:
    account = await _account(request)
    if account is None:
        return await _nobody(request)
    role = str((await request.post()).get("role", ""))
    if role == account.role:
        raise web.HTTPSeeOther(f"/admin/users/{account.id}")
    try:
        async with hub_of(request).db.transaction() as session:
            changed = await accounts.set_role(session, account.email, role)
            audit.record(
                session,
                _me(request),
                "user.role",
                changed.email,
                now=utcnow(),
                before=account.role,
                after=role,
            )
    except accounts.AccountError as exc:
        return await user_page(request, account, errors={"role": _sentence(str(exc))}, status=400)
    if account.id == signed_in(request).account.id:
        return await page(
            request,
            "message.html",
            title="You are an editor now",
            message="Your account is an editor's now: users and the service catalogue are for admins.",
            link=("/admin/kb", "The knowledge base"),
        )
    raise web.HTTPSeeOther(f"/admin/users/{account.id}?done=role")


async def user_password(request: web.Request) -> web.StreamResponse:
    account = await _account(request)
    if account is None:
        return await _nobody(request)
    password = str((await request.post()).get("password", ""))
    try:
        password_hash = await accounts.hash_password(password)
        async with hub_of(request).db.transaction() as session:
            await accounts.set_password(session, account.email, password_hash, utcnow())
            audit.record(session, _me(request), "user.password", account.email, now=utcnow())
    except accounts.AccountError as exc:
        message = _sentence(str(exc)) if password else _empty("password")
        return await user_page(request, account, errors={"password": message}, status=400)
    if account.id == signed_in(request).account.id:
        raise web.HTTPSeeOther("/admin/login")  # this browser was signed out with the others
    raise web.HTTPSeeOther(f"/admin/users/{account.id}?done=password")


async def user_remove(request: web.Request) -> web.StreamResponse:
    account = await _account(request)
    if account is None:
        return await _nobody(request)
    try:
        async with hub_of(request).db.transaction() as session:
            gone = await accounts.remove(session, account.email)
            audit.record(session, _me(request), "user.remove", gone.email, now=utcnow(), role=gone.role)
    except accounts.AccountError as exc:
        return await user_page(request, account, errors={"remove": _sentence(str(exc))}, status=400)
    if account.id == signed_in(request).account.id:
        raise web.HTTPSeeOther("/admin/login")  # signed out with the account
    raise web.HTTPSeeOther("/admin/users?done=removed")


async def _nobody(request: web.Request) -> web.StreamResponse:
    return await page(
        request,
        "message.html",
        status=404,
        title="No such account",
        message="There is no such account; it may have been removed.",
        link=("/admin/users", "All users"),
    )


# --- audit log ---------------------------------------------------------------------------


def _detail(detail: dict[str, Any]) -> list[tuple[str, str]]:
    def shown(value: Any) -> str:
        if isinstance(value, list | tuple):
            return "; ".join(str(v) for v in value) or "none"
        return "none" if value is None or value == "" else str(value)

    return [(key.replace("_", " "), shown(value)) for key, value in detail.items()]


async def audit_page(request: web.Request) -> web.StreamResponse:
    before_text = request.query.get("before", "")
    before = int(before_text) if is_id(before_text) else None
    async with hub_of(request).db.reading() as session:
        rows = await audit.page(session, limit=AUDIT_PAGE + 1, before=before)
        total = await audit.count(session)
    older = rows[AUDIT_PAGE - 1].id if len(rows) > AUDIT_PAGE else None
    shown = [(row, _detail(row.detail or {})) for row in rows[:AUDIT_PAGE]]
    return await page(
        request,
        "audit.html",
        title="Audit log",
        shown=shown,
        older=older,
        newest=before is not None,
        total=total,
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/users", users_list)
    app.router.add_post("/users", user_add)
    app.router.add_get("/users/{user_id}", user_show)
    app.router.add_post("/users/{user_id}/role", user_role)
    app.router.add_post("/users/{user_id}/password", user_password)
    app.router.add_post("/users/{user_id}/remove", user_remove)
    app.router.add_get("/audit", audit_page)
