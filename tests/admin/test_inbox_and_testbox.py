"""The unanswered inbox and the test box over HTTP, on `serve`'s real application: questions
recorded as the answer dialog records them, grouped, added to an entry the bot then
answers with, or ignored for good; what the bot would say and why; the regression set
moved by a change."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from markupsafe import escape
from sqlalchemy import select

from bot.admin import entries
from bot.admin.inbox import Asked, group
from bot.ask import Asker
from bot.content import unanswered
from bot.hub import Hub
from bot.models import AuditEntry, KnowledgeEntry, RegressionQuestion, UnansweredQuestion
from bot.timeutil import utcnow
from tests.admin.conftest import AdminClient

# Three ways of asking one thing the sample city does not know, and two other questions.
LLAMA = [
    "Can I bring my pet llama to the farmers market?",
    "can i bring my llama to the farmers market",
    "Can I bring my pet llama to the farmers' market please",
]
CHESS = "Who won the city chess tournament this year?"
ALPACA = "Where do I register an alpaca as livestock?"


async def _record(hub: Hub, text: str, *, times: int = 1, channel: str = "telegram", **guess: float) -> None:
    guesses: list[dict[str, object]] = [{"entry": e.replace("_", "-"), "score": s} for e, s in guess.items()]
    for n in range(times):
        async with hub.db.transaction() as session:
            now = utcnow() + timedelta(seconds=n)
            await unanswered.record(session, text, channel=channel, now=now, guesses=guesses)


async def _rows(hub: Hub) -> dict[str, UnansweredQuestion]:
    async with hub.db.transaction() as session:
        return {r.text: r for r in (await session.scalars(select(UnansweredQuestion))).all()}


async def _actions(hub: Hub) -> list[tuple[str, str]]:
    async with hub.db.transaction() as session:
        rows = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
        return [(r.action, r.subject) for r in rows]


def _group_of(html: str, text: str) -> str:
    """The HTML of the inbox group headed by `text`."""
    start = html.index(f"“{escape(text)}”</h2>")
    return html[start : html.index("</article>", start)]


def test_grouping_keeps_subsets_and_near_topics_apart() -> None:
    now = utcnow()

    def asked(i: int, text: str, times: int = 1) -> Asked:
        return Asked(i, text, "web", times, now, now - timedelta(minutes=i), (), text)

    rows = [
        asked(1, "parking", 9),
        asked(2, "where can i get a parking permit", 2),
        asked(3, "When is the pool open?", 4),
        asked(4, "when's the pool open on sunday", 1),
        asked(5, "when is the library open", 3),
        asked(6, "how do i adopt a cat", 1),
        asked(7, "how to adopt a cat", 1),
        asked(8, "how do i adopt a dog", 1),
    ]
    groups = [[r.text for r in g.rows] for g in group(rows)]
    assert groups[0] == ["parking"]  # a topic word does not swallow every question holding it
    assert ["When is the pool open?", "when's the pool open on sunday"] in groups
    assert ["when is the library open"] in groups and ["how do i adopt a dog"] in groups
    assert ["how do i adopt a cat", "how to adopt a cat"] in groups
    counts = [g.count for g in group(rows)]
    assert counts == sorted(counts, reverse=True)


async def test_the_inbox_groups_phrasings_and_adds_the_chosen_ones_to_an_entry(
    admin: AdminClient, hub: Hub
) -> None:
    assert (await Asker(hub).ask(LLAMA[0])).get("entry") is None  # the bot does not know it
    await _record(hub, LLAMA[0], times=3, lost_pet=0.41, stray_animal=0.38)
    await _record(hub, LLAMA[1], channel="webchat", stray_animal=0.44)
    await _record(hub, LLAMA[2])
    await _record(hub, CHESS, times=2)
    await _record(hub, ALPACA)

    status, html = await admin.get("/admin/inbox")
    assert status == 200 and "Unanswered questions (5 open)" in html
    llama = _group_of(html, LLAMA[0])  # the most asked phrasing heads the group
    assert '"inbox-count">5</span> times · telegram, webchat' in llama
    assert all(escape(t) in llama for t in LLAMA[1:])
    assert html.index(LLAMA[0]) < html.index(escape(CHESS)) < html.index(ALPACA)
    assert escape(CHESS) not in llama and ALPACA not in llama
    # The best guesses, best first over the group, linked to their entries.
    assert re.findall(r'<li><a href="/admin/kb/([a-z0-9-]+)"', llama) == ["stray-animal", "lost-pet"]
    assert 'list="inbox-entries" maxlength="200" value="stray-animal"' in llama  # the best guess
    first = (await _rows(hub))[LLAMA[0]]
    assert f'href="/admin/kb/new?from={first.id}"' in llama
    status, form = await admin.get(f"/admin/kb/new?from={first.id}")  # "Create an entry", prefilled
    assert status == 200 and f'value="{escape(LLAMA[0])}"' in form

    rows = await _rows(hub)
    ids = [str(rows[t].id) for t in LLAMA]
    # Refused, with the message next to the entry field and what was typed kept.
    form_data = {"rep": ids[0], "entry": "no-such-entry", "page": "1"}
    status, html = await admin.post("/admin/inbox/phrasing", {**form_data, "phrasing": ids[0]})
    assert status == 400 and f'id="entry-{ids[0]}-error"' in html
    assert "There is no entry &#39;no-such-entry&#39;" in html and 'value="no-such-entry"' in html
    status, html = await admin.post("/admin/inbox/phrasing", {**form_data, "entry": "311-hours"})
    assert status == 400 and f'id="phrasings-{ids[0]}-error"' in html and "Tick at least one" in html

    # Two of the three phrasings go to the entry; the third, unticked, stays in the inbox.
    async with admin.http.post(
        admin.url("/admin/inbox/phrasing"),
        data=[
            ("csrf", admin.csrf),
            ("rep", ids[0]),
            ("entry", "stray-animal"),  # the best guess, as filled in
            ("phrasing", ids[0]),
            ("phrasing", ids[1]),
        ],
    ) as r:
        assert r.status == 200 and "Added 2 phrasings to entry &#39;stray-animal&#39;" in await r.text()
    said = await Asker(hub).ask(LLAMA[0])
    assert said["entry"] == "stray-animal"
    async with hub.db.transaction() as session:
        entry = await session.get(KnowledgeEntry, "stray-animal")
        assert entry is not None and entry.alternatives[-2:] == LLAMA[:2]
    rows = await _rows(hub)
    assert [rows[t].status for t in LLAMA] == ["answered", "answered", "open"]
    status, html = await admin.get("/admin/inbox")
    assert "Unanswered questions (3 open)" in html and LLAMA[0] not in html
    assert ("inbox.phrasing", "stray-animal") in await _actions(hub)
    status, html = await admin.get("/admin/kb/stray-animal/history")
    assert "phrasing added from the inbox" in html  # the entry's history shows it too


async def test_an_ignored_group_stays_ignored_when_asked_again(admin: AdminClient, hub: Hub) -> None:
    await _record(hub, CHESS, times=2)
    await _record(hub, "who won the chess tournament of the city this year")
    await _record(hub, ALPACA)
    rows = await _rows(hub)
    status, html = await admin.get("/admin/inbox")
    assert "Unanswered questions (3 open)" in html
    chess = _group_of(html, CHESS)
    group_ids = re.findall(r'name="group" value="(\d+)"', chess)
    assert sorted(group_ids) == sorted(str(r.id) for t, r in rows.items() if "chess" in t)

    async with admin.http.post(
        admin.url("/admin/inbox/ignore"), data=[("csrf", admin.csrf)] + [("group", i) for i in group_ids]
    ) as r:
        html = await r.text()
        assert r.status == 200 and "Ignored 2 phrasings" in html and "(1 open)" in html
    assert escape(CHESS) not in html
    # Pressed again (a second tab): nothing left to do, and said so.
    status, html = await admin.post("/admin/inbox/ignore", {"group": group_ids[0]})
    assert status == 200 and "nothing was changed" in html

    await _record(hub, CHESS)  # asked again: counted, still ignored
    row = (await _rows(hub))[CHESS]
    assert row.status == "dismissed" and row.times_asked == 3
    status, html = await admin.get("/admin/inbox")
    assert "(1 open)" in html and escape(CHESS) not in html
    status, html = await admin.get("/admin/inbox?view=ignored")
    assert "Ignored questions (2)" in html and '"inbox-count">4</span> times' in _group_of(html, CHESS)
    assert ("inbox.ignore", CHESS) in await _actions(hub)

    # An answered phrasing the bot still cannot answer comes back; "Back to the inbox" undoes Ignore.
    async with hub.db.transaction() as session:
        await entries.mark_answered(session, rows[ALPACA].id)  # as "Create an entry" does
    await _record(hub, ALPACA)
    assert (await _rows(hub))[ALPACA].status == "open"
    status, html = await admin.post("/admin/inbox/reopen", {"group": str(row.id)})
    assert status == 200 and "1 phrasing is back in the inbox" in html
    assert (await _rows(hub))[CHESS].status == "open"


async def test_the_test_box_says_what_the_bot_would_say_and_why(admin: AdminClient, hub: Hub) -> None:
    status, html = await admin.get("/admin/test")
    assert status == 200 and "The bot would say" not in html and 'name="q"' in html

    status, html = await admin.get("/admin/test?q=When+is+311+open%3F")
    assert status == 200
    said = await Asker(hub).ask("When is 311 open?")
    assert escape(said["text"]).split("\n")[0] in html  # the reply as residents get it
    facts = html[html.index('class="testbox-facts"') : html.index("</dl>")]
    assert "<code>faq</code>" in facts and f"{said['score']:.2f}" in facts
    assert 'href="/admin/kb/311-hours"' in facts and "“When is 311 open?”" in facts  # the phrasing
    tops = html[html.index("Top three entries") :]
    assert tops.count('<td data-label="Entry">') == 3 and tops.index("311-hours") < tops.index(
        "Top three services"
    )
    assert "Top three intents" in html and "<code>faq</code>" in tops
    assert 'value="faq:311-hours" selected' in html  # ready to add to the regression set
    assert "911 triage fired" not in html

    status, html = await admin.post("/admin/test", {"q": "my neighbour is not breathing"})
    assert status == 200 and "911 triage fired" in html and "(kind: medical)" in html
    assert "<code>emergency</code>" in html and "Not searched" in html and "911" in html

    limit = hub.settings.MAX_MESSAGE_CHARS
    status, html = await admin.post("/admin/test", {"q": "x" * (limit + 1)})
    assert status == 400 and 'id="q-error"' in html and f"at most {limit:,} characters" in html
    assert "The bot would say" not in html and "x" * (limit + 1) in html  # kept as typed
    status, html = await admin.get("/admin/test?q=++")
    assert status == 200 and "The bot would say" not in html


async def _asked_again(admin: AdminClient) -> str:
    """The test box once the set has been asked again after the last change (in the
    background: the change's own page did not wait for it)."""
    for _ in range(240):
        status, html = await admin.get("/admin/test")
        assert status == 200
        if 'data-testid="regression-stale"' not in html:
            return html
        await asyncio.sleep(0.25)
    raise AssertionError("the regression set was not asked again after the change")


async def test_the_regression_set_shows_what_a_change_moved(admin: AdminClient, hub: Hub) -> None:
    status, html = await admin.post("/admin/test/regression", {"text": "  ", "expected": ""})
    assert status == 400 and 'id="reg-text-error"' in html
    status, html = await admin.post(
        "/admin/test/regression", {"text": "When is 311 open?", "expected": "faq:no-such"}
    )
    assert status == 400 and 'id="reg-expected-error"' in html and 'value="When is 311 open?"' in html
    for text, expected in [("When is 311 open?", "faq:311-hours"), ("my neighbour is not breathing", "")]:
        status, html = await admin.post("/admin/test/regression", {"text": text, "expected": expected})
        assert status == 200 and "Added to the regression set" in html
    status, html = await admin.post("/admin/test/regression", {"text": "When is 311  open?", "expected": ""})
    assert status == 400 and "in the set already" in html

    table = html[html.index('class="stack testbox-regression"') :]
    assert "regression-bad" not in table and "as expected" in table and "0 changed" in html

    # A change through the entry pages re-runs the set: the page shows what moved.
    status, _ = await admin.post("/admin/kb/311-hours/active", {"active": "0"})
    assert status == 200
    html = await _asked_again(admin)
    table = html[html.index('class="stack testbox-regression"') :]
    row = table[: table.index("</tr>", table.index("When is 311 open?"))]
    assert 'class="regression-bad"' in row and "no longer matches" in row and "changed" in row
    assert "When is 311 open? (311-hours)" in row  # before the change, named by its question
    assert "1 changed at the last change" in html and "1 does not give what is expected" in html

    # Run again with nothing changed: "before" is still what it was before the change.
    status, html = await admin.post("/admin/test/regression/run", {})
    assert status == 200 and "no longer matches" in html and "1 changed" in html

    async with hub.db.transaction() as session:
        ids = {r.text: r.id for r in (await session.scalars(select(RegressionQuestion))).all()}
    status, html = await admin.post(f"/admin/test/regression/{ids['When is 311 open?']}/remove", {})
    assert status == 200 and "Removed" in html and "Regression set (1)" in html
    assert [a for a in await _actions(hub) if a[0].startswith("regression.")] == [
        ("regression.add", "When is 311 open?"),
        ("regression.add", "my neighbour is not breathing"),
        ("regression.remove", "When is 311 open?"),
    ]
