"""Telegram with real `civic311 serve` processes and the fake Bot API in a thread.

The in-process tests (tests/adapters/test_telegram.py) show that one hub answers
Telegram correctly. What only separate processes show is what the database must carry
between them: the polling position across a restart, the lease that lets one process
of several read getUpdates, a conversation that outlives a SIGKILL, and one answer per
update when two processes are handed the same one. The `civic311 telegram` commands
run as subprocesses too, because their output and exit codes are what an operator sees.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image
from sqlalchemy import func, select

from adapters.telegram.client import ALLOWED_UPDATES
from bot.db import Database
from bot.models import (
    OUTBOX_WAITING_STATUSES,
    Conversation,
    OutboxMessage,
    Poller,
    Report,
    Subscription,
    TranscriptMessage,
    Turn,
)
from bot.pollers import LEASE
from tests.conftest import POSTGRES_URL, _create_pg_database, _drop_pg_database, _prepared_template
from tests.fakes.telegram_api import CONFLICT_POLL, FakeTelegram, run_in_thread
from tests.servers import ServeProcess
from tests.telegram_city import SECRET, TOKEN

pytestmark = pytest.mark.timeout(420)

ROOT = Path(__file__).resolve().parents[1]
BOT_ID = TOKEN.partition(":")[0]
POLLER = f"telegram:{BOT_ID}"  # the lease's row: the bot's id, never its secret part
DEADLINE_S = 60.0  # a bound on waiting, never a claim about speed
MARKET_5TH = (37.7829, -122.4074)

Update = dict[str, Any]


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    """Telegram for processes other than this one: the fake on its own loop and thread."""
    with run_in_thread(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def started() -> Iterator[list[ServeProcess]]:
    """Every serve process a test starts, killed at the end whatever happened (the tests
    stop their own with SIGTERM first, to see them stop cleanly)."""
    servers: list[ServeProcess] = []
    try:
        yield servers
    finally:
        for server in servers:
            server.kill()


@pytest.fixture
async def pg_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A PostgreSQL copy of the prepared sample city, for several processes on one database."""
    if not POSTGRES_URL:
        pytest.skip(
            "several serve processes share a database on PostgreSQL only (CIVIC311_TEST_POSTGRES_URL)"
        )
    template = await _prepared_template("postgresql", tmp_path_factory.getbasetemp())
    url, name = await _create_pg_database(template=template)
    try:
        yield url
    finally:
        await _drop_pg_database(name)


@asynccontextmanager
async def database(url: str) -> AsyncIterator[Database]:
    db = Database(url)
    try:
        yield db
    finally:
        await db.dispose()


# --- helpers --------------------------------------------------------------------------------


def serve_process(
    url: str, folder: Path, fake: FakeTelegram, started: list[ServeProcess], mode: str
) -> ServeProcess:
    """A serve process on the fake, not yet started (start() blocks: run it in a thread)."""
    server = ServeProcess(
        url,
        folder,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_MODE=mode,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        TELEGRAM_API_BASE_URL=fake.base_url,
        TELEGRAM_FILE_BASE_URL=fake.base_file_url,
    )
    started.append(server)
    return server


async def start(server: ServeProcess) -> ServeProcess:
    return await asyncio.to_thread(server.start)


async def stop(server: ServeProcess) -> int | None:
    return await asyncio.to_thread(server.stop)


async def until(check: Callable[[], bool | Awaitable[bool]], what: str, within_s: float = DEADLINE_S) -> None:
    """Wait for `check` to hold; fail naming what never happened."""
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not so after {within_s:.0f} s")
        await asyncio.sleep(0.1)


def assert_no_secrets(*texts: str) -> None:
    """Neither the bot token nor its secret half (what a leak would most often show)."""
    for text in texts:
        assert TOKEN not in text
        assert TOKEN.partition(":")[2] not in text
        assert SECRET not in text


def assert_clean_logs(*servers: ServeProcess) -> None:
    """No secret, and no error: a process that answered right but failed on the way (and
    was saved by a retry) shows it only here."""
    for server in servers:
        text = server.log.read_text(errors="replace")
        assert_no_secrets(text)
        assert "Traceback" not in text and " ERROR " not in text, f"{server.log}:\n{text[-3000:]}"


