"""The fake Bot API as the real python-telegram-bot sees it: over HTTP, nothing mocked.

Each test drives `telegram.Bot` and checks both sides: what PTB returned or raised, and what
the fake recorded. PTB's exceptions capitalise Telegram's description after dropping
"Bad Request: ", so messages are compared in lower case.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import io
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from PIL import Image
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    ChatMemberBanned,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)

from tests.fakes.telegram_api import FakeTelegram, Photo, run_in_thread, telegram_api


def jpeg(width: int = 1000, height: int = 600) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()


async def refusal(call: Awaitable[object]) -> str:
    """What Telegram said, lower-cased: PTB capitalises it once "Bad Request: " is dropped."""
    with pytest.raises(BadRequest) as refused:
        await call
    return refused.value.message.lower()


def bot_for(fake: FakeTelegram, token: str | None = None) -> Bot:
    return Bot(token or fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with telegram_api() as fake:
        yield fake


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with bot_for(fake) as bot:
        yield bot


@pytest.fixture
def chat_id(fake: FakeTelegram) -> int:
    """A resident's private chat, known to the fake as if they had pressed Start."""
    return int(fake.updates.private_chat()["id"])


class Receiver:
    """Our side of a webhook: records what Telegram posts, answers as scripted."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, str], Any]] = []
        self.answers: list[tuple[int, str]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((dict(request.headers), await request.json()))
        status, body = self.answers.pop(0) if self.answers else (200, "")
        return web.Response(status=status, text=body, content_type="application/json")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app, found = web.Application(), Receiver()
    app.router.add_post("/telegram/webhook", found.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    found.url = str(server.make_url("/telegram/webhook"))
    try:
        yield found
    finally:
        await server.close()


async def test_get_me_answers_the_configured_bot(fake: FakeTelegram, bot: Bot) -> None:
    assert (bot.id, bot.username, bot.first_name) == (123456, "civic311_test_bot", "Civic311 Test")
    assert bot.bot.can_join_groups is True
    assert bot.bot.supports_inline_queries is False
    [call] = fake.calls()
    assert (call.method, call.status, call.token) == ("getMe", 200, "123456:TEST-token")


async def test_send_message_html_with_an_inline_keyboard(fake: FakeTelegram, bot: Bot, chat_id: int) -> None:
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Track", callback_data="status:10234"),
                InlineKeyboardButton("Map", url="https://example.org/map"),
            ]
        ]
    )
    text = "<b>Report 10234</b> &amp; status: <i>open</i>"
    message = await bot.send_message(chat_id, text, parse_mode="HTML", reply_markup=keyboard)
    assert message.text == "Report 10234 & status: open"
    assert [(e.type, e.offset, e.length) for e in message.entities] == [("bold", 0, 12), ("italic", 23, 4)]
    assert message.reply_markup is not None
    assert message.reply_markup.inline_keyboard[0][0].callback_data == "status:10234"
    assert message.from_user is not None and message.from_user.id == bot.id
    assert (message.chat.id, message.chat.type, message.message_id) == (chat_id, "private", 1)
    assert isinstance(message.date, dtm.datetime)

    [call] = fake.calls("sendMessage")
    assert call.params["chat_id"] == chat_id  # sent as "7001", decoded to an int
    assert call.params["text"] == text and call.params["parse_mode"] == "HTML"
    assert call.params["reply_markup"] == {
        "inline_keyboard": [
            [
                {"text": "Track", "callback_data": "status:10234"},
                {"text": "Map", "url": "https://example.org/map"},
            ]
        ]
    }
    assert fake.sent_to(chat_id) == ["Report 10234 & status: open"]
    second = await bot.send_message(chat_id, "Anything else?")
    assert second.message_id == 2 and second.reply_markup is None


async def test_a_reply_keyboard_asking_for_the_location_is_accepted_and_not_echoed(
    fake: FakeTelegram, bot: Bot, chat_id: int
) -> None:
    markup = ReplyKeyboardMarkup([[KeyboardButton("Send my location", request_location=True)]])
    message = await bot.send_message(chat_id, "Where is it?", reply_markup=markup)
    assert message.reply_markup is None  # Telegram gives back inline keyboards only
    assert fake.calls("sendMessage")[0].params["reply_markup"]["keyboard"][0][0]["request_location"] is True


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("<b>Report 10234", 'can\'t find end tag corresponding to start tag "b"'),
        ("Potholes < 5 cm", 'unsupported start tag "" at byte offset 9'),
        ("<p>Paragraph</p>", 'unsupported start tag "p" at byte offset 0'),
        ("<b>bold</i>", 'unmatched end tag at byte offset 7, expected "</b>", found "</i>"'),
        ("Smith & Sons", 'unescaped "&" at byte offset 6, write &amp;'),
    ],
)
async def test_malformed_html_is_refused(
    fake: FakeTelegram, bot: Bot, chat_id: int, text: str, why: str
) -> None:
    assert await refusal(bot.send_message(chat_id, text, parse_mode="HTML")) == f"can't parse entities: {why}"
    assert fake.sent_to(chat_id) == []
    [call] = fake.calls("sendMessage")
    assert call.status == 400 and call.response is not None
    assert call.response["description"].startswith("Bad Request: can't parse entities: ")


async def test_not_strict_lets_through_what_the_server_does_but_the_documentation_forbids() -> None:
    both = InlineKeyboardMarkup([[InlineKeyboardButton("Go", url="https://example.org", callback_data="go")]])
    async with telegram_api(strict=False) as fake, bot_for(fake) as bot:
        chat = fake.updates.private_chat()
        message = await bot.send_message(chat["id"], "Smith & Sons &laquo;", parse_mode="HTML")
        assert message.text == "Smith & Sons &laquo;"  # a bare "&" and an unknown entity stay text
        assert (await bot.send_message(chat["id"], "Two kinds", reply_markup=both)).reply_markup == both
    async with telegram_api() as fake, bot_for(fake) as bot:
        chat = fake.updates.private_chat()
        refused = await refusal(bot.send_message(chat["id"], "Two kinds", reply_markup=both))
        assert refused.startswith("can't parse inline keyboard button: exactly one of url, callback_data")


async def test_a_photo_by_url_is_fetched(fake: FakeTelegram, bot: Bot, chat_id: int) -> None:
    data = jpeg(400, 300)

    async def pothole(request: web.Request) -> web.Response:
        return web.Response(body=data, content_type="image/jpeg")

    app = web.Application()
    app.router.add_get("/pothole.jpg", pothole)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        url = str(server.make_url("/pothole.jpg"))
        message = await bot.send_photo(chat_id, url, caption="From the web")
        assert message.photo[-1].width == 400
        [sent] = fake.sent_to(chat_id)
        assert isinstance(sent, Photo) and (sent.data, sent.source) == (data, url)
        missing = bot.send_photo(chat_id, str(server.make_url("/missing.jpg")))
        assert await refusal(missing) == "failed to get http url content"
    finally:
        await server.close()


async def test_text_limits_count_what_the_reader_sees(fake: FakeTelegram, bot: Bot, chat_id: int) -> None:
    await bot.send_message(chat_id, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    assert await refusal(bot.send_message(chat_id, "x" * 4097)) == "message is too long"
    assert (
        await refusal(bot.send_message(chat_id, "  <b> </b> ", parse_mode="HTML")) == "message text is empty"
    )
    assert len(fake.sent_to(chat_id)) == 1
    assert [c.status for c in fake.calls("sendMessage")] == [200, 400, 400]


async def test_callback_data_longer_than_64_bytes_is_refused(
    fake: FakeTelegram, bot: Bot, chat_id: int
) -> None:
    def keyboard(data: str) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data=data)]])

    await bot.send_message(chat_id, "64 bytes", reply_markup=keyboard("x" * 64))
    for data in ("x" * 65, "é" * 33):  # 33 characters, but 66 bytes in UTF-8
        assert (
            await refusal(bot.send_message(chat_id, "too long", reply_markup=keyboard(data)))
            == "button_data_invalid"
        )
    assert fake.sent_to(chat_id) == ["64 bytes"]


async def test_a_photo_upload_is_recorded_and_sized(fake: FakeTelegram, bot: Bot, chat_id: int) -> None:
    data = jpeg(1000, 600)
    message = await bot.send_photo(chat_id, data, caption="Pothole on <b>Elm St</b>", parse_mode="HTML")
    assert message.caption == "Pothole on Elm St"
    assert [(p.width, p.height) for p in message.photo] == [(90, 54), (320, 192), (800, 480), (1000, 600)]
    assert message.photo[-1].file_size == len(data)
    [call] = fake.calls("sendPhoto")
    assert call.params["photo"] == data and call.uploads["photo"].data == data
    assert call.params["caption"] == "Pothole on <b>Elm St</b>"
    [sent] = fake.sent_to(chat_id)
    assert isinstance(sent, Photo)
    assert (sent.data, sent.source, sent.caption) == (data, None, "Pothole on Elm St")
    assert sent.file_id == message.photo[-1].file_id

    again = await bot.send_photo(chat_id, message.photo[-1].file_id)  # a file_id sends the same photo
    assert [p.file_id for p in again.photo] == [p.file_id for p in message.photo]
    assert await refusal(bot.send_photo(chat_id, b"not an image at all")) == "image_process_failed"
    assert await refusal(bot.send_photo(chat_id, data, caption="x" * 1025)) == "message caption is too long"
    assert (
        await refusal(bot.send_photo(chat_id, "AgACnot-a-file-id"))
        == "wrong file identifier/http url specified"
    )
    assert len(fake.sent_to(chat_id)) == 2


async def test_get_file_then_download_gives_the_bytes(fake: FakeTelegram, bot: Bot) -> None:
    data = jpeg(640, 480)
    update = fake.updates.photo(data, caption="Graffiti")
    largest = update["message"]["photo"][-1]
    assert [s["width"] for s in update["message"]["photo"]] == [90, 320, 640]
    file = await bot.get_file(largest["file_id"])
    assert (file.file_id, file.file_size) == (largest["file_id"], len(data))
    assert bytes(await file.download_as_bytearray()) == data
    assert fake.downloads == [fake.calls("getFile")[0].response["result"]["file_path"]]  # type: ignore[index]
    small = await bot.get_file(update["message"]["photo"][0]["file_id"])
    assert Image.open(io.BytesIO(bytes(await small.download_as_bytearray()))).size == (90, 68)
    assert await refusal(bot.get_file("no-such-file")) == "invalid file_id"


async def test_answer_callback_query_for_a_query_the_fake_issued(
    fake: FakeTelegram, bot: Bot, chat_id: int
) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Track", callback_data="status:10234")]])
    await bot.send_message(chat_id, "Report 10234 filed", reply_markup=keyboard)
    update = fake.updates.callback(fake.messages(chat_id)[-1], "status:10234")
    parsed = Update.de_json(update, bot)
    assert parsed.callback_query is not None and parsed.callback_query.data == "status:10234"
    assert parsed.callback_query.message is not None and parsed.callback_query.message.message_id == 1
    query_id = parsed.callback_query.id

    assert await bot.answer_callback_query(query_id, text="Still open", show_alert=True) is True
    assert fake.callback_answer(query_id) == {
        "text": "Still open",
        "show_alert": True,
        "url": None,
        "cache_time": 0,
    }
    for stale in (query_id, "4600000000000000999"):
        assert (
            await refusal(bot.answer_callback_query(stale))
            == "query is too old and response timeout expired or query id is invalid"
        )


async def test_a_long_poll_wakes_when_an_update_is_queued(fake: FakeTelegram, bot: Bot) -> None:
    started = time.monotonic()
    polling = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.3)
    assert not polling.done()
    update = fake.updates.command("/start", "status_10234")
    assert fake.queue_update(update) is True
    [got] = await asyncio.wait_for(polling, 3)
    assert time.monotonic() - started < 3
    assert got.update_id == update["update_id"]
    assert got.message is not None and got.message.text == "/start status_10234"
    assert [(e.type, e.offset, e.length) for e in got.message.entities] == [("bot_command", 0, 6)]
    assert got.message.chat.type == "private" and got.message.from_user is not None

    # Not confirmed yet: it comes again. An offset above it confirms it, and it is gone.
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [got.update_id]
    assert await bot.get_updates(offset=got.update_id + 1, timeout=0) == ()
    assert fake.pending_updates == []
    assert [c.params.get("timeout") for c in fake.calls("getUpdates")] == [10, 0, 0]


async def test_an_empty_long_poll_lasts_its_timeout(fake: FakeTelegram, bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 < time.monotonic() - started < 3


async def test_a_second_poller_ends_the_waiting_one_with_conflict(fake: FakeTelegram, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.3)
    async with bot_for(fake) as other_instance:
        second = asyncio.create_task(other_instance.get_updates(timeout=1))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await asyncio.wait_for(first, 3)
        assert await second == ()
    statuses = [c.status for c in fake.calls("getUpdates")]
    assert statuses == [409, 200]


async def test_get_updates_conflicts_while_a_webhook_is_set(fake: FakeTelegram, bot: Bot) -> None:
    waiting = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.3)
    url = "http://127.0.0.1:9/telegram/webhook"
    assert await bot.set_webhook(url, secret_token="s3cret_-", allowed_updates=["message", "callback_query"])
    with pytest.raises(Conflict, match="terminated by setWebhook request"):
        await asyncio.wait_for(waiting, 3)
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count, info.max_connections) == (url, 0, 40)
    assert set(info.allowed_updates) == {"message", "callback_query"}
    with pytest.raises(Conflict) as conflict:
        await bot.get_updates()
    assert conflict.value.message == (
        "Conflict: can't use getUpdates method while webhook is active; "
        "use deleteWebhook to delete the webhook first"
    )
    assert fake.webhook is not None and fake.webhook.secret_token == "s3cret_-"
    assert fake.calls("setWebhook")[0].response == {
        "ok": True,
        "result": True,
        "description": "Webhook was set",
    }

    assert await bot.delete_webhook(drop_pending_updates=True)
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.get_updates() == ()
    assert (
        await refusal(bot.set_webhook(url, secret_token="not allowed!"))
        == "secret token contains unallowed characters"
    )


async def test_429_is_retry_after_with_its_seconds(
    fake: FakeTelegram, bot: Bot, chat_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB 22's future type for retry_after, no warning
    fake.fail("sendMessage", 429, retry_after=3)
    with pytest.raises(RetryAfter) as flooded:
        await bot.send_message(chat_id, "Your report was received")
    assert flooded.value.retry_after == dtm.timedelta(seconds=3)
    await bot.send_message(chat_id, "Your report was received")  # the fault was for one call
    first, second = fake.calls("sendMessage")
    assert first.status == 429 and first.response is not None
    assert first.response["parameters"] == {"retry_after": 3}
    assert first.response["description"] == "Too Many Requests: retry after 3"
    assert second.status == 200 and second.at >= first.at
    assert fake.sent_to(chat_id) == ["Your report was received"]


async def test_403_for_one_chat_only_is_forbidden(fake: FakeTelegram, bot: Bot) -> None:
    blocked, other = fake.updates.user(42, "Bo"), fake.updates.user(43, "Cy")
    fake.updates.private_chat(blocked), fake.updates.private_chat(other)
    fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user", chat_id=42)
    await bot.send_message(43, "Hello Cy")
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(42, "Hello Bo")
    assert [(c.params["chat_id"], c.status) for c in fake.calls("sendMessage")] == [(43, 200), (42, 403)]


async def test_blocking_the_bot_makes_sends_forbidden_until_unblocked(fake: FakeTelegram, bot: Bot) -> None:
    update = fake.updates.my_chat_member("kicked")
    parsed = Update.de_json(update, bot)
    assert parsed.my_chat_member is not None
    assert isinstance(parsed.my_chat_member.new_chat_member, ChatMemberBanned)
    chat_id = parsed.my_chat_member.chat.id
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(chat_id, "Are you there?")
    fake.updates.my_chat_member("member")
    await bot.send_message(chat_id, "Welcome back")
    assert fake.sent_to(chat_id) == ["Welcome back"]


async def test_a_migrated_group_is_chat_migrated_with_the_new_id(fake: FakeTelegram, bot: Bot) -> None:
    fake.updates.group(-123, "Elm Street", supergroup=False)
    fake.fail(
        "sendMessage",
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        migrate_to_chat_id=-100123,
        chat_id=-123,
    )
    with pytest.raises(ChatMigrated) as moved:
        await bot.send_message(-123, "Street light out at Elm & 5th")
    assert moved.value.new_chat_id == -100123

    fake.upgrade_group(-123, -100123)  # the same, as state rather than a script
    with pytest.raises(ChatMigrated) as again:
        await bot.send_message(-123, "Street light out")
    assert again.value.new_chat_id == -100123
    message = await bot.send_message(-100123, "Street light out")
    assert message.chat.type == "supergroup"


async def test_502_is_a_network_error(fake: FakeTelegram, bot: Bot, chat_id: int) -> None:
    fake.fail("sendPhoto", 502, "Bad Gateway")
    with pytest.raises(NetworkError) as failed:
        await bot.send_photo(chat_id, jpeg())
    assert type(failed.value) is NetworkError and failed.value.message == "Bad Gateway"
    fake.fail("sendPhoto", 502, body="<html><body><h1>502 Bad Gateway</h1></body></html>")
    with pytest.raises(NetworkError) as proxied:
        await bot.send_photo(chat_id, jpeg())
    assert type(proxied.value) is NetworkError and "Bad Gateway (502)" in proxied.value.message
    assert [c.status for c in fake.calls("sendPhoto")] == [502, 502]
    assert fake.sent_to(chat_id) == []


async def test_a_slow_answer_times_the_client_out_but_the_message_is_sent(
    fake: FakeTelegram, bot: Bot, chat_id: int
) -> None:
    fake.delay("sendMessage", 1.0)
    with pytest.raises(TimedOut):
        await bot.send_message(chat_id, "Slow", read_timeout=0.3)
    for _ in range(30):  # Telegram does not know the client gave up: it still delivers
        if fake.sent_to(chat_id):
            break
        await asyncio.sleep(0.1)
    assert fake.sent_to(chat_id) == ["Slow"]


async def test_a_wrong_token_is_invalid_token(fake: FakeTelegram) -> None:
    for token in ("123456:WRONG-token", "not-a-token"):
        with pytest.raises(InvalidToken):
            async with bot_for(fake, token):
                pass
    assert [(c.token, c.status) for c in fake.calls("getMe")] == [
        ("123456:WRONG-token", 401),
        ("not-a-token", 404),
    ]
    assert fake.calls("getMe")[0].response == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_an_unknown_method_is_not_found(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathy")
    assert fake.calls("sendTelepathy")[0].status == 404
    me = await bot.do_api_request("GETME")  # method names are case-insensitive
    assert isinstance(me, dict) and me["username"] == "civic311_test_bot"


async def test_an_unknown_chat_is_not_found(fake: FakeTelegram, bot: Bot) -> None:
    assert await refusal(bot.send_message(999, "Hello?")) == "chat not found"


async def test_commands_are_kept_per_scope(fake: FakeTelegram, bot: Bot) -> None:
    commands = [BotCommand("start", "Start over"), BotCommand("status", "Check a report")]
    assert await bot.set_my_commands(commands)
    assert await bot.set_my_commands([BotCommand("help", "Help")], scope=BotCommandScopeAllPrivateChats())
    assert [c.command for c in await bot.get_my_commands()] == ["start", "status"]
    assert fake.commands({"type": "all_private_chats"}) == [{"command": "help", "description": "Help"}]
    assert fake.calls("setMyCommands")[0].params["commands"][1] == {
        "command": "status",
        "description": "Check a report",
    }
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    assert (
        await refusal(bot.set_my_commands([BotCommand("check-status", "Dashes are not allowed")]))
        == "bot_command_invalid"
    )


async def test_chat_action_and_edits(fake: FakeTelegram, bot: Bot, chat_id: int) -> None:
    assert await bot.send_chat_action(chat_id, "typing") is True
    assert await refusal(bot.send_chat_action(chat_id, "dancing")) == "wrong parameter action in request"
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Cancel", callback_data="cancel")]])
    sent = await bot.send_message(chat_id, "Filing…", reply_markup=keyboard)
    edited = await bot.edit_message_text("<b>Filed</b>", chat_id, sent.message_id, parse_mode="HTML")
    assert isinstance(edited, type(sent)) and edited.text == "Filed" and edited.edit_date is not None
    assert edited.reply_markup is None  # editMessageText without reply_markup removes the keyboard
    assert (
        await refusal(bot.edit_message_text("<b>Filed</b>", chat_id, sent.message_id, parse_mode="HTML"))
    ).startswith("message is not modified: ")
    marked = await bot.edit_message_reply_markup(chat_id, sent.message_id, reply_markup=keyboard)
    assert not isinstance(marked, bool) and marked.reply_markup == keyboard
    assert await refusal(bot.edit_message_text("Nothing", chat_id, 99)) == "message to edit not found"
    assert fake.messages(chat_id)[0]["text"] == "Filed"
    assert fake.sent_to(chat_id) == ["Filing…"]  # as first sent


async def test_built_updates_parse_as_telegram_sends_them(fake: FakeTelegram, bot: Bot) -> None:
    group = fake.updates.group()
    first = fake.updates.message("Is the pool open?", chat=group)
    reply = fake.updates.message("/status@civic311_test_bot 10234", chat=group, reply_to=first["message"])
    updates = [
        first,
        reply,
        fake.updates.location(37.7793, -122.4193),
        fake.updates.document(b"%PDF-1.4 fake", "report.pdf", "application/pdf", caption="My report"),
        fake.updates.voice(),
        fake.updates.sticker(),
        fake.updates.edited(first, "Is the pool open today?"),
    ]
    parsed = [Update.de_json(u, bot) for u in updates]
    assert [u.update_id for u in parsed] == sorted(u.update_id for u in parsed)
    assert parsed[0].message is not None and parsed[0].message.chat.type == "supergroup"
    assert parsed[1].message is not None and parsed[1].message.reply_to_message is not None
    assert parsed[1].message.reply_to_message.message_id == parsed[0].message.message_id
    assert [(e.type, e.length) for e in parsed[1].message.entities] == [("bot_command", 25)]
    assert parsed[2].message is not None and parsed[2].message.location is not None
    assert parsed[2].message.location.latitude == pytest.approx(37.7793)
    assert parsed[3].message is not None and parsed[3].message.document is not None
    document = await bot.get_file(parsed[3].message.document.file_id)
    assert bytes(await document.download_as_bytearray()) == b"%PDF-1.4 fake"
    assert parsed[4].message is not None and parsed[4].message.voice is not None
    assert parsed[5].message is not None and parsed[5].message.sticker is not None
    assert parsed[6].edited_message is not None
    assert parsed[6].edited_message.message_id == parsed[0].message.message_id
    assert parsed[6].edited_message.text == "Is the pool open today?"


async def test_allowed_updates_are_remembered_and_filter_the_queue(fake: FakeTelegram, bot: Bot) -> None:
    assert await bot.get_updates(timeout=0, allowed_updates=["callback_query"]) == ()
    assert fake.queue_update(fake.updates.message("Hello")) is False
    message = fake.messages(fake.updates.resident["id"])  # none from the bot yet
    assert message == []
    chat = fake.updates.private_chat()
    await bot.send_message(
        chat["id"],
        "Press",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]]),
    )
    assert fake.queue_update(fake.updates.callback(fake.messages(chat["id"])[0], "a")) is True
    [got] = await bot.get_updates(timeout=0)  # no allowed_updates this time: the choice stays
    assert got.callback_query is not None and got.callback_query.data == "a"
    assert len(fake.dropped_updates) == 1


async def test_webhook_deliveries_carry_the_secret_and_are_retried(
    fake: FakeTelegram, bot: Bot, receiver: Receiver
) -> None:
    assert await bot.set_webhook(receiver.url, secret_token="s3cret")
    update = fake.updates.command("/start")
    assert await fake.post_webhook(update) == (200, "")
    headers, body = receiver.seen[0]
    assert body == update and headers["X-Telegram-Bot-Api-Secret-Token"] == "s3cret"
    assert headers["Content-Type"] == "application/json"
    await fake.post_webhook(update, secret="guess")
    assert receiver.seen[1][0]["X-Telegram-Bot-Api-Secret-Token"] == "guess"

    receiver.answers = [(500, ""), (503, "")]
    deliveries = await fake.deliver_webhook(update, retries_on_error=3)
    assert [d.status for d in deliveries] == [500, 503, 200]
    assert {b["update_id"] for _, b in receiver.seen[2:]} == {update["update_id"]}
    info = await bot.get_webhook_info()
    assert info.last_error_message == "Wrong response from the webhook: 503 Service Unavailable"


async def test_a_webhook_answer_may_carry_a_method_call(
    fake: FakeTelegram, bot: Bot, receiver: Receiver, chat_id: int
) -> None:
    await bot.set_webhook(receiver.url)
    receiver.answers = [(200, f'{{"method": "sendMessage", "chat_id": {chat_id}, "text": "Hi!"}}')]
    fake.queue_update(fake.updates.message("Hello"))
    [delivery] = await fake.flush_webhook()
    assert delivery.ok and delivery.secret is None
    assert "X-Telegram-Bot-Api-Secret-Token" not in receiver.seen[0][0]
    assert fake.pending_updates == []
    assert fake.sent_to(chat_id) == ["Hi!"] and fake.calls("sendMessage")[0].via_webhook_reply


async def test_the_fake_serves_from_its_own_thread() -> None:
    with run_in_thread(username="threaded_bot") as fake:
        async with bot_for(fake) as bot:
            assert bot.username == "threaded_bot"
            polling = asyncio.create_task(bot.get_updates(timeout=10))
            await asyncio.sleep(0.3)
            fake.queue_update(fake.updates.message("From the test's thread"))  # not the fake's loop
            [got] = await asyncio.wait_for(polling, 3)
            assert got.message is not None and got.message.text == "From the test's thread"
            assert fake.calls("getUpdates")[0].status == 200
