"""Synonyms, training examples and the service catalogue over HTTP, on `serve`'s real
application: each save checked as `kb import` checks a file, reaching the bot on the next
message, and the catalogue kept for admins."""

from __future__ import annotations

import html as htmllib
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.ask import Asker
from bot.content import catalogue_store, kb_store
from bot.content.revision import revision
from bot.hub import Hub
from bot.models import AuditEntry, EmergencyAdvice, ServiceRow, SynonymGroup, TrainingExample
from knowledge.loader import dump_training, load_training
from tests.admin.conftest import ADMIN, EDITOR, AdminClient

NEW_WORD = "zorbleflap"  # a word the sample city has never seen
SLANG = "rubbage"  # one it does not know for garbage: "when is my rubbage collected" is not understood


class _Fields(HTMLParser):
    """The values a browser would send back for a page's forms, by field name."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.values: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input" and a.get("type") == "checkbox":
            if "checked" in a:
                self.values[a["name"]] = "on"
        elif tag == "input" and "name" in a:
            self.values.setdefault(a["name"], a.get("value", ""))
        elif tag == "textarea":
            self._textarea = a["name"]
            self.values[a["name"]] = ""
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.values[self._textarea] += data


def fields(page: str) -> dict[str, str]:
    parser = _Fields()
    parser.feed(page)
    values = parser.values
    for name, value in values.items():  # a browser drops the newline that opens a textarea
        values[name] = value.removeprefix("\n")
    values.pop("csrf", None)
    return values


def error_of(page: str, field: str) -> str:
    """The message shown next to `field` (the .error paragraph the field points to)."""
    start = page.index(f'id="{field}-error"')
    return htmllib.unescape(page[page.index(">", start) + 1 : page.index("</p>", start)])


async def _revision(hub: Hub) -> int:
    async with hub.db.transaction() as session:
        return await revision(session)


async def _count(hub: Hub, model: type) -> int:
    async with hub.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _actions(hub: Hub) -> list[tuple[str, str, str]]:
    async with hub.db.transaction() as session:
        rows = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
        return [(r.actor, r.action, r.subject) for r in rows]


@pytest.fixture
async def second(admin_site: str) -> AsyncIterator[AdminClient]:
    """Another browser, for a second account at the same time."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield AdminClient(http, admin_site)


async def test_synonyms_edit_reaches_the_bot_and_a_bad_list_changes_nothing(
    editor: AdminClient, hub: Hub
) -> None:
    asker = Asker(hub)
    question = f"when is my {SLANG} collected"
    assert (await asker.ask(question))["intent"] == "fallback"

    status, page = await editor.get("/admin/synonyms")
    assert status == 200
    typed = fields(page)["synonyms"]
    first, _, rest = typed.partition("\n")
    assert first == "garbage, trash, rubbish, junk, refuse collection"

    before, groups = await _revision(hub), await _count(hub, SynonymGroup)
    bad = f"{first}, {SLANG}\n{rest}\n{SLANG}-only\nlitter, Trash\n"
    status, page = await editor.post("/admin/synonyms", {"synonyms": bad})
    assert status == 400 and 'aria-invalid="true"' in page
    message = error_of(page, "synonyms")
    lines = bad.count("\n")
    assert f"Line {lines - 1} (“{SLANG}-only”) has one term" in message
    assert f"Line {lines}: “Trash” is already in the group on line 1" in message
    assert fields(page)["synonyms"] == bad  # all that was typed is kept
    assert (await _revision(hub), await _count(hub, SynonymGroup)) == (before, groups)

    status, page = await editor.post("/admin/synonyms", {"synonyms": f"{first}, {SLANG}\n{rest}"})
    assert status == 200 and "Saved. Residents get the change" in page
    assert await _revision(hub) > before
    async with hub.db.transaction() as session:
        kb = await kb_store.load(session)
    assert (*first.split(", "), SLANG) == kb.synonyms[0] and len(kb.synonyms) == groups
    answer = await asker.ask(question)  # the next message rebuilds on the new revision
    assert (answer["intent"], answer.get("entry")) == ("faq", "garbage-pickup-day")

    status, page = await editor.post("/admin/synonyms", {"synonyms": f"{first}, {SLANG}\n{rest}"})
    assert "Nothing had changed" in page
    assert [a for a in await _actions(hub) if a[1] == "synonyms.edit"] == [
        (EDITOR, "synonyms.edit", f"{groups} groups")
    ]