def logs(*servers: ServeProcess) -> list[str]:
    return [s.log.read_text(errors="replace") for s in servers if s.log.exists()]


def bot_texts(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [x if isinstance(x, str) else f"[photo] {x.caption}" for x in fake.sent_to(chat_id)]


def resident(fake: FakeTelegram, user_id: int, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    user = fake.updates.user(user_id, name, username=f"{name.lower()}_{user_id}")
    return user, fake.updates.private_chat(user)


async def outbox_waiting(db: Database) -> int:
    async with db.reading() as s:
        return int(
            await s.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status.in_(OUTBOX_WAITING_STATUSES))
            )
            or 0
        )


async def turns_of(db: Database, updates: list[Update]) -> dict[int, int]:
    """How many turns each update made (its Incoming's id is the bot's and the update's)."""
    wanted = {f"{BOT_ID}:{u['update_id']}": u["update_id"] for u in updates}
    async with db.reading() as s:
        rows = (
            await s.scalars(
                select(Turn.message_id).where(Turn.channel == "telegram", Turn.message_id.in_(wanted))
            )
        ).all()
    counts = dict.fromkeys(wanted.values(), 0)
    for message_id in rows:
        counts[wanted[message_id]] += 1
    return counts


async def answered(db: Database, updates: list[Update]) -> bool:
    """Every update has its turn and nothing the turns said waits in the outbox."""
    return all((await turns_of(db, updates)).values()) and await outbox_waiting(db) == 0


async def transcript(db: Database, chat_id: int) -> list[tuple[str, dict[str, Any]]]:
    """The conversation as the database keeps it: (direction, payload) in order."""
    async with db.reading() as s:
        rows = (
            await s.execute(
                select(TranscriptMessage.direction, TranscriptMessage.payload)
                .join(Conversation, Conversation.id == TranscriptMessage.conversation_id)
                .where(Conversation.channel == "telegram", Conversation.address == str(chat_id))
                .order_by(TranscriptMessage.id)
            )
        ).all()
    return [(str(d), dict(p)) for d, p in rows]


async def poller_row(db: Database) -> Poller | None:
    async with db.reading() as s:
        return (await s.scalars(select(Poller).where(Poller.name == POLLER))).one_or_none()


def holder_pid(row: Poller | None) -> int | None:
    """The pid in the lease's holder (host:pid:random), or None while nobody holds it."""
    if row is None or row.holder is None:
        return None
    return int(row.holder.split(":")[1])


def pid(server: ServeProcess) -> int:
    assert server.proc is not None
    return server.proc.pid


