"""The knowledge base: the list with search, the entry editor with its preview, new,
deactivate and delete, and each entry's history with diffs and restore."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.admin import entries
from bot.admin.web.changes import after_change
from bot.admin.web.keys import hub_of, signed_in
from bot.admin.web.preview import preview
from bot.admin.web.render import is_id, page
from bot.models import KnowledgeEntry, ServiceRow, UnansweredQuestion
from bot.timeutil import utcnow

DONE = {
    "saved": "Saved. Residents get the new answer from their next message.",
    "unchanged": "Nothing had changed, so nothing was saved.",
    "created": "Entry created. Residents get it from their next message.",
    "activated": "The entry is active again: residents get it.",
    "deactivated": "The entry is inactive: residents no longer get it.",
    "restored": "The revision is current again. Residents get it from their next message.",
}


def _form(data: Any, entry_id: str = "") -> entries.EntryForm:
    def text(name: str) -> str:
        return str(data.get(name, ""))

    return entries.EntryForm(
        id=entry_id or text("id"),
        question=text("question"),
        alternatives=text("alternatives"),
        answer=text("answer"),
        links=text("links"),
        tags=text("tags"),
        service=text("service"),
        active=data.get("active") == "on",
    )


def _preview_of(form: entries.EntryForm) -> Any:
    links = []
    for line in form.links.splitlines():
        title, bar, url = line.rpartition("|")
        if bar and title.strip() and url.strip():
            links.append((title.strip(), url.strip()))
    return preview(form.answer, links)


async def _services(request: web.Request) -> list[tuple[str, str]]:
    async with hub_of(request).db.reading() as session:
        rows = (
            await session.execute(select(ServiceRow.code, ServiceRow.name).order_by(ServiceRow.name))
        ).all()
    return [(code, name) for code, name in rows]


async def _editor(
    request: web.Request, form: entries.EntryForm, *, creating: bool, status: int = 200, **extra: Any
) -> web.StreamResponse:
    return await page(
        request,
        "entry.html",
        status=status,
        title="New entry" if creating else form.question or form.id,
        form=form,
        creating=creating,
        services=await _services(request),
        shown=_preview_of(form),
        done=DONE.get(request.query.get("done", ""), ""),
        **{"from_unanswered": "", "exists": True, **extra},
    )


async def kb_list(request: web.Request) -> web.StreamResponse:
    words = request.query.get("q", "")[:200]
    async with hub_of(request).db.reading() as session:
        rows = await entries.search(session, words)
    return await page(request, "kb.html", title="Knowledge base", rows=rows, q=words)


async def new_form(request: web.Request) -> web.StreamResponse:
    """A blank editor, or one prefilled from an unanswered question (the inbox's "Create")."""
    form = entries.EntryForm()
    unanswered = request.query.get("from", "")
    if is_id(unanswered):
        async with hub_of(request).db.reading() as session:
            row = await session.get(UnansweredQuestion, int(unanswered))
        if row is not None:
            form.question = row.text
    return await _editor(
        request, form, creating=True, from_unanswered=unanswered if is_id(unanswered) else ""
    )


async def create(request: web.Request) -> web.StreamResponse:
    data = await request.post()
    form = _form(data)
    unanswered = str(data.get("from_unanswered", ""))
    if data.get("action") == "preview":
        return await _editor(request, form, creating=True, from_unanswered=unanswered)
    who = signed_in(request)
    try:
        async with hub_of(request).db.transaction() as session:
            entry = await entries.create(
                session,
                form,
                author=who.account.email,
                now=utcnow(),
                from_unanswered=int(unanswered) if is_id(unanswered) else None,
            )
    except entries.FormErrors:
        return await _editor(request, form, creating=True, status=400, from_unanswered=unanswered)
    await after_change(request)
    raise web.HTTPSeeOther(f"/admin/kb/{entry.id}?done=created")


async def edit_form(request: web.Request) -> web.StreamResponse:
    entry_id = request.match_info["entry_id"]
    async with hub_of(request).db.reading() as session:
        row = await session.get(KnowledgeEntry, entry_id)
        form = entries.EntryForm.of(row) if row is not None else None
    if form is None:
        return await _gone(request, entry_id)
    return await _editor(request, form, creating=False)


async def save(request: web.Request) -> web.StreamResponse:
    entry_id = request.match_info["entry_id"]
    data = await request.post()
    form = _form(data, entry_id)
    if data.get("action") == "preview":
        return await _editor(request, form, creating=False)
    who = signed_in(request)
    try:
        async with hub_of(request).db.transaction() as session:
            changed = await entries.update(session, entry_id, form, author=who.account.email, now=utcnow())
    except entries.FormErrors:
        return await _editor(request, form, creating=False, status=400)
    except LookupError:
        return await _editor(
            request,
            form,
            creating=False,
            status=409,
            exists=False,
            problem="This entry was deleted while you edited it. Restore it from its history, then save.",
        )
    if changed:
        await after_change(request)
    raise web.HTTPSeeOther(f"/admin/kb/{entry_id}?done={'saved' if changed else 'unchanged'}")


async def set_active(request: web.Request) -> web.StreamResponse:
    entry_id = request.match_info["entry_id"]
    active = (await request.post()).get("active") == "1"
    who = signed_in(request)
    try:
        async with hub_of(request).db.transaction() as session:
            await entries.set_active(session, entry_id, active, author=who.account.email, now=utcnow())
    except LookupError:
        return await _gone(request, entry_id)
    await after_change(request)
    raise web.HTTPSeeOther(f"/admin/kb/{entry_id}?done={'activated' if active else 'deactivated'}")


async def delete_form(request: web.Request) -> web.StreamResponse:
    entry_id = request.match_info["entry_id"]
    async with hub_of(request).db.reading() as session:
        row = await session.get(KnowledgeEntry, entry_id)
        question = row.question if row else None
    if question is None:
        return await _gone(request, entry_id)
    return await page(request, "delete.html", title="Delete entry", entry_id=entry_id, question=question)


async def delete(request: web.Request) -> web.StreamResponse:
    entry_id = request.match_info["entry_id"]
    who = signed_in(request)
    try:
        async with hub_of(request).db.transaction() as session:
            await entries.delete(session, entry_id, author=who.account.email, now=utcnow())
    except LookupError:
        return await _gone(request, entry_id)
    await after_change(request)
    return await page(
        request,
        "message.html",
        title="Entry deleted",
        message=f"'{entry_id}' is deleted: residents no longer get it. Its history keeps every revision.",
        link=(f"/admin/kb/{entry_id}/history", "Its history, to bring it back"),
    )


async def history(request: web.Request) -> web.StreamResponse:
    entry_id = request.match_info["entry_id"]
    async with hub_of(request).db.reading() as session:
        revisions = await entries.revisions(session, entry_id)
        exists = await session.get(KnowledgeEntry, entry_id) is not None
    if not revisions and not exists:
        return await _gone(request, entry_id)
    shown = [
        (rev, entries.diff(older.snapshot, rev.snapshot) if older is not None else [])
        for rev, older in zip(revisions, [*revisions[1:], None], strict=True)
    ]
    return await page(
        request,
        "history.html",
        title=f"History of {entry_id}",
        entry_id=entry_id,
        shown=shown,
        exists=exists,
        current=revisions[0].number if revisions and exists else None,
        done=DONE.get(request.query.get("done", ""), ""),
    )


async def restore(request: web.Request) -> web.StreamResponse:
    entry_id = request.match_info["entry_id"]
    number = str((await request.post()).get("number", ""))
    who = signed_in(request)
    if not is_id(number):
        return await _gone(request, entry_id)
    try:
        async with hub_of(request).db.transaction() as session:
            await entries.restore(session, entry_id, int(number), author=who.account.email, now=utcnow())
    except LookupError:
        return await _gone(request, entry_id)
    except entries.FormErrors as refused:
        problems = "; ".join(refused.form.errors.values())
        return await page(
            request,
            "message.html",
            status=409,
            title="Cannot restore",
            message=f"Revision {number} cannot be made current as it is: {problems}",
            link=(f"/admin/kb/{entry_id}/history", "Back to the history"),
        )
    await after_change(request)
    raise web.HTTPSeeOther(f"/admin/kb/{entry_id}?done=restored")


async def live_preview(request: web.Request) -> web.StreamResponse:
    """The editor's preview, redrawn as the answer is typed (the page works without it)."""
    form = _form(await request.post())
    return await page(request, "preview.html", shown=_preview_of(form))


async def _gone(request: web.Request, entry_id: str) -> web.StreamResponse:
    return await page(
        request,
        "message.html",
        status=404,
        title="No such entry",
        message=f"There is no entry '{entry_id}'. It may have been deleted; its history, if any, is kept.",
        link=(f"/admin/kb/{entry_id}/history", "Its history"),
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/kb", kb_list)
    app.router.add_get("/kb/new", new_form)
    app.router.add_post("/kb/new", create)
    app.router.add_post("/kb/preview", live_preview)
    app.router.add_get("/kb/{entry_id}", edit_form)
    app.router.add_post("/kb/{entry_id}", save)
    app.router.add_post("/kb/{entry_id}/active", set_active)
    app.router.add_get("/kb/{entry_id}/delete", delete_form)
    app.router.add_post("/kb/{entry_id}/delete", delete)
    app.router.add_get("/kb/{entry_id}/history", history)
    app.router.add_post("/kb/{entry_id}/restore", restore)