async def test_training_examples_per_label_checked_stored_and_exported(
    editor: AdminClient, hub: Hub, tmp_path: Path
) -> None:
    status, page = await editor.get("/admin/training")
    assert status == 200 and "learn again" in page
    assert 'href="/admin/training/smalltalk.greeting"' in page
    assert 'href="/admin/training/report%3Apothole"' in page and "emergency%3Afire" in page

    for unknown in ("/admin/training/smalltalk.weather", "/admin/training/report:no-such-service"):
        status, page = await editor.get(unknown)
        assert status == 404
    before = await _revision(hub)
    status, page = await editor.post("/admin/training/greeting", {"examples": "hi there"})
    assert status == 404 and "not a training label" in page

    status, page = await editor.get("/admin/training/smalltalk.greeting")
    assert status == 200 and "learn again" in page
    examples = fields(page)["examples"]
    stored = examples.splitlines()
    bad = f"{examples}\n\n{stored[0].upper()}\n{'x' * 501}\nhowdy {NEW_WORD}"
    status, page = await editor.post("/admin/training/smalltalk.greeting", {"examples": bad})
    assert status == 400
    message = error_of(page, "examples")
    assert f"Line {len(stored) + 2} (“{stored[0].upper()}”) repeats line 1: keep one." in message
    assert f"Line {len(stored) + 3} is 501 characters; an example is at most 500." in message
    assert fields(page)["examples"] == bad
    assert await _revision(hub) == before

    status, page = await editor.post(
        "/admin/training/smalltalk.greeting", {"examples": f"{examples}\nhowdy   {NEW_WORD}  partner"}
    )
    assert status == 200 and "The bot learns from the new examples" in page
    async with hub.db.transaction() as session:
        training = await kb_store.load_training(session)
        services = {s.code for s in (await catalogue_store.load(session)).services}
    assert training.intents["smalltalk.greeting"] == (*stored, f"howdy {NEW_WORD} partner")
    dump_training(training, tmp_path / "training.yaml")  # what `kb export` writes
    exported = load_training(tmp_path / "training.yaml", services=services)
    assert f"howdy {NEW_WORD} partner" in exported.intents["smalltalk.greeting"]
    assert list(exported.intents) == list(training.intents)  # the label kept its place

    # A new emergency kind: a good name, then its advice and examples (both needed).
    status, page = await editor.get("/admin/training/new-emergency?kind=Flood+Zone")
    assert status == 400 and "cannot name an emergency kind" in error_of(page, "kind")
    assert 'value="Flood Zone"' in page
    status, page = await editor.get("/admin/training/new-emergency?kind=fire")
    assert status == 400 and "already an emergency kind" in error_of(page, "kind")
    status, page = await editor.get("/admin/training/new-emergency?kind=flood")
    assert status == 200 and "This kind is new" in page
    status, page = await editor.post(
        "/admin/training/emergency:flood", {"advice": " ", "examples": "water rising fast"}
    )
    assert status == 400 and "Write the advice" in error_of(page, "advice")
    assert "water rising fast" in fields(page)["examples"]
    assert await _count(hub, EmergencyAdvice) == len(training.advice)
    status, page = await editor.post(
        "/admin/training/emergency:flood",
        {"advice": "Get to higher ground now.", "examples": "water is coming into my house fast"},
    )
    assert status == 200 and "Remove flood" in page
    async with hub.db.transaction() as session:
        training = await kb_store.load_training(session)
    assert training.emergencies["flood"] == ("water is coming into my house fast",)
    assert training.advice["flood"] == "Get to higher ground now."
    status, page = await editor.post("/admin/training/emergency:flood/remove")
    assert status == 200 and "Removed." in page
    assert await _count(hub, TrainingExample) == len(training) - 1
    assert [a[1:] for a in await _actions(hub) if a[1].startswith("training.")] == [
        ("training.edit", "smalltalk.greeting"),
        ("training.edit", "emergency:flood"),
        ("training.remove", "emergency:flood"),
    ]
    status, page = await editor.get("/admin/audit")
    assert status == 200 and "training.remove" in page and "howdy zorbleflap partner" in page