async def set_old_webhook(fake: FakeTelegram) -> None:
    """A webhook left by an earlier deployment: getUpdates is refused until it is deleted."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{fake.base_url}{TOKEN}/setWebhook", data={"url": "https://old.example.org/telegram/webhook"}
        ) as r,
    ):
        assert r.status == 200, await r.text()
    assert fake.webhook is not None


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (120, 90, 30)).save(out, "JPEG")
    return out.getvalue()


# --- 1. polling, and the position kept across a restart -------------------------------------


async def test_polling_answers_each_update_once_and_a_restart_reads_on_from_the_stored_offset(
    sqlite_prepared: str, tmp_path: Path, fake: FakeTelegram, started: list[ServeProcess]
) -> None:
    """getUpdates' offset is Telegram's only record of what was read, and serve's only in
    the database: a restart that forgot it would answer old messages again (were it not for
    the engine's update ids) or, reading past them, lose the ones that came while it was down."""
    await set_old_webhook(fake)
    people = [resident(fake, 7101 + n, name) for n, name in enumerate(("Ana", "Bo", "Chen"))]
    first = [fake.updates.message("when is 311 open?", user=u, chat=c) for u, c in people]
    for update in first:
        assert fake.queue_update(update)

    server = serve_process(sqlite_prepared, tmp_path, fake, started, "polling")
    await start(server)
    async with database(sqlite_prepared) as db:
        await until(lambda: answered(db, first), "the first updates answered by polling")
        names = [c.method for c in fake.calls() if c.method in ("deleteWebhook", "getUpdates")]
        assert names[0] == "deleteWebhook" and "getUpdates" in names  # getUpdates is refused under a webhook
        assert fake.webhook is None
        polls = fake.calls("getUpdates")
        assert all(set(c.params["allowed_updates"]) == set(ALLOWED_UPDATES) for c in polls)
        assert all(c.status in (0, 200) for c in polls), [c.response for c in polls]
        row = await poller_row(db)
        assert row is not None and holder_pid(row) == pid(server)
        assert row.position == first[-1]["update_id"] + 1
        for _, chat in people:
            said = bot_texts(fake, chat["id"])
            assert sum("24 hours" in t for t in said) == 1, said
            outs = [p for d, p in await transcript(db, chat["id"]) if d == "out"]
            assert len(said) == len(outs), (said, outs)
        assert set((await turns_of(db, first)).values()) == {1}

        assert await stop(server) == 0  # SIGTERM: the lease is given up, the position kept
        row = await poller_row(db)
        assert row is not None and row.holder is None
        position = row.position

        # Telegram forgets an update only when a later getUpdates confirms it: had the last
        # confirmation been lost, it would hand the last update out again.
        assert fake.queue_update(first[-1])
        (ana, ana_chat), (bo, bo_chat) = people[:2]
        dee = resident(fake, 7104, "Dee")
        second = [
            fake.updates.message("thank you!", user=ana, chat=ana_chat),
            fake.updates.message("when is 311 open?", user=dee[0], chat=dee[1]),
            fake.updates.message("hello", user=bo, chat=bo_chat),
        ]
        for update in second:
            assert fake.queue_update(update)
        before = len(fake.calls("getUpdates"))
        await start(server)
        await until(lambda: answered(db, second), "the updates queued while serve was down answered")

        after = fake.calls("getUpdates")[before:]
        assert after[0].params.get("offset") == position  # read on from where the last run stopped
        handed_out = [u["update_id"] for c in after for u in ((c.response or {}).get("result") or [])]
        assert first[-1]["update_id"] not in handed_out
        assert set((await turns_of(db, first + second)).values()) == {1}
        row = await poller_row(db)
        assert row is not None and row.position == second[-1]["update_id"] + 1
        for _, chat in [*people, dee]:
            said = bot_texts(fake, chat["id"])
            assert sum("24 hours" in t for t in said) == 1, said  # nobody is told twice
            outs = [p for d, p in await transcript(db, chat["id"]) if d == "out"]
            assert len(said) == len(outs), (said, outs)
    await stop(server)
    assert_clean_logs(server)


# --- 2. one poller among several processes ------------------------------------------------


async def test_of_two_polling_processes_one_reads_at_a_time_and_the_other_takes_over(
    pg_url: str, tmp_path: Path, fake: FakeTelegram, started: list[ServeProcess]
) -> None:
    """Telegram serves one getUpdates at a time and answers the other 409, so two readers
    would keep cutting each other off; the lease must make the second process wait, and
    take over from the stored position when the first one goes."""
    servers = [serve_process(pg_url, tmp_path, fake, started, "polling") for _ in range(2)]
    await asyncio.gather(*(start(s) for s in servers))  # both go for the lease at once
    by_pid = {pid(s): s for s in servers}
    async with database(pg_url) as db:

        async def holder() -> int | None:
            return holder_pid(await poller_row(db))

        async def held_by(*pids: int) -> bool:
            return await holder() in pids

        await until(lambda: held_by(*by_pid), "one of the processes holds the lease")
        first_holder = by_pid[await holder() or 0]
        other = next(s for s in servers if s is not first_holder)

        people = [resident(fake, 7201 + n, name) for n, name in enumerate(("Ana", "Bo", "Chen"))]
        first = [
            fake.updates.message(t, user=u, chat=c)
            for t in ("when is 311 open?", "thanks")
            for u, c in people
        ]
        for update in first:
            assert fake.queue_update(update)
        await until(lambda: answered(db, first), "the first updates answered")
        # Long enough for the waiting process to ask for the lease again (every LEASE/3) while
        # the holder long-polls; then more updates, still for the holder alone.
        await asyncio.sleep(LEASE.total_seconds() / 3 + 5)
        more = [fake.updates.message("how do I get a parking permit?", user=u, chat=c) for u, c in people]
        for update in more:
            assert fake.queue_update(update)
        first += more
        await until(lambda: answered(db, first), "the updates answered while both processes run")
        assert await holder() == pid(first_holder)
        assert all(s.proc is not None and s.proc.poll() is None for s in servers)
        assert [c for c in fake.calls("getUpdates") if c.status == 409] == []
        row = await poller_row(db)
        assert row is not None and row.position == first[-1]["update_id"] + 1
        position = row.position

        assert await stop(first_holder) == 0  # SIGTERM: it gives the lease up on its way out
        stopped_at = time.monotonic()
        row = await poller_row(db)
        assert row is not None and holder_pid(row) in (None, pid(other)) and row.position == position

        second = [
            fake.updates.message(t, user=u, chat=c) for t in ("hello", "who are you?") for u, c in people
        ]
        for update in second:
            assert fake.queue_update(update)
        # It asks for the lease every LEASE/3 (a holder that died without a word would be
        # waited out after LEASE, too long for a test: bot/pollers.py has no setting for it).
        await until(
            lambda: held_by(pid(other)),
            "the other process took over the lease",
            within_s=LEASE.total_seconds() / 3 + DEADLINE_S,
        )
        await until(lambda: answered(db, second), "the updates answered by the process that took over")

        polls = fake.calls("getUpdates")
        taken_over = [c for c in polls if c.at > stopped_at]
        assert taken_over and taken_over[0].params.get("offset") == position
        # The one 409 allowed is the stopped process's last long poll, abandoned on its side
        # only: the fake, like Telegram, answers it 409 when the next reader asks. No process
        # that was still running was ever told that another was reading.
        conflicts = [c for c in polls if c.status == 409]
        assert len(conflicts) <= 1 and all(c.at < stopped_at for c in conflicts), conflicts
        assert all((c.response or {}).get("description") == CONFLICT_POLL for c in conflicts)
        for text in logs(*servers):
            assert "another reader or a webhook is active" not in text

        assert set((await turns_of(db, first + second)).values()) == {1}
        for _, chat in people:
            said = bot_texts(fake, chat["id"])
            outs = [p for d, p in await transcript(db, chat["id"]) if d == "out"]
            assert len(said) == len(outs) == 5, (said, outs)
            assert sum("24 hours" in t for t in said) == 1
    await stop(other)
    assert_clean_logs(*servers)


# --- 3. two webhook processes handed the same updates ----------------------------------------

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# One message a reply each, told apart by a few words of the reply.
SCRIPT = (
    ("hello", "311 assistant"),
    ("when is 311 open?", "24 hours a day"),
    ("status {n}", "report {n}"),
    ("who are you?", "automated assistant"),
    ("thanks", "welcome"),
)


async def test_two_webhook_processes_handed_the_same_updates_answer_each_once_in_order(
    pg_url: str, tmp_path: Path, fake: FakeTelegram, started: list[ServeProcess]
) -> None:
    """A load balancer that retries, or Telegram redelivering after a slow answer, can hand
    one update to two processes at the same moment: the resident must still hear one answer
    per message, in the order they wrote."""
    servers = [serve_process(pg_url, tmp_path, fake, started, "webhook") for _ in range(2)]
    await asyncio.gather(*(start(s) for s in servers))
    await until(lambda: len(fake.calls("setWebhook")) >= 2, "both processes registered the webhook")
    people = [resident(fake, 7301 + n, name) for n, name in enumerate(("Ana", "Bo", "Chen", "Dee"))]
    answers: list[tuple[int, int]] = []  # (update_id, status) of every delivery

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def deliver(base: str, update: Update) -> None:
            for _ in range(5):
                async with http.post(
                    f"{base}/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET}
                ) as r:
                    answers.append((update["update_id"], r.status))
                    if r.status == 200:
                        assert (await r.json())["ok"] is True
                        return
                    assert r.status == 503, f"{r.status}: {await r.text()}"
                    assert (await r.json())["ok"] is False and "Retry-After" in r.headers
                    wait = float(r.headers["Retry-After"])
                await asyncio.sleep(wait)  # as Telegram does, then the same update again
            raise AssertionError(f"update {update['update_id']} never answered 200 by {base}")

        async def converse(n: int, user: dict[str, Any], chat: dict[str, Any]) -> list[Update]:
            sent = []
            for text, _ in SCRIPT:
                update = fake.updates.message(text.format(n=10001 + n), user=user, chat=chat)
                await asyncio.gather(*(deliver(s.url, update) for s in servers))
                sent.append(update)
            return sent

        sent = await asyncio.gather(*(converse(n, u, c) for n, (u, c) in enumerate(people)))

    updates = [u for conversation in sent for u in conversation]
    assert len(updates) == 20
    async with database(pg_url) as db:
        await until(lambda: answered(db, updates), "every update answered")
        assert set((await turns_of(db, updates)).values()) == {1}
        for n, (_, chat) in enumerate(people):
            said = bot_texts(fake, chat["id"])
            expected = [words.format(n=10001 + n) for _, words in SCRIPT]
            assert len(said) == len(SCRIPT), said  # one answer a message, none twice
            for text, words in zip(said, expected, strict=True):
                assert words in text, (words, said)  # in the order the resident wrote
            written = [p.get("text") for d, p in await transcript(db, chat["id"]) if d == "in"]
            assert written == [text.format(n=10001 + n) for text, _ in SCRIPT]
    finals = {(u, s) for u, s in answers}
    assert {s for _, s in answers} <= {200, 503}
    assert all((u["update_id"], 200) in finals for u in updates)
    assert len([s for _, s in answers if s == 200]) == 2 * len(updates)  # each process, each update
    assert_clean_logs(*servers)


# --- 4. a process killed in the middle of a conversation ------------------------------------


class Resident:
    """One resident's private chat with the bot, delivered to serve's webhook by the fake."""

    def __init__(self, fake: FakeTelegram, db: Database, user_id: int, name: str) -> None:
        self.fake, self.db = fake, db
        self.user, self.chat = resident(fake, user_id, name)
        self.seen = 0
        self.updates: list[Update] = []

    @property
    def id(self) -> int:
        return int(self.chat["id"])

    async def deliver(self, update: Update) -> None:
        status, body = await asyncio.to_thread(self.fake.run_sync, self.fake.post_webhook(update))
        assert status == 200, f"webhook answered {status}: {body}"
        self.updates.append(update)

    async def send(self, update: Update) -> list[dict[str, Any]]:
        """Deliver, wait for the answer to leave the outbox; the bot's new messages."""
        await self.deliver(update)
        await until(lambda: answered(self.db, [update]), f"update {update['update_id']} answered")
        return self.new()

    def new(self) -> list[dict[str, Any]]:
        mine = self.fake.messages(self.id)
        fresh, self.seen = mine[self.seen :], len(mine)
        return fresh

    async def say(self, text: str) -> list[dict[str, Any]]:
        return await self.send(self.fake.updates.message(text, user=self.user, chat=self.chat))

    def button(self, label_start: str, messages: list[dict[str, Any]]) -> Update:
        """A tap on the newest button whose label starts so."""
        for message in reversed(messages):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if button["text"].lower().startswith(label_start.lower()) and "callback_data" in button:
                        return self.fake.updates.callback(message, button["callback_data"], user=self.user)
        raise AssertionError(f"no button {label_start!r} in {[m.get('text') for m in messages]}")

    async def tap(self, label_start: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return await self.send(self.button(label_start, messages))


def said(messages: list[dict[str, Any]]) -> str:
    return "\n\n".join(str(m.get("text") or m.get("caption") or "") for m in messages)


async def outbox_rows(db: Database, chat_id: int) -> list[OutboxMessage]:
    async with db.reading() as s:
        return list(
            (
                await s.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.address == str(chat_id))
                    .order_by(OutboxMessage.id)
                )
            ).all()
        )


