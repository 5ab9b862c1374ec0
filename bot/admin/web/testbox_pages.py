"""The test box: what the bot would say to a message and why (intent, scores, the top
three, the phrasing that matched), and the regression set asked again after every change.

The form posts: a message may be MAX_MESSAGE_CHARS long, which as a query string could pass
the server's line limit. `GET /admin/test?q=...` answers too, for links."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiMapping
from rapidfuzz import fuzz

from bot.admin import regression
from bot.admin.web.keys import hub_of, signed_in
from bot.admin.web.render import is_id, page
from bot.ask import Asker, Explanation
from bot.content.revision import revision
from bot.timeutil import utcnow
from knowledge.model import Entry

DONE = {
    "added": "Added to the regression set: it is asked again after every change.",
    "removed": "Removed from the regression set.",
    "ran": "Asked every question of the set again.",
}
TOP = 3
FAILED = "The bot could not answer this: an error, written to the server's log."

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Phrasing:
    """The entry's question or alternative closest to what was typed, and how close (0..100)."""

    text: str
    closeness: float


def closest_phrasing(entry: Entry, typed: str) -> Phrasing:
    """As the search's own wording score compares them (token-set ratio, lower case); ties
    go to the phrasing closest character by character."""
    said = typed.lower()
    scored = [
        (fuzz.token_set_ratio(said, p.lower()), fuzz.ratio(said, p.lower()), p) for p in entry.phrasings()
    ]
    best = max(scored, key=lambda s: (s[0], s[1]))
    return Phrasing(best[2], round(best[0], 1))


@dataclass(frozen=True, slots=True)
class Verdict:
    """One `Explanation`, laid out for the page."""

    explanation: Explanation
    verdict: str  # as the regression set compares answers
    matched: Phrasing | None  # of the entry that answers, if one does
    hits: list[tuple[Entry, float, Phrasing]]
    services: list[tuple[str, str, float]]  # code, name, probability
    ranked: list[tuple[str, float]]


def _verdict(explanation: Explanation, typed: str) -> Verdict:
    u = explanation.understanding
    return Verdict(
        explanation=explanation,
        verdict=regression.verdict(explanation.answer),
        matched=closest_phrasing(u.entry, typed) if u.entry is not None else None,
        hits=[(h.entry, h.score, closest_phrasing(h.entry, typed)) for h in u.hits[:TOP]],
        services=[(s.service.code, s.service.name, s.score) for s in u.services[:TOP]],
        ranked=list(u.ranked[:TOP]),
    )


def _typed(form: MultiMapping[Any]) -> dict[str, str]:
    return {"text": str(form.get("text", "")), "expected": str(form.get("expected", ""))}


async def _test_page(
    request: web.Request,
    q: str,
    *,
    status: int = 200,
    add_form: dict[str, str] | None = None,
    add_errors: dict[str, str] | None = None,
) -> web.StreamResponse:
    hub = hub_of(request)
    limit = hub.settings.MAX_MESSAGE_CHARS
    q_error = ""
    shown: Verdict | None = None
    if len(q) > limit:
        q_error = f"A message is at most {limit:,} characters in the chat; this one is {len(q):,}."
        status = 400
    elif q.strip():
        try:
            shown = _verdict(await Asker(hub).explain(q), q)
        except Exception:  # the page shows the rest, and says so; never a traceback
            log.exception("the test box could not ask %r", q[:100])
            q_error, status = FAILED, 500
    async with hub.db.reading() as session:
        outcomes = await regression.everything(session)
        choices = await regression.choices(session)
        current = await revision(session)
    # Asked on older content: the run after the last change is under way (or was cut off).
    stale = any(o.question.last_result.get(regression.REVISION) != current for o in outcomes)
    if add_form is None:  # offer what was just asked, expecting what the bot gives now
        add_form = {
            "text": q[: regression.MAX_TEXT] if shown else "",
            "expected": shown.verdict if shown else "",
        }
    return await page(
        request,
        "test.html",
        status=status,
        title="Test box",
        q=q,
        q_error=q_error,
        limit=limit,
        shown=shown,
        outcomes=outcomes,
        changed=sum(1 for o in outcomes if o.changed),
        stale=stale,
        failing=sum(1 for o in outcomes if o.as_expected is False),
        choices=choices,
        labels=choices.labels,
        add_form=add_form,
        add_errors=add_errors or {},
        done=DONE.get(request.query.get("done", ""), ""),
        max_questions=regression.MAX_QUESTIONS,
    )


async def testbox(request: web.Request) -> web.StreamResponse:
    return await _test_page(request, request.query.get("q", ""))


async def testbox_posted(request: web.Request) -> web.StreamResponse:
    """Asking changes nothing, so the result is shown at once (no redirect to repeat it)."""
    return await _test_page(request, str((await request.post()).get("q", "")))


def _back(q: str, done: str) -> str:
    query = {"q": q, "done": done} if q and len(q) <= regression.MAX_TEXT else {"done": done}
    return f"/admin/test?{urlencode(query)}#regression"


async def add_question(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    typed, q = _typed(form), str(form.get("q", ""))
    who = signed_in(request)
    hub = hub_of(request)
    try:
        async with hub.db.transaction() as session:
            added = await regression.add(
                session, typed["text"], typed["expected"], actor=who.account.email, now=utcnow()
            )
    except regression.RegressionError as refused:
        return await _test_page(
            request, q, status=400, add_form=typed, add_errors={refused.field: str(refused)}
        )
    await _rerun(request, only=added)
    raise web.HTTPSeeOther(_back(q, "added"))


async def remove_question(request: web.Request) -> web.StreamResponse:
    question_id = request.match_info["question_id"]
    who = signed_in(request)
    if is_id(question_id):
        async with hub_of(request).db.transaction() as session:
            await regression.remove(session, int(question_id), actor=who.account.email, now=utcnow())
    raise web.HTTPSeeOther(_back("", "removed"))  # gone already: the same page, without it


async def _rerun(request: web.Request, only: int | None = None) -> bool:
    """A failure leaves the stored results as they were; the table says when each ran."""
    try:
        await regression.rerun(hub_of(request), only=only)
    except Exception:
        log.exception("the regression set could not be asked")
        return False
    return True


async def run_again(request: web.Request) -> web.StreamResponse:
    if not await _rerun(request):
        return await page(
            request,
            "message.html",
            status=500,
            title="Not run",
            message="The set could not be asked again: an error, written to the server's log. "
            "The results shown are from the last run that worked.",
            link=("/admin/test#regression", "Back to the test box"),
        )
    raise web.HTTPSeeOther(_back("", "ran"))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/test", testbox)
    app.router.add_post("/test", testbox_posted)
    app.router.add_post("/test/regression", add_question)
    app.router.add_post("/test/regression/run", run_again)
    app.router.add_post("/test/regression/{question_id}/remove", remove_question)