async def test_the_catalogue_is_for_admins_and_each_save_is_checked(
    editor: AdminClient, second: AdminClient, hub: Hub
) -> None:
    status, _ = await editor.get("/admin/kb")  # the editor's page, for a CSRF token of its own
    for path in ("/admin/services", "/admin/services/pothole", "/admin/departments", "/admin/users"):
        status, page = await editor.get(path)
        assert status == 403 and "Only an admin" in page, path
    for path in ("/admin/services/pothole", "/admin/departments", "/admin/users"):
        status, _ = await editor.post(
            path, {"name": "Taken over", "email": "x@city.example", "role": "admin"}
        )
        assert status == 403, path
    async with hub.db.transaction() as session:
        before = (await catalogue_store.load(session)).get("pothole")
    assert before is not None and before.name == "Pothole or street defect"

    admin = second
    assert (await admin.sign_in(ADMIN))[0] == 200
    status, page = await admin.get("/admin/services")
    assert status == 200 and 'href="/admin/services/pothole"' in page
    status, page = await admin.get("/admin/services/pothole")
    assert status == 200
    form = fields(page)
    assert form["typical_days"] == "5" and form["department"] == "Public Works"
    assert "- code: size" in form["questions"] and "aliases: [small, tiny, little]" in form["questions"]
    status, page = await admin.post("/admin/services/pothole", form)  # as it was: a no-op
    assert status == 200 and "Nothing had changed" in page

    revision_before = await _revision(hub)
    tries = [
        ({"typical_days": "soon"}, "typical_days", "Typical days must be a whole number of days."),
        ({"name": "  "}, "name", "Name is missing."),
        ({"department": "Nobody"}, "department", "There is no department “Nobody”. Add it first."),
        (
            {"questions": "- code: size\n  datatype: colour\n"},
            "questions",
            "Line 1 of the questions: datatype 'colour' must be one of",
        ),
        (
            {"questions": "- code: size\n  datatype: [unclosed\n"},
            "questions",
            "The questions are not valid YAML",
        ),
    ]
    for change, field, message in tries:
        typed = {**form, "keywords": form["keywords"] + "\nroad crater"} | change
        status, page = await admin.post("/admin/services/pothole", typed)
        assert status == 400, change
        assert error_of(page, field).startswith(message), error_of(page, field)
        assert fields(page) == typed  # everything typed comes back
    assert await _revision(hub) == revision_before

    edited = {**form, "typical_days": "3", "keywords": form["keywords"] + "\nroad crater"}
    status, page = await admin.post("/admin/services/pothole", edited)
    assert status == 200 and "Saved." in page
    async with hub.db.transaction() as session:
        after = (await catalogue_store.load(session)).get("pothole")
    assert after is not None and after.typical_days == 3 and after.keywords[-1] == "road crater"
    assert after.attributes == before.attributes and after.name == before.name

    new = {
        "code": "broken-bench",
        "name": "Broken bench",
        "department": "Recreation and Parks",
        "group": "Trees and parks",
        "typical_days": "",
        "keywords": "broken bench\nbench",
        "questions": "",
        "description": "A park or street bench that is broken.",
    }  # inactive ("active" unchecked): residents cannot report it yet, so nothing to learn
    status, page = await admin.post("/admin/services/new", {**new, "code": "pothole"})
    assert status == 400 and "already a service 'pothole'" in error_of(page, "code")
    status, page = await admin.post("/admin/services/new", {**new, "code": "Broken Bench"})
    assert status == 400 and "must be a slug" in error_of(page, "code")
    status, page = await admin.post("/admin/services/new", new)
    assert status == 200 and "Service created, inactive" in page
    async with hub.db.transaction() as session:
        row = await session.get(ServiceRow, "broken-bench")
    assert row is not None and row.department == "Recreation and Parks" and row.typical_days is None
    assert not row.active and row.keywords == ["broken bench", "bench"]
    status, _ = await admin.get("/admin/training/report:broken-bench")
    assert status == 200

    # Departments: the Slack channel each one's reports go to.
    status, page = await admin.post("/admin/departments", {"name": "Night crew", "slack_channel": "#night"})
    assert status == 400 and "is not a Slack channel id" in error_of(page, "slack_channel")
    assert 'value="Night crew"' in page
    status, page = await admin.post("/admin/departments", {"name": "Night crew", "slack_channel": "C0NIGHT1"})
    assert status == 200 and "Department added" in page
    status, page = await admin.post("/admin/departments", {"name": "night CREW", "slack_channel": ""})
    assert status == 400 and "already a department" in error_of(page, "name")
    status, page = await admin.post(
        "/admin/departments/channel", {"name": "Public Works", "slack_channel": "works"}
    )
    assert status == 400 and 'value="works"' in page
    status, page = await admin.post(
        "/admin/departments/channel", {"name": "Public Works", "slack_channel": "C0WORKS42"}
    )
    assert status == 200 and "Saved." in page
    status, page = await admin.post("/admin/departments/remove", {"name": "Public Works"})
    assert status == 409 and "give them another department first" in page
    status, page = await admin.post("/admin/departments/remove", {"name": "Night crew"})
    assert status == 200 and "Removed." in page
    async with hub.db.transaction() as session:
        departments = {d.name: d.slack_channel for d in (await catalogue_store.load(session)).departments}
    assert departments["Public Works"] == "C0WORKS42" and "Night crew" not in departments
    assert [a for a in await _actions(hub) if a[1].startswith(("service.", "department."))] == [
        (ADMIN, "service.edit", "pothole"),
        (ADMIN, "service.create", "broken-bench"),
        (ADMIN, "department.add", "Night crew"),
        (ADMIN, "department.channel", "Public Works"),
        (ADMIN, "department.remove", "Night crew"),
    ]
