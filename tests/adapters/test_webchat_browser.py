"""The web chat page in headless Chromium (Debian's package, driven by Playwright)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.browsers import ARGS, require_chromium
from tests.servers import ServeProcess

CHROMIUM = require_chromium()

from playwright.async_api import Browser, Locator, Page, async_playwright, expect  # noqa: E402


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        await browser.close()


@pytest.fixture
def server(sqlite_prepared: str, tmp_path: Path) -> AsyncIterator[ServeProcess]:
    server = ServeProcess(sqlite_prepared, tmp_path).start()
    yield server
    server.stop()


async def ask(page: Page, text: str) -> None:
    box = page.get_by_test_id("chat-input")
    await box.fill(text)
    await box.press("Enter")


async def on_screen(page: Page, locator: Locator, wait_ms: float = 10000) -> None:
    """Wait until the element is wholly inside the window and the conversation's visible
    part, by its layout box. (Playwright's to_be_in_viewport asks an IntersectionObserver,
    which headless Chromium may not update until something paints.)"""
    handle = await locator.element_handle(timeout=wait_ms)
    await page.wait_for_function(
        """e => { const r = e.getBoundingClientRect(), log = document.getElementById('chat-log');
                  const l = log.getBoundingClientRect();
                  return r.height > 0 && r.top >= Math.max(0, l.top) - 1
                      && r.bottom <= Math.min(innerHeight, l.bottom) + 1; }""",
        arg=handle,
        timeout=wait_ms,
    )


def bot_messages(page: Page):  # type: ignore[no-untyped-def]
    return page.locator('[data-testid="msg"][data-from="bot"]')


FIRST_REPLY_MS = 30000


async def greeted(page: Page) -> None:
    """Wait for the greeting. It is the first turn of a serve process just started, which
    maps the model and warms its memos: on a shared CI machine that took over Playwright's
    default 5 s, while later replies are quick."""
    await expect(bot_messages(page).first).to_be_visible(timeout=FIRST_REPLY_MS)


async def test_ask_a_question_and_keep_history_across_reload(browser: Browser, server: ServeProcess) -> None:
    page = await browser.new_page(viewport={"width": 375, "height": 740})
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(server.url) else None)
    await page.goto(server.url)
    await greeted(page)
    await expect(bot_messages(page).first).to_contain_text("311")
    await ask(page, "when is 311 open?")
    await expect(bot_messages(page).nth(1)).to_contain_text("24 hours", timeout=15000)
    await expect(page.locator('[data-testid="msg"][data-from="resident"]')).to_contain_text(
        ["when is 311 open?"]
    )

    await page.reload()
    await expect(bot_messages(page).nth(1)).to_contain_text("24 hours", timeout=15000)
    assert await page.locator('[data-testid="msg"]').count() == 3
    assert external == []  # the page loads nothing from other sites


async def test_keyboard_only_choice_and_screen_reader_roles(browser: Browser, server: ServeProcess) -> None:
    page = await browser.new_page()
    await page.goto(server.url)
    log = page.get_by_test_id("chat-log")
    assert await log.get_attribute("role") == "log"
    assert await log.get_attribute("aria-live") == "polite"
    await greeted(page)
    await page.get_by_test_id("chat-input").focus()
    await page.keyboard.type("qwzx frobnicate the vorpal blade")
    await page.keyboard.press("Enter")
    choice = page.get_by_test_id("choice").first
    await expect(choice).to_be_visible(timeout=15000)
    await choice.focus()
    await page.keyboard.press("Enter")
    await expect(bot_messages(page).last).to_contain_text("noted your question", timeout=15000)


async def test_an_error_keeps_the_typed_text(browser: Browser, server: ServeProcess) -> None:
    page = await browser.new_page()
    await page.goto(server.url)
    await greeted(page)
    await page.evaluate("localStorage.setItem('civic311.token', 'forged')")
    # A forged/expired token: the page must recover with a new session, not lose the text.
    await ask(page, "when is 311 open?")
    await expect(bot_messages(page).last).to_contain_text("24 hours", timeout=15000)


async def test_a_photo_the_bot_asks_for_is_checked_sent_and_shown(
    browser: Browser, server: ServeProcess
) -> None:
    """The request for a photo arrives as a later message through the outbox, as a staff
    member's would; the resident picks a file with the page's own Attach photo button."""
    from bot.db import Database
    from bot.delivery.outbox import Later, enqueue
    from bot.messages import Outgoing
    from bot.timeutil import utcnow
    from bot.web import sessions
    from tests.images import has_location, pdf, photo, two_colour

    page = await browser.new_page()
    await page.goto(server.url)
    await greeted(page)
    token = await page.evaluate("localStorage.getItem('civic311.token')")
    db = Database(server.env["DATABASE_URL"])
    try:
        address = await sessions.resolve(db, token)
        assert address is not None
        asking = Outgoing("Could you add a photo of it?", request="photo")
        async with db.transaction() as s:
            enqueue(s, Later("webchat", address, asking), utcnow())
    finally:
        await db.dispose()
    await expect(page.get_by_test_id("attach-photo")).to_be_visible(timeout=15000)
    picker = page.locator('.actions input[type="file"]')

    await picker.set_input_files({"name": "report.jpg.pdf", "mimeType": "application/pdf", "buffer": pdf()})
    await expect(page.get_by_test_id("notice").last).to_contain_text("isn't a photo")

    sent = photo("JPEG", image=two_colour(400, 200))
    await picker.set_input_files({"name": "pothole.jpg", "mimeType": "image/jpeg", "buffer": sent})
    mine = page.locator('[data-testid="msg"][data-from="resident"] img.photo')
    await expect(mine).to_have_attribute("alt", "Your photo", timeout=15000)
    await page.wait_for_function(
        "() => { const i = document.querySelector('[data-from=\"resident\"] img.photo');"
        " return i && i.complete && i.naturalWidth === 400; }"
    )
    src = await mine.get_attribute("src")
    assert src is not None and src.startswith(f"{server.url}/media/")
    served = await page.request.get(src)
    assert served.ok and not has_location(await served.body())


async def test_a_resident_files_a_report_and_sees_the_status_change_live(
    browser: Browser, server: ServeProcess, tmp_path: Path
) -> None:
    """The issue's "done means": pothole with a photo and a pin, a number, then staff
    (`civic311 report set-status`) move it to in progress and the open page shows it."""
    import asyncio
    import re
    import subprocess
    import sys

    from tests.images import photo, two_colour

    context = await browser.new_context(
        viewport={"width": 390, "height": 844},
        geolocation={"latitude": 37.7829, "longitude": -122.4074},
        permissions=["geolocation"],
    )
    page = await context.new_page()
    await page.goto(server.url)
    await greeted(page)

    async def tap(label: str) -> None:
        await page.get_by_test_id("choice").filter(has_text=label).first.click()

    await ask(page, "there's a huge pothole on 5th and Market, almost lost a tire")
    await expect(bot_messages(page).last).to_contain_text("pothole", timeout=15000)
    await tap("Yes")
    await expect(page.get_by_test_id("attach-photo")).to_be_visible(timeout=15000)
    await page.locator('.actions input[type="file"]').set_input_files(
        {"name": "pothole.jpg", "mimeType": "image/jpeg", "buffer": photo("JPEG", image=two_colour(320, 240))}
    )
    await expect(bot_messages(page).last).to_contain_text("1 of 3", timeout=15000)
    await page.wait_for_function(  # the photo has its height: the scroll that follows it is done
        "() => { const i = document.querySelector('[data-from=\"resident\"] img.photo');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    # On a phone the reply under the photo, and its buttons, are on screen without scrolling.
    await on_screen(page, bot_messages(page).last)
    await on_screen(page, page.get_by_test_id("choice").filter(has_text="Done").first)
    await page.screenshot(path=str(tmp_path / "after-photo.png"))
    await tap("Done")
    await expect(page.get_by_test_id("share-location")).to_be_visible(timeout=15000)
    composer = page.locator("textarea")
    await expect(composer).to_have_attribute("placeholder", "Type the address or cross streets…")
    await page.get_by_test_id("share-location").click()
    await expect(bot_messages(page).last).to_contain_text("how big", timeout=15000)
    await tap("larger than a dinner plate")
    await expect(bot_messages(page).last).to_contain_text("Please check your report", timeout=15000)
    await tap("Send report")
    await expect(bot_messages(page).last).to_contain_text("Your report number is", timeout=15000)
    number = re.search(r"report number is (\d+)", await bot_messages(page).last.inner_text())
    assert number is not None

    staff = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "bot.cli",
            "report",
            "set-status",
            number.group(1),
            "in_progress",
            "--note",
            "Crew booked for Thursday",
        ],
        cwd=tmp_path,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert staff.returncode == 0, staff.stderr
    assert "1 subscriber(s) will be told" in staff.stdout
    update = bot_messages(page).last
    await expect(update).to_contain_text("in progress", timeout=20000)  # live, no reload
    await expect(update).to_contain_text("Crew booked for Thursday")
    await expect(composer).to_have_attribute("placeholder", "Type your question…")
    await page.screenshot(path=str(tmp_path / "report-flow.png"), full_page=True)
    await context.close()