async def test_a_report_begun_before_a_sigkill_is_finished_after_the_restart(
    sqlite_prepared: str, tmp_path: Path, fake: FakeTelegram, started: list[ServeProcess]
) -> None:
    """The draft and the reply not yet delivered are rows, not process memory: a process
    killed with no chance to tidy up leaves the next one everything it needs."""
    server = serve_process(sqlite_prepared, tmp_path, fake, started, "webhook")
    await start(server)
    hook = f"{server.url}/telegram/webhook"
    await until(lambda: fake.webhook is not None and fake.webhook.url == hook, "serve registered its webhook")
    async with database(sqlite_prepared) as db:
        ana = Resident(fake, db, 7401, "Ana")
        asked = await ana.say("there's a huge pothole on 5th and Market")
        assert "pothole" in said(asked).lower()

        # The reply to the tap is refused once (429), so it waits in the outbox at the kill.
        fake.fail("sendMessage", 429, retry_after=3, chat_id=ana.id)
        tap = ana.button("Yes", asked)
        await ana.deliver(tap)

        async def refused_and_waiting() -> bool:
            """Tried once and given back (not claimed by the process about to die, whose
            claim would hold the row for the outbox's whole lease)."""
            waiting = [r for r in await outbox_rows(db, ana.id) if r.status in OUTBOX_WAITING_STATUSES]
            return bool(waiting) and waiting[0].attempts >= 1 and all(r.status == "pending" for r in waiting)

        await until(refused_and_waiting, "the reply to the tap refused once and waiting for its retry")
        assert [c.status for c in fake.calls("sendMessage") if c.params.get("chat_id") == ana.id][-1] == 429
        server.kill()  # SIGKILL: no shutdown code runs
        assert ana.new() == []  # the reply has not reached the resident

        await start(server)
        await until(lambda: answered(db, [tap]), "the waiting reply delivered by the new process")
        asked = ana.new()
        assert "photo" in said(asked).lower()

        asked = await ana.send(fake.updates.photo(jpeg(), user=ana.user, chat=ana.chat))
        assert "1 of 3" in said(asked)
        asked = await ana.tap("Done", asked)
        assert asked and ana.new() == []
        server.kill()  # once more, with the photo in the draft and on disk
        await start(server)
        asked = await ana.send(fake.updates.location(*MARKET_5TH, user=ana.user, chat=ana.chat))
        asked = await ana.tap("larger than a dinner plate", asked)
        assert "Please check your report" in said(asked)
        filed = await ana.tap("Send report", asked)

        async with db.reading() as s:
            report = (await s.scalars(select(Report))).one()
            sub = (await s.scalars(select(Subscription).where(Subscription.report_id == report.id))).one()
        assert report.number is not None and report.number in said(filed)
        assert report.service_code == "pothole" and (report.lat, report.lon) == MARKET_5TH
        assert len(report.media) == 1 and (sub.channel, sub.address) == ("telegram", str(ana.id))
        async with aiohttp.ClientSession() as http, http.get(f"{server.url}/media/{report.media[0]}") as r:
            assert r.status == 200 and r.content_type == "image/jpeg"  # the photo kept through both

        texts = bot_texts(fake, ana.id)
        assert len(texts) == len(set(texts)), texts  # nothing said twice
        sends = [
            c for c in fake.calls("sendMessage") if c.params.get("chat_id") == ana.id and c.status == 200
        ]
        assert len(sends) == len(texts)
        log = await transcript(db, ana.id)
        assert [d for d, _ in log].count("in") == len(ana.updates)  # nothing the resident did was lost
        assert [d for d, _ in log].count("out") == len(texts)  # nor anything the bot said
        assert set((await turns_of(db, ana.updates)).values()) == {1}
    await stop(server)
    assert_clean_logs(server)


