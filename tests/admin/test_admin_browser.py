"""The admin pages in headless Chromium, as a city's content person uses them, against a
real `civic311 serve` process, with accounts made by `civic311 admin add-user`.

Set CIVIC311_SCREENSHOTS to a folder to keep a screenshot of each page at 375 px wide.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.browsers import ARGS, require_chromium
from tests.servers import ServeProcess, free_port

CHROMIUM = require_chromium()

from playwright.async_api import Browser, Page, async_playwright, expect  # noqa: E402

pytestmark = pytest.mark.slow

PASSWORD = "a long enough password"
PHONE = {"width": 375, "height": 740}
REPLY_MS = 30000  # the first turn of a process just started maps the model


def cli(server: ServeProcess, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=server.workdir,
        env=server.env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
    )


def bot_says(server: ServeProcess, text: str) -> dict[str, str]:
    done = cli(server, "ask", "--json", text)
    assert done.returncode == 0, done.stderr
    answer: dict[str, str] = json.loads(done.stdout)
    return answer


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        await browser.close()


@pytest.fixture
def server(sqlite_prepared: str, tmp_path: Path) -> Iterator[ServeProcess]:
    server = ServeProcess(sqlite_prepared, tmp_path)
    for email, role in (("ana@city.example", "admin"), ("ed@city.example", "editor")):
        made = cli(server, "admin", "add-user", email, "--role", role, stdin=PASSWORD + "\n")
        assert made.returncode == 0, made.stderr
    server.start()
    yield server
    server.stop()


async def shot(page: Page, name: str) -> None:
    folder = os.environ.get("CIVIC311_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - a test aid, once per shot
        await page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


async def sign_in(page: Page, base: str, email: str, password: str = PASSWORD) -> None:
    await page.goto(base + "/admin/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def chat(page: Page, text: str) -> None:
    box = page.get_by_test_id("chat-input")
    await box.fill(text)
    await box.press("Enter")


def bot_messages(page: Page):  # type: ignore[no-untyped-def]
    return page.locator('[data-testid="msg"][data-from="bot"]')


async def evil_site(target: str) -> tuple[web.AppRunner, str]:
    """Another site (another port is another origin) whose page posts to the admin pages
    as soon as it opens, with the signed-in admin's cookie riding along."""
    html = f"""<!doctype html><form method="post" action="{target}">
      <input name="csrf" value="guessed"><input name="question" value="When is 311 open?">
      <input name="answer" value="311 is closed for good."><input name="active" value="on">
      </form><script>document.forms[0].submit()</script>"""

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", index)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/"


async def test_an_admin_edits_an_answer_the_bot_uses_at_once_then_restores_it(
    browser: Browser, server: ServeProcess
) -> None:
    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(server.url) else None)

    await sign_in(page, server.url, "ana@city.example", "not my password")
    await expect(page.get_by_role("alert")).to_contain_text("do not match an account")
    await shot(page, "login-refused")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Knowledge base")).to_be_visible()
    await page.get_by_role("searchbox").fill("311 open")
    await page.get_by_role("button", name="Search").click()
    await shot(page, "kb-search")
    await page.get_by_role("link", name="When is 311 open?").click()

    answer = page.get_by_label("Answer", exact=True)
    await expect(answer).to_contain_text("24 hours")
    await answer.fill("311 is open **from 7 to 7** on weekdays.")
    await expect(page.get_by_test_id("preview-chat").locator("strong")).to_have_text("from 7 to 7")
    await shot(page, "entry-editor")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved.")

    # Another process (the command line) and the web chat get the new answer at once.
    assert "from 7 to 7 on weekdays" in bot_says(server, "When is 311 open?")["text"]
    resident = await context.new_page()
    await resident.goto(server.url)
    await expect(bot_messages(resident).first).to_be_visible(timeout=REPLY_MS)
    await chat(resident, "when is 311 open?")
    await expect(bot_messages(resident).nth(1)).to_contain_text("from 7 to 7", timeout=REPLY_MS)

    # Undone from the history.
    await page.get_by_role("link", name="History").click()
    await expect(page.get_by_text("Revision 2: edited")).to_be_visible()
    await shot(page, "history")
    await page.get_by_role("button", name="Restore revision 1").click()
    await expect(page.get_by_role("status")).to_contain_text("The revision is current again")
    assert "24 hours" in bot_says(server, "When is 311 open?")["text"]

    # A page on another site that posts to the admin pages changes nothing.
    runner, evil = await evil_site(f"{server.url}/admin/kb/311-hours")
    try:
        await page.goto(evil)
        await expect(page.get_by_role("heading", name="Not sent from here")).to_be_visible()
    finally:
        await runner.cleanup()
    assert "24 hours" in bot_says(server, "When is 311 open?")["text"]
    assert [u for u in outside if not u.startswith(evil)] == []  # the pages load nothing from elsewhere


