"""The engine's promises: once per message id, in order, one transaction, expiry, commands."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bot.db import Database
from bot.delivery.outbox import Later
from bot.dialog import Context, DialogRegistry, State, Step
from bot.engine import Engine, global_command
from bot.messages import Choice, Incoming, Outgoing
from bot.models import Conversation, OutboxMessage, TranscriptMessage, Turn
from bot.services import Services
from bot.settings import Settings
from dialogs import basics


class Boom(RuntimeError):
    pass


async def counter(ctx: Context, state: State, incoming: Incoming) -> Step:
    """Counts messages in its state; replies with the count and the text."""
    if incoming.text == "explode":
        ctx.session.add(OutboxMessage(channel="t", address="x", payload={"text": "half"}))
        await ctx.session.flush()
        raise Boom("dialog failed half-way")
    n = int(state.data.get("n", 0)) + 1
    await asyncio.sleep(0)  # let other turns interleave if the lock allowed it
    replies = [Outgoing(f"{n}:{incoming.text}:{incoming.choice or ''}:{int(ctx.expired)}")]
    if incoming.text == "pick":
        replies = [Outgoing("pick one", choices=(Choice("a", "Apples"), Choice("b", "Bananas")))]
    later = [Later("t", "other", Outgoing("later"))] if incoming.text == "later" else []
    return Step(State("counter", data={"n": n}), replies, later)


@pytest.fixture
async def engine(db: Database, settings: Settings) -> Engine:
    registry = DialogRegistry()
    registry.register("root", counter)
    registry.register("counter", counter)
    registry.register("start", basics.start)
    registry.register("help", basics.help_)
    registry.register("cancelled", basics.cancelled)
    return Engine(db, registry, Services(settings), timeout=timedelta(minutes=30))


def msg(mid: str, text: str = "hi", conv: str = "c1", **kw: object) -> Incoming:
    return Incoming(channel="t", conversation=conv, message_id=mid, text=text, **kw)  # type: ignore[arg-type]


async def count(db: Database, model: type) -> int:
    async with db.reading() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_redelivered_message_is_answered_once_with_the_same_reply(engine: Engine) -> None:
    first = await engine.handle(msg("m1", "hello"))
    again = await engine.handle(msg("m1", "hello"))
    assert not first.duplicate and again.duplicate
    assert [r.text for r in again.replies] == [r.text for r in first.replies] == ["1:hello::0"]
    assert [t.id for t in again.transcript] == [t.id for t in first.transcript]
    assert await count(engine.db, Turn) == 1
    assert await count(engine.db, TranscriptMessage) == 2
    nxt = await engine.handle(msg("m2", "next"))
    assert nxt.replies[0].text == "2:next::0"


async def test_same_message_id_on_another_channel_is_a_different_message(engine: Engine) -> None:
    await engine.handle(msg("m1"))
    other = await engine.handle(Incoming(channel="u", conversation="c1", message_id="m1", text="x"))
    assert not other.duplicate


async def test_concurrent_messages_of_one_conversation_are_serialised(engine: Engine) -> None:
    results = await asyncio.gather(*(engine.handle(msg(f"m{i}", f"t{i}")) for i in range(12)))
    counts = sorted(int(r.replies[0].text.split(":")[0]) for r in results)
    assert counts == list(range(1, 13))  # no lost update: every turn saw the one before
    async with engine.db.reading() as s:
        state = await s.scalar(select(Conversation.state).where(Conversation.address == "c1"))
    assert state["data"]["n"] == 12


async def test_concurrent_duplicates_are_answered_once(engine: Engine) -> None:
    results = await asyncio.gather(*(engine.handle(msg("same", "x")) for _ in range(6)))
    assert sum(not r.duplicate for r in results) == 1
    assert {r.replies[0].text for r in results} == {"1:x::0"}
    assert await count(engine.db, Turn) == 1


async def test_different_conversations_have_their_own_state(engine: Engine) -> None:
    await asyncio.gather(*(engine.handle(msg(f"{c}{i}", conv=c)) for c in "ab" for i in range(3)))
    async with engine.db.reading() as s:
        rows = dict((await s.execute(select(Conversation.address, Conversation.state))).all())
    assert rows["a"]["data"]["n"] == rows["b"]["data"]["n"] == 3


async def test_a_failing_dialog_writes_nothing_and_the_message_can_be_retried(engine: Engine) -> None:
    with pytest.raises(Boom):
        await engine.handle(msg("m1", "explode"))
    assert await count(engine.db, OutboxMessage) == 0
    assert await count(engine.db, Turn) == 0
    assert await count(engine.db, TranscriptMessage) == 0
    # The same id is not marked as seen: a redelivery gets a real turn.
    assert not (await engine.handle(msg("m1", "fine now"))).duplicate


async def test_messages_for_later_go_to_the_outbox_in_the_same_transaction(engine: Engine) -> None:
    await engine.handle(msg("m1", "later"))
    async with engine.db.reading() as s:
        row = (await s.scalars(select(OutboxMessage))).one()
    assert (row.channel, row.address, row.payload["text"], row.status) == ("t", "other", "later", "pending")


async def test_an_expired_conversation_starts_afresh(engine: Engine) -> None:
    await engine.handle(msg("m1"))
    async with engine.db.transaction() as s:
        past = (await s.scalar(select(Conversation.expires_at))) - timedelta(hours=1)
        await s.execute(update(Conversation).values(expires_at=past))
    result = await engine.handle(msg("m2", "again"))
    assert result.replies[0].text == "1:again::1"  # count restarted, dialog told it expired


async def test_typed_number_or_words_pick_an_offered_choice(engine: Engine) -> None:
    await engine.handle(msg("m1", "pick"))
    assert (await engine.handle(msg("m2", "2"))).replies[0].text.endswith(":b:0")
    await engine.handle(msg("m3", "pick"))
    assert (await engine.handle(msg("m4", "apples"))).replies[0].text.endswith(":a:0")


async def test_a_stale_button_is_not_taken_as_a_choice(engine: Engine) -> None:
    await engine.handle(msg("m1", "pick"))
    await engine.handle(msg("m2", "no choices now"))
    result = await engine.handle(msg("m3", "", choice="a"))
    assert result.replies[0].text.startswith("I didn't get any text")


async def test_cancel_and_help_work_mid_dialog(engine: Engine) -> None:
    await engine.handle(msg("m1"))
    helped = await engine.handle(msg("m2", "help"))
    assert "carry on" in helped.replies[0].text  # help keeps the place
    assert (await engine.handle(msg("m3", "x"))).replies[0].text.startswith("2:")
    cancelled = await engine.handle(msg("m4", "cancel"))
    assert "stopped" in cancelled.replies[0].text
    assert (await engine.handle(msg("m5", "x"))).replies[0].text.startswith("1:")


async def test_oversized_and_empty_messages_get_a_clear_answer(engine: Engine) -> None:
    big = await engine.handle(msg("m1", "x" * 100_000))
    assert "too long" in big.replies[0].text and "911" in big.replies[0].text  # unread, so reminded
    empty = await engine.handle(msg("m2", "   "))
    assert "didn't get any text" in empty.replies[0].text
    async with engine.db.reading() as s:
        state = await s.scalar(select(Conversation.state))
    assert state["data"] == {}  # the dialog never ran


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("cancel", "cancel"),
        ("Start over", "cancel"),
        ("/start", "start"),
        ("HELP!", "help"),
        ("help me file a report", None),
        ("cancel my report 1234", None),
        ("stop updates", None),
    ],
)
def test_global_commands_are_whole_messages(text: str, command: str | None) -> None:
    assert global_command(text) == command


async def test_replies_later_are_queued_in_the_turn_once_and_wake_the_worker(
    engine: Engine, db: Database
) -> None:
    woken: list[int] = []
    engine.queued = lambda: woken.append(1)
    first = await engine.handle(msg("m1", "later"), replies_later=True)
    again = await engine.handle(msg("m1", "later"), replies_later=True)  # a redelivery
    assert first.queued == 2 and again.duplicate and again.queued == 0
    async with db.reading() as s:
        rows = (
            await s.execute(select(OutboxMessage.address, OutboxMessage.payload).order_by(OutboxMessage.id))
        ).all()
    # The reply to the resident first, then the dialog's own later message; once each.
    assert [(a, p["text"]) for a, p in rows] == [("c1", "1:later::0"), ("other", "later")]
    assert woken == [1]


async def test_replies_are_not_queued_unless_asked(engine: Engine, db: Database) -> None:
    engine.queued = lambda: pytest.fail("nothing was queued")
    result = await engine.handle(msg("m1", "hello"))
    assert result.queued == 0 and await count(db, OutboxMessage) == 0


async def test_a_tapped_choice_comes_back_as_its_token(engine: Engine) -> None:
    long_id = "svc:" + "x" * 100  # a city's own code can be long; platforms carry 64 bytes
    await engine.handle(msg("m1", "pick"))
    token = Choice("b", "Bananas").token
    assert token == "b"
    result = await engine.handle(msg("m2", "", choice=token))
    assert result.replies[0].text == "2::b:0"
    assert len(Choice(long_id, "Long").token.encode()) <= 64
    assert Choice(long_id, "Long").token != Choice(long_id + "y", "Long").token


async def test_a_slash_command_runs_its_dialog_and_does_not_pick_a_choice(
    db: Database, settings: Settings
) -> None:
    async def status(ctx: Context, state: State, incoming: Incoming) -> Step:
        return Step(state, [Outgoing(f"status of {incoming.text}")])

    registry = DialogRegistry()
    for name in ("root", "counter"):
        registry.register(name, counter)
    registry.register("command:status", status)
    engine = Engine(db, registry, Services(settings))
    await engine.handle(msg("m1", "pick"))
    result = await engine.handle(msg("m2", "/status 1"))  # not "the first choice"
    assert result.replies[0].text == "status of 1"
    assert (await engine.handle(msg("m3", "/status@civic311_bot 10234"))).replies[0].text == "status of 10234"
    # An unknown command is text for the dialog, as before.
    assert (await engine.handle(msg("m4", "/frobnicate"))).replies[0].text.endswith(":/frobnicate::0")


async def test_something_unreadable_is_answered_politely(engine: Engine) -> None:
    result = await engine.handle(msg("m1", "", unreadable="a voice message"))
    assert result.replies[0].text.startswith("I can't open a voice message here.")
