"""Dialogs through the engine with the sample city, no server: what a resident experiences."""

from __future__ import annotations

import itertools

from sqlalchemy import select

from bot.hub import Hub
from bot.messages import Incoming
from bot.models import UnansweredQuestion
from knowledge.loader import load_sample

_ids = itertools.count()


async def say(hub: Hub, text: str = "", conv: str = "r1", **kw: object) -> list[str]:
    result = await hub.engine.handle(
        Incoming(channel="console", conversation=conv, message_id=f"m{next(_ids)}", text=text, **kw)
    )  # type: ignore[arg-type]
    return [r.text for r in result.replies]


async def choices(hub: Hub, text: str, conv: str = "r1") -> list[tuple[str, str]]:
    result = await hub.engine.handle(
        Incoming(channel="console", conversation=conv, message_id=f"m{next(_ids)}", text=text)
    )
    return [(c.id, c.label) for r in result.replies for c in r.choices]


async def test_greeting_says_what_the_bot_can_do(hub: Hub) -> None:
    reply = (await say(hub, "hi"))[0]
    for skill in ("answer questions", "file a report", "status", "911"):
        assert skill in reply


async def test_a_question_is_answered_from_the_knowledge_base(hub: Hub) -> None:
    reply = (await say(hub, "when is 311 open?"))[0]
    assert "24 hours" in reply


async def test_an_emergency_is_told_to_call_911_first(hub: Hub) -> None:
    reply = (await say(hub, "my neighbour's house is on fire!"))[0]
    assert reply.index("911") < 80


async def test_an_emergency_interrupts_any_dialog(hub: Hub) -> None:
    await choices(hub, "qwzx frobnicate the vorpal blade")  # now in the staff-offer dialog
    assert "911" in (await say(hub, "I smell gas, it's really strong"))[0]
    assert "noted your question" in (await say(hub, "1"))[0]  # and the dialog carries on


async def test_unknown_question_offers_staff_and_is_recorded(hub: Hub) -> None:
    offered = await choices(hub, "qwzx frobnicate the vorpal blade")
    # No staff desk (Slack) in this city: the bot offers to note the question, never to
    # pass it to a person who would not see it.
    assert [label for _, label in offered] == ["Yes, note it", "No, thanks"]
    noted = (await say(hub, "yes, note it"))[0]
    assert "noted your question" in noted and "Nobody will reply" in noted
    await say(hub, "qwzx frobnicate the vorpal blade", conv="r2")
    async with hub.db.reading() as s:
        row = (await s.scalars(select(UnansweredQuestion))).one()
    assert row.text == "qwzx frobnicate the vorpal blade" and row.times_asked >= 2


async def test_declining_staff_ends_politely(hub: Hub) -> None:
    await choices(hub, "qwzx frobnicate the vorpal blade")
    assert "Ask me something else" in (await say(hub, "2"))[0]


async def test_a_new_question_instead_of_a_choice_is_answered(hub: Hub) -> None:
    await choices(hub, "qwzx frobnicate the vorpal blade")
    assert "24 hours" in (await say(hub, "when is 311 open?"))[0]


async def test_cancel_and_help_at_any_point(hub: Hub) -> None:
    await choices(hub, "qwzx frobnicate the vorpal blade")
    assert "carry on" in (await say(hub, "help"))[0]
    assert "stopped" in (await say(hub, "cancel"))[0]
    assert "nothing to cancel" in (await say(hub, "cancel"))[0]


async def test_thanks_and_who_are_you(hub: Hub) -> None:
    assert "welcome" in (await say(hub, "thanks!"))[0]
    assert "not a person" in (await say(hub, "are you a bot?"))[0]


async def test_plain_text_channels_get_numbered_choices(hub: Hub) -> None:
    from bot.messages import degrade

    result = await hub.engine.handle(
        Incoming(channel="console", conversation="r9", message_id="x1", text="qwzx frobnicate")
    )
    text = degrade(result.replies[0], hub.channels["console"].capabilities).text
    assert "1. Yes, note it" in text and "Reply with a number" in text


async def test_a_vague_message_gets_did_you_mean_choices(hub: Hub) -> None:
    offered = await choices(hub, "parking", conv="dym")
    ids = [cid for cid, _ in offered]
    answers = [i for i in ids[:-1] if not i.startswith("report:")]  # a report may be offered too
    assert len(answers) >= 2 and ids[-1] == "none" and all("parking" in i for i in answers)
    answer = (await say(hub, "2", conv="dym"))[0]
    second = next(e for e in load_sample().knowledge.entries if e.id == ids[1])  # type: ignore[union-attr]
    assert second.answer.splitlines()[0] in answer  # the second entry's answer, not the first's
    async with hub.db.reading() as s:
        row = (await s.scalars(select(UnansweredQuestion))).one()
    assert row.text == "parking" and len(row.best_guesses) >= 2


async def test_none_of_these_offers_staff(hub: Hub) -> None:
    await choices(hub, "parking", conv="dym2")
    offered = await choices(hub, "none of these", conv="dym2")
    assert [label for _, label in offered] == ["Yes, note it", "No, thanks"]  # no staff desk here
