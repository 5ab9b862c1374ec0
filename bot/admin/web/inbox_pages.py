"""The unanswered inbox: residents' questions the bot could not answer, grouped by similar
phrasing, with what to do about each group (add it as a phrasing of an entry, create an
entry from it, ignore it), and the ignored ones, to bring back one ignored by mistake."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiMapping
from sqlalchemy import select

from bot.admin import inbox
from bot.admin.web.changes import after_change
from bot.admin.web.keys import hub_of, signed_in
from bot.admin.web.render import is_id, page
from bot.content.unanswered import DISMISSED, OPEN
from bot.models import KnowledgeEntry
from bot.timeutil import utcnow

PER_PAGE = 50  # groups on one page


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _done(query: MultiMapping[str]) -> str:
    n = int(query.get("n", "0")) if is_id(query.get("n", "")) else 0
    entry = query.get("entry", "")[:100]
    done = query.get("done", "")
    if done == "added" and n:
        return (
            f"Added {_plural(n, 'phrasing', 'phrasings')} to entry '{entry}'. Residents who ask "
            "that way get its answer from their next message."
        )
    if done == "added":
        return f"Entry '{entry}' had those phrasings already; the questions are marked answered."
    if done == "ignored":
        return (
            f"Ignored {_plural(n, 'phrasing', 'phrasings')}. They stay out of the inbox however "
            "often they are asked again (see Ignored to bring them back)."
        )
    if done == "reopened":
        return f"{_plural(n, 'phrasing is', 'phrasings are')} back in the inbox."
    if done == "none":
        return "Someone dealt with these questions meanwhile, so nothing was changed."
    return ""


def _ids(form: MultiMapping[Any], name: str) -> list[int]:
    return [int(v) for v in form.getall(name, []) if is_id(str(v))][: inbox.MAX_ROWS]


def _page_number(value: str) -> int:
    return max(1, int(value)) if is_id(value) and len(value) < 6 else 1


async def _inbox_page(
    request: web.Request,
    *,
    view: str,
    number: int,
    status: int = 200,
    problem: tuple[int, str, str] | None = None,  # (group's representative, field, message)
    typed: dict[int, str] | None = None,
    ticked: dict[int, set[int]] | None = None,
) -> web.StreamResponse:
    ignored = view == "ignored"
    async with hub_of(request).db.reading() as session:
        box = await inbox.load(session, status=DISMISSED if ignored else OPEN)
        entries = (
            await session.execute(
                select(KnowledgeEntry.id, KnowledgeEntry.question)
                .where(KnowledgeEntry.active.is_(True))
                .order_by(KnowledgeEntry.id)
            )
        ).all()
    pages = max(1, -(-len(box.groups) // PER_PAGE))
    number = min(number, pages)
    shown = box.groups[(number - 1) * PER_PAGE : number * PER_PAGE]
    return await page(
        request,
        "inbox.html",
        status=status,
        title="Ignored questions" if ignored else "Unanswered questions",
        ignored=ignored,
        box=box,
        groups=shown,
        number=number,
        pages=pages,
        entries=[(entry_id, question) for entry_id, question in entries],
        done=_done(request.query),
        problem=problem,
        typed=typed or {},
        ticked=ticked or {},
    )


async def inbox_list(request: web.Request) -> web.StreamResponse:
    view = "ignored" if request.query.get("view") == "ignored" else "open"
    return await _inbox_page(request, view=view, number=_page_number(request.query.get("page", "")))


def _back(view: str, number: int, **done: object) -> str:
    query: dict[str, object] = {"view": "ignored"} if view == "ignored" else {}
    if number > 1:
        query["page"] = number
    return "/admin/inbox?" + urlencode({**query, **done})


async def add_phrasing(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    rep = str(form.get("rep", ""))
    rep_id = int(rep) if is_id(rep) else 0
    chosen, entry_id = _ids(form, "phrasing"), str(form.get("entry", "")).strip()
    number = _page_number(str(form.get("page", "")))
    who = signed_in(request)
    try:
        async with hub_of(request).db.transaction() as session:
            added = await inbox.add_phrasings(
                session, chosen, entry_id, actor=who.account.email, now=utcnow()
            )
    except inbox.InboxError as refused:
        return await _inbox_page(
            request,
            view="open",
            number=number,
            status=400,
            problem=(rep_id, refused.field, str(refused)),
            typed={rep_id: entry_id[:200]},
            ticked={rep_id: set(chosen)},
        )
    if added:
        await after_change(request)
    raise web.HTTPSeeOther(_back("open", number, done="added", n=len(added), entry=entry_id))


async def _set_status(request: web.Request, reopening: bool) -> web.StreamResponse:
    form = await request.post()
    ids, number = _ids(form, "group"), _page_number(str(form.get("page", "")))
    who = signed_in(request)
    action = inbox.reopen if reopening else inbox.ignore
    async with hub_of(request).db.transaction() as session:
        changed = await action(session, ids, actor=who.account.email, now=utcnow())
    view = "ignored" if reopening else "open"
    if not changed:
        raise web.HTTPSeeOther(_back(view, number, done="none"))
    raise web.HTTPSeeOther(_back(view, number, done="reopened" if reopening else "ignored", n=changed))


async def ignore(request: web.Request) -> web.StreamResponse:
    return await _set_status(request, reopening=False)


async def reopen(request: web.Request) -> web.StreamResponse:
    return await _set_status(request, reopening=True)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/inbox", inbox_list)
    app.router.add_post("/inbox/phrasing", add_phrasing)
    app.router.add_post("/inbox/ignore", ignore)
    app.router.add_post("/inbox/reopen", reopen)