async def test_an_unanswered_question_becomes_an_entry_and_the_test_box_explains(
    browser: Browser, server: ServeProcess
) -> None:
    context = await browser.new_context(viewport=PHONE)
    resident = await context.new_page()
    await resident.goto(server.url)
    await expect(bot_messages(resident).first).to_be_visible(timeout=REPLY_MS)
    for n, text in enumerate(("Does the city lend out snowshoes?", "does the city lend out snowshoes"), 1):
        await chat(resident, text)
        await expect(bot_messages(resident)).to_have_count(1 + n, timeout=REPLY_MS)

    page = await context.new_page()
    await sign_in(page, server.url, "ana@city.example")
    await page.get_by_role("link", name="Unanswered").click()
    group = page.get_by_test_id("inbox-group").filter(has_text="snowshoes")
    await expect(group).to_be_visible()
    await expect(group.get_by_test_id("inbox-count")).to_have_text("2")
    await shot(page, "inbox")
    await group.get_by_role("link", name="Create an entry").click()
    await expect(page.get_by_label("Question", exact=True)).to_have_value("Does the city lend out snowshoes?")
    await page.get_by_label("Id", exact=True).fill("snowshoe-loans")
    await page.get_by_label("Answer", exact=True).fill("The library lends snowshoes to anyone with a card.")
    await page.get_by_role("button", name="Create entry").click()
    await expect(page.get_by_role("status")).to_contain_text("Entry created")

    await chat(resident, "Does the city lend out snowshoes?")
    await expect(bot_messages(resident).last).to_contain_text("library lends snowshoes", timeout=REPLY_MS)
    await page.get_by_role("link", name="Unanswered").click()
    await expect(page.get_by_test_id("inbox-group").filter(has_text="snowshoes")).to_have_count(0)

    await page.get_by_role("link", name="Test box").click()
    await page.get_by_label("What would the bot say to").fill("When is 311 open?")
    await page.get_by_role("button", name="Ask").click()
    await expect(page.get_by_test_id("test-entry")).to_contain_text("311-hours")
    await expect(page.get_by_test_id("test-intent")).to_contain_text("faq")
    await expect(page.get_by_test_id("test-top")).to_have_count(3)
    await expect(page.get_by_test_id("test-phrasing")).to_contain_text("When is 311 open?")
    await shot(page, "test-box")


async def test_an_editor_is_kept_out_of_user_management(browser: Browser, server: ServeProcess) -> None:
    page = await browser.new_page(viewport=PHONE)
    await sign_in(page, server.url, "ed@city.example")
    await expect(page.get_by_role("heading", name="Knowledge base")).to_be_visible()
    nav = page.get_by_role("navigation", name="Admin areas")
    await expect(nav.get_by_role("link", name="Knowledge base")).to_be_visible()
    await expect(nav.get_by_role("link", name="Users")).to_have_count(0)
    response = await page.goto(server.url + "/admin/users")
    assert response is not None and response.status == 403
    await expect(page.get_by_role("heading", name="For admins only")).to_be_visible()
    await shot(page, "editor-refused")
    response = await page.goto(server.url + "/admin/services")
    assert response is not None and response.status == 403