# --- 5. the `civic311 telegram` commands ----------------------------------------------------

# How an operator runs the command (the `civic311` script calls bot.cli.main), and how the
# tests run processes (`python -m bot.cli`, which runs bot/cli.py as __main__).
CONSOLE_SCRIPT = ("-c", "import sys; from bot.cli import main; sys.exit(main())")
AS_MODULE = ("-m", "bot.cli")


def telegram_command(
    fake: FakeTelegram,
    folder: Path,
    args: tuple[str, ...],
    env: dict[str, str],
    launcher: tuple[str, ...] = AS_MODULE,
) -> subprocess.CompletedProcess[str]:
    base = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'unused.db'}",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_FILE_BASE_URL": fake.base_file_url,
    }
    return subprocess.run(
        [sys.executable, *launcher, "telegram", *args],
        cwd=folder,
        env={**os.environ, **base, **env},
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )


HTTPS = {"PUBLIC_URL": "https://311.example.gov", "TELEGRAM_WEBHOOK_SECRET": SECRET}
HOOK = "https://311.example.gov/telegram/webhook"


def test_telegram_commands_set_show_and_delete_the_webhook(fake: FakeTelegram, tmp_path: Path) -> None:
    outputs: list[str] = []

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        done = telegram_command(fake, tmp_path, args, env)
        outputs.extend((done.stdout, done.stderr))
        return done

    done = run("set-webhook", **HTTPS)
    assert done.returncode == 0, done.stderr
    assert HOOK in done.stdout
    hook = fake.webhook
    assert hook is not None and hook.url == HOOK and hook.secret_token == SECRET
    (call,) = fake.calls("setWebhook")
    assert set(call.params["allowed_updates"]) == set(ALLOWED_UPDATES)
    assert [c["command"] for c in fake.commands()][:2] == ["start", "help"]

    info = run("info", **HTTPS)
    assert info.returncode == 0, info.stderr
    assert f"@{fake.bot_user['username']}" in info.stdout and HOOK in info.stdout

    gone = run("delete-webhook", **HTTPS)
    assert gone.returncode == 0, gone.stderr
    assert fake.webhook is None and len(fake.calls("deleteWebhook")) == 1
    info = run("info")
    assert info.returncode == 0, info.stderr
    assert "311.example.gov" not in info.stdout and "none" in info.stdout
    assert_no_secrets(*outputs)


