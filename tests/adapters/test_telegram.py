"""Telegram, as a resident uses it: python-telegram-bot against a fake Bot API, our webhook
called as Telegram calls it, everything the bot says delivered through the outbox."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from PIL import Image
from sqlalchemy import select

from bot.messages import Outgoing
from bot.models import OutboxMessage, Report, Subscription, Turn
from bot.reporting import reports
from bot.timeutil import utcnow
from tests.telegram_city import SECRET, City, said, telegram_city

MARKET_5TH = (37.7829, -122.4074)


@pytest.fixture
async def city(prepared_url: str, tmp_path: Path) -> AsyncIterator[City]:
    async with telegram_city(prepared_url, tmp_path) as city:
        yield city


def jpeg(size: tuple[int, int] = (640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (120, 90, 30)).save(out, "JPEG")
    return out.getvalue()


async def test_serve_registers_its_webhook_and_commands(city: City) -> None:
    hook = city.fake.webhook
    assert hook is not None and hook.url == f"{city.url}/telegram/webhook"
    assert hook.secret_token == SECRET
    (call,) = city.fake.calls("setWebhook")
    assert set(call.params["allowed_updates"]) == {"message", "callback_query", "my_chat_member"}
    assert [c["command"] for c in city.fake.commands()] == ["start", "help", "status", "myreports", "cancel"]


async def test_a_forged_or_malformed_webhook_is_refused_and_nothing_happens(city: City) -> None:
    chat = city.chat()
    update = city.fake.updates.message("when is 311 open?", user=chat.user, chat=chat.chat)
    assert (await city.fake.post_webhook(update, secret="wrong"))[0] == 403
    async with aiohttp.ClientSession() as http:
        hook = f"{city.url}/telegram/webhook"
        async with http.post(hook, json=update) as r:  # no secret at all
            assert r.status == 403
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        for body in (b"{not json", b"[1, 2]", b'{"update_id": "x"}', b"[" * 5000 + b"]" * 5000):
            async with http.post(hook, data=body, headers=headers) as r:
                assert r.status == 400, body[:20]
                assert (await r.json())["ok"] is False
    async with city.hub.db.reading() as s:
        assert (await s.scalars(select(Turn))).all() == []
    assert city.fake.sent_to(chat.id) == []


async def test_a_redelivered_update_is_answered_once(city: City) -> None:
    chat = city.chat()
    update = city.fake.updates.message("when is 311 open?", user=chat.user, chat=chat.chat)
    first = await chat.send(update)
    again = await chat.send(update)  # Telegram redelivers after a timeout or a lost answer
    assert "24 hours" in said(first) and again == []
    assert chat.statuses == [200, 200]


async def test_a_whole_report_with_a_photo_and_a_shared_location_through_buttons(city: City) -> None:
    chat = city.chat()
    greeting = await chat.send(city.fake.updates.command("/start", user=chat.user, chat=chat.chat))
    assert "311" in said(greeting)
    asked = await chat.say("there's a huge pothole on 5th and Market, almost lost a tire")
    assert "pothole" in said(asked).lower()
    asked = await chat.tap("Yes", asked)
    assert "photo" in said(asked).lower()

    photo = city.fake.updates.photo(jpeg(), user=chat.user, chat=chat.chat)
    asked = await chat.send(photo)
    assert "1 of 3" in said(asked)
    asked = await chat.tap("Done", asked)
    keyboard = city.fake.calls("sendMessage")[-1].params["reply_markup"]["keyboard"]
    assert keyboard[0][0]["request_location"] is True  # Telegram's own "share location" button

    asked = await chat.send(city.fake.updates.location(*MARKET_5TH, user=chat.user, chat=chat.chat))
    asked = await chat.tap("larger than a dinner plate", asked)
    assert "Please check your report" in said(asked)
    filed = await chat.tap("Send report", asked)

    async with city.hub.db.reading() as s:
        report = (await s.scalars(select(Report))).one()
        sub = (await s.scalars(select(Subscription))).one()
    assert f"report number is <b>{report.number}</b>" in filed[0]["text"] or report.number in said(filed)
    assert (report.lat, report.lon) == MARKET_5TH and len(report.media) == 1
    assert (sub.channel, sub.address) == ("telegram", str(chat.id))
    # Every tap was acknowledged at once, and the tapped question lost its buttons.
    answered = [c.params["callback_query_id"] for c in city.fake.calls("answerCallbackQuery")]
    assert len(answered) == 4
    assert all(c.status == 200 for c in city.fake.calls("answerCallbackQuery"))
    assert len(city.fake.calls("editMessageReplyMarkup")) == 4

    # Staff change the status: the update reaches the chat.
    async with city.hub.db.transaction() as s:
        await reports.set_status(s, report.number, "in_progress", now=utcnow(), note="Crew booked")
    city.hub.outbox_queued.set()
    await city.drained()
    update = said(chat.new())
    assert report.number in update and "in progress" in update.lower()


async def test_photos_the_bot_cannot_use_are_refused_with_a_reason(city: City) -> None:
    chat = city.chat()
    await chat.say("there's a huge pothole on 5th and Market")
    pdf = city.fake.updates.document(b"%PDF-1.4 not a photo", "report.pdf", "application/pdf")
    assert "can't open that kind of file" in said(await chat.send(pdf))
    fake_jpeg = city.fake.updates.document(b"\xff\xd8 broken", "x.jpg", "image/jpeg")
    assert "isn't a photo" in said(await chat.send(fake_jpeg))
    heic = city.fake.updates.document(b"\x00\x00\x00\x18ftypheic broken", "IMG_1.HEIC", "image/heic")
    assert "isn't a photo" in said(await chat.send(heic))


async def test_stickers_voice_and_edits_get_a_polite_word_or_nothing(city: City) -> None:
    chat = city.chat()
    assert "can't open a voice message" in said(await chat.send(city.fake.updates.voice(user=chat.user)))
    assert "can't open a sticker" in said(await chat.send(city.fake.updates.sticker(user=chat.user)))
    first = city.fake.updates.message("hello", user=chat.user, chat=chat.chat)
    await chat.send(first)
    assert await chat.send(city.fake.updates.edited(first, "hello again")) == []


async def test_in_a_group_the_bot_answers_only_when_addressed(city: City) -> None:
    group = city.fake.updates.group()
    chat = city.chat()
    chat.chat = group
    assert await chat.say("when is 311 open?") == []  # neighbours talking among themselves
    me = city.fake.bot_user["username"]
    mention = [{"type": "mention", "offset": 0, "length": len(me) + 1}]  # as the app marks it
    asked = city.fake.updates.message(
        f"@{me} when is 311 open?", user=chat.user, chat=group, entities=mention
    )
    assert "24 hours" in said(await chat.send(asked))
    status = await chat.send(
        city.fake.updates.command("/status", "10001", user=chat.user, chat=group, mention=True)
    )
    assert status and "10001" in said(status)


async def test_status_updates_wait_out_a_429_and_stop_after_a_block(
    city: City, caplog: pytest.LogCaptureFixture
) -> None:
    chat = city.chat()
    await chat.say("hello")
    number = await _file_quickly(city, str(chat.id))
    city.fake.fail("sendMessage", 429, retry_after=1, chat_id=chat.id)
    async with city.hub.db.transaction() as s:
        await reports.set_status(s, number, "in_progress", now=utcnow())
    city.hub.outbox_queued.set()
    await city.drained()
    tries = [c for c in city.fake.calls("sendMessage") if str(c.params["chat_id"]) == str(chat.id)]
    assert [c.status for c in tries[-2:]] == [429, 200]
    assert tries[-1].at - tries[-2].at >= 0.9  # it waited what Telegram asked

    city.fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user", chat_id=chat.id, times=None)
    async with city.hub.db.transaction() as s:
        await reports.set_status(s, number, "closed", now=utcnow())
        await reports.set_status(s, number, "in_progress", now=utcnow())
    city.hub.outbox_queued.set()
    await city.drained()
    blocked = [
        c
        for c in city.fake.calls("sendMessage")
        if str(c.params["chat_id"]) == str(chat.id) and c.status == 403
    ]
    assert len(blocked) == 1  # the second update was not even tried
    async with city.hub.db.reading() as s:
        failed = (
            await s.scalars(select(OutboxMessage.status).where(OutboxMessage.address == str(chat.id)))
        ).all()
        active = (await s.scalars(select(Subscription.active))).all()
    assert failed.count("failed") == 2 and active == [False]
    async with city.hub.db.transaction() as s:
        assert (await reports.set_status(s, number, "closed", now=utcnow())).notified == 0
    assert TOKEN_SECRET not in caplog.text


TOKEN_SECRET = "t3stt3st"


async def test_a_group_that_became_a_supergroup_is_followed(city: City) -> None:
    old = city.fake.updates.group(-4242, "Block watch", supergroup=False)
    chat = city.chat()
    chat.chat = old
    await chat.send(city.fake.updates.command("/start", user=chat.user, chat=old, mention=True))
    number = await _file_quickly(city, str(old["id"]))
    city.fake.upgrade_group(-4242, -1009990001)
    async with city.hub.db.transaction() as s:
        await reports.set_status(s, number, "in_progress", now=utcnow())
    city.hub.outbox_queued.set()
    await city.drained()
    assert number in " ".join(str(x) for x in city.fake.sent_to(-1009990001))
    async with city.hub.db.reading() as s:
        assert (await s.scalars(select(Subscription.address))).all() == ["-1009990001"]


async def test_a_long_answer_arrives_whole_in_pieces(city: City) -> None:
    chat = city.chat()
    long_text = ("A sentence about the city & its <services>. " * 200).strip()
    await city.hub.send_later("telegram", str(chat.id), Outgoing(long_text))
    await city.drained()
    parts = [str(x) for x in city.fake.sent_to(chat.id)]
    assert len(parts) == 3 and all(len(p) <= 4096 for p in parts)
    assert " ".join(parts).split() == long_text.split()


async def _file_quickly(city: City, address: str) -> str:
    async with city.hub.db.transaction() as s:
        report = await reports.file_report(
            s, service_code="pothole", description="hole", now=utcnow(), channel="telegram", address=address
        )
        return report.number


def test_logs_never_show_the_token(caplog: pytest.LogCaptureFixture) -> None:
    from adapters.telegram.client import TokenFilter, redact
    from tests.telegram_city import TOKEN

    record = logging.LogRecord(
        "httpx", logging.INFO, "", 0, "POST %s", (f"https://api/bot{TOKEN}/getMe",), None
    )
    TokenFilter(TOKEN).filter(record)
    assert TOKEN not in record.getMessage() and "<telegram-token>" in record.getMessage()
    assert TOKEN.partition(":")[2] not in redact(f"The token `{TOKEN}` was rejected", TOKEN)


async def test_an_iphone_heic_photo_sent_as_a_file_is_taken_as_jpeg_without_its_location(city: City) -> None:
    import pillow_heif

    from tests.images import has_location, located_exif, two_colour

    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    two_colour(64, 48).save(out, format="HEIF", exif=located_exif().tobytes())
    heic = out.getvalue()
    assert heic[4:12] == b"ftypheic"

    chat = city.chat()
    asked = await chat.say("there's a huge pothole on 5th and Market")
    asked = await chat.tap("Yes", asked)
    sent = city.fake.updates.document(heic, "IMG_0001.HEIC", "image/heic", user=chat.user, chat=chat.chat)
    assert "1 of 3" in said(await chat.send(sent))
    stored = list((city.hub.settings.MEDIA_DIR).glob("*.jpg"))
    assert len(stored) == 1 and not has_location(stored[0].read_bytes())
    assert Image.open(stored[0]).size == (64, 48)


async def test_a_photo_over_the_limit_is_refused_before_it_is_downloaded(city: City) -> None:
    chat = city.chat()
    asked = await chat.say("there's a huge pothole on 5th and Market")
    await chat.tap("Yes", asked)
    big = city.fake.updates.document(b"\xff\xd8" + b"0" * (11 * 1024 * 1024), "big.jpg", "image/jpeg")
    assert "the limit is 10 MB" in said(await chat.send(big))
    assert city.fake.downloads == []


async def test_a_5xx_or_a_timeout_is_tried_again_later(city: City) -> None:
    chat = city.chat()
    await chat.say("hello")
    city.fake.fail("sendMessage", 502, "Bad Gateway", chat_id=chat.id)
    city.fake.delay("sendMessage", 20.0, chat_id=chat.id)  # past the 15 s read timeout: TimedOut
    await city.hub.send_later("telegram", str(chat.id), Outgoing("Your report is in progress."))
    await city.drained(within_s=90)
    async with city.hub.db.reading() as s:
        row = (
            await s.execute(
                select(OutboxMessage.status, OutboxMessage.attempts).order_by(OutboxMessage.id.desc())
            )
        ).first()
    assert row is not None and row.status == "sent" and row.attempts >= 2
    assert "Your report is in progress." in [str(x) for x in city.fake.sent_to(chat.id)]