@pytest.mark.parametrize(
    "launcher",
    [
        pytest.param(CONSOLE_SCRIPT, id="civic311"),
        # `python -m bot.cli` once printed a traceback here: it ran bot/cli.py as __main__, a
        # second copy whose `except UserError` missed the adapters' bot.cli.UserError.
        pytest.param(AS_MODULE, id="python-m"),
    ],
)
def test_set_webhook_refuses_plain_http_and_a_missing_secret_in_one_line(
    fake: FakeTelegram, tmp_path: Path, launcher: tuple[str, ...]
) -> None:
    """Telegram itself would refuse an http URL, and a webhook without a secret would take
    anyone's posts as updates: both are said before Telegram is asked anything."""
    refusals = {
        "plain http": (
            1,
            "https",
            HTTPS | {"PUBLIC_URL": "http://311.example.gov", "TELEGRAM_MODE": "webhook"},
        ),
        "no secret, polling": (
            1,
            "TELEGRAM_WEBHOOK_SECRET",
            {"PUBLIC_URL": "https://311.example.gov", "TELEGRAM_MODE": "polling"},
        ),
        # Webhook mode without a secret is a configuration error before any command runs.
        "no secret, webhook": (2, "TELEGRAM_WEBHOOK_SECRET", {"PUBLIC_URL": "https://311.example.gov"}),
    }
    for case, (code, named, env) in refusals.items():
        done = telegram_command(fake, tmp_path, ("set-webhook",), env, launcher)
        assert done.returncode == code, (case, done.stderr)
        assert done.stdout == "", case
        assert len(done.stderr.splitlines()) == 1 and named in done.stderr, (case, done.stderr)
        assert_no_secrets(done.stdout, done.stderr)
    assert fake.calls("setWebhook") == [] and fake.webhook is None
