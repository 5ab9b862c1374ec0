"""Handoffs in the core, through the engine: what the resident is told, what staff are
sent (staff events in the outbox), and the bot keeping quiet while staff hold a
conversation. The Slack desk that shows them is tested in tests/adapters/test_slack.py."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.hub import Hub
from bot.messages import Incoming
from bot.models import Conversation, Handoff, OutboxMessage, UnansweredQuestion
from bot.reporting import reports
from bot.settings import Settings
from bot.staff import events, handoffs
from bot.staff.handoffs import StaffError, StaffMember
from bot.timeutil import utcnow
from tests.hubs import prepared_hub

_ids = itertools.count()
JANE = StaffMember("slack:U0JANE", "Jane Doe")
LASTS = timedelta(hours=48)


@pytest.fixture
async def desk_hub(settings: Settings) -> AsyncIterator[Hub]:
    """The sample city as if a staff desk were configured (the Slack plugin sets this)."""
    async with prepared_hub(settings.model_copy(update={"STAFF_HOURS": "24/7"})) as hub:
        hub.services.staff_desk = True
        yield hub


async def say(hub: Hub, text: str, conv: str = "r1") -> list[str]:
    result = await hub.engine.handle(
        Incoming(channel="console", conversation=conv, message_id=f"h{next(_ids)}", text=text)
    )
    return [r.text for r in result.replies]


async def rows(hub: Hub, channel: str) -> list[OutboxMessage]:
    async with hub.db.reading() as s:
        found = await s.scalars(
            select(OutboxMessage).where(OutboxMessage.channel == channel).order_by(OutboxMessage.id)
        )
        return list(found.all())


async def staff_events(hub: Hub) -> list[tuple[str, dict[str, Any]]]:
    return [(r.address, r.payload) for r in await rows(hub, events.DESK)]


async def the_handoff(hub: Hub, conv: str = "r1") -> Handoff:
    async with hub.db.reading() as s:
        conversation = (await s.scalars(select(Conversation).where(Conversation.address == conv))).one()
        return (await s.scalars(select(Handoff).where(Handoff.conversation_id == conversation.id))).one()


async def test_asking_for_a_person_opens_a_handoff_that_staff_are_sent(desk_hub: Hub) -> None:
    said = await say(desk_hub, "I want to talk to a real person")
    assert "passed your question to city staff" in said[0] and "answer here" in said[0]
    handoff = await the_handoff(desk_hub)
    assert handoff.status == "open"
    assert await staff_events(desk_hub) == [
        (f"handoff:{handoff.id}", {"kind": events.HANDOFF_OPENED, "handoff_id": handoff.id})
    ]
    # What the resident says next is shown to staff too, with the bot's answer.
    answered = await say(desk_hub, "when is 311 open?")
    assert "24 hours" in answered[0]
    address, mirrored = (await staff_events(desk_hub))[-1]
    assert address == f"handoff:{handoff.id}" and mirrored["kind"] == events.RESIDENT_SAID
    assert mirrored["text"] == "when is 311 open?" and "24 hours" in mirrored["bot_replies"][0]


async def test_an_unknown_question_offered_to_staff_says_when_outside_hours(settings: Settings) -> None:
    later = (utcnow() + timedelta(hours=12)).astimezone(settings.time_zone)
    window = f"{later:%a} {later:%H}:00-{later:%H}:59"  # an hour twelve hours from now: closed now
    async with prepared_hub(settings.model_copy(update={"STAFF_HOURS": window})) as hub:
        hub.services.staff_desk = True
        offered = await hub.engine.handle(
            Incoming(
                channel="console", conversation="r2", message_id="o1", text="qwzx frobnicate the vorpal blade"
            )
        )
        assert [c.label for c in offered.replies[0].choices] == ["Yes, ask city staff", "No, thanks"]
        told = (await say(hub, "1", conv="r2"))[0]
        assert "not at work right now" in told and f"at {later.hour}:00" in told and "311" in told
        handoff = await the_handoff(hub, "r2")
        assert handoff.question == "qwzx frobnicate the vorpal blade"
        # The admins' inbox counts the question once, keeps the bot's guesses and shows that
        # the resident asked for a person.
        async with hub.db.reading() as s:
            row = (await s.scalars(select(UnansweredQuestion))).one()
        assert row.times_asked == 1 and {"handoff": True} in row.best_guesses


async def test_staff_who_take_over_keep_the_bot_quiet_but_not_about_an_emergency(desk_hub: Hub) -> None:
    await say(desk_hub, "can I speak to a human please")
    handoff = await the_handoff(desk_hub)
    async with desk_hub.db.transaction() as s:
        await handoffs.take_over(s, handoff.id, JANE, utcnow(), lasts=LASTS, policy="first")
    told = await rows(desk_hub, "console")
    assert told[-1].payload["text"] == "Jane (city staff) has joined the conversation."
    assert await say(desk_hub, "when is 311 open?") == []  # staff hold it: no bot answer
    _, mirrored = (await staff_events(desk_hub))[-1]
    assert mirrored["text"] == "when is 311 open?" and mirrored["bot_replies"] == []
    urgent = await say(desk_hub, "there's a fire in my kitchen right now")
    assert urgent and "911" in urgent[0]  # whoever holds the conversation
    other = StaffMember("slack:U0BOB", "Bob Roe")
    async with desk_hub.db.transaction() as s:
        with pytest.raises(StaffError, match="Another staff member"):
            await handoffs.take_over(s, handoff.id, other, utcnow(), lasts=LASTS, policy="first")
    async with desk_hub.db.transaction() as s:
        await handoffs.hand_back(s, handoff.id, JANE, utcnow())
    assert "handed this conversation back" in (await rows(desk_hub, "console"))[-1].payload["text"]
    before = len(await staff_events(desk_hub))
    assert "24 hours" in (await say(desk_hub, "when is 311 open?"))[0]  # the bot again
    assert len(await staff_events(desk_hub)) == before  # and staff are no longer sent it
    async with desk_hub.db.transaction() as s:
        with pytest.raises(StaffError, match="already handed back"):
            await handoffs.hand_back(s, handoff.id, JANE, utcnow())


async def test_a_staff_reply_reaches_the_resident_signed_as_the_city_decides(desk_hub: Hub) -> None:
    await say(desk_hub, "talk to a person")
    handoff = await the_handoff(desk_hub)
    subject = f"handoff:{handoff.id}"
    async with desk_hub.db.transaction() as s:
        await handoffs.reply_to_resident(
            s,
            subject=subject,
            text="Bulk pickup is on Tuesdays.",
            staff=JANE,
            now=utcnow(),
            lasts=LASTS,
            policy="none",
        )
    sent = (await rows(desk_hub, "console"))[-1]
    assert sent.address == "r1" and "Message from City staff" in sent.payload["text"]
    assert "Jane" not in sent.payload["text"] and "Bulk pickup is on Tuesdays." in sent.payload["text"]
    _, confirmed = (await staff_events(desk_hub))[-1]
    assert confirmed["kind"] == events.STAFF_REPLIED and confirmed["shown_as"] == "City staff"
    async with desk_hub.db.transaction() as s:
        await handoffs.reply_to_resident(
            s, subject=subject, text="Call us any time.", staff=JANE, now=utcnow(), lasts=LASTS, policy="full"
        )
    assert "Message from Jane Doe (city staff)" in (await rows(desk_hub, "console"))[-1].payload["text"]


@pytest.mark.parametrize("text", ["", "   ", "x" * 3001])
async def test_an_empty_or_overlong_reply_is_refused_and_nothing_is_sent(desk_hub: Hub, text: str) -> None:
    await say(desk_hub, "talk to a person")
    handoff = await the_handoff(desk_hub)
    before = len(await rows(desk_hub, "console"))
    async with desk_hub.db.transaction() as s:
        with pytest.raises(StaffError, match=r"nothing was sent|characters"):
            await handoffs.reply_to_resident(
                s,
                subject=f"handoff:{handoff.id}",
                text=text,
                staff=JANE,
                now=utcnow(),
                lasts=LASTS,
                policy="first",
            )
    assert len(await rows(desk_hub, "console")) == before


async def test_a_reply_to_a_report_without_a_chat_says_nothing_was_sent(desk_hub: Hub) -> None:
    async with desk_hub.db.transaction() as s:
        report = await reports.file_report(
            s, service_code="pothole", description="deep", now=utcnow(), source="open311", tell_staff=True
        )
    async with desk_hub.db.transaction() as s:
        with pytest.raises(StaffError, match="nothing was sent"):
            await handoffs.reply_to_resident(
                s,
                subject=f"report:{report.id}",
                text="On it",
                staff=JANE,
                now=utcnow(),
                lasts=LASTS,
                policy="first",
            )
    assert (await staff_events(desk_hub)) == [
        (f"report:{report.id}", {"kind": events.REPORT_FILED, "report_id": report.id})
    ]


async def test_an_unanswered_handoff_ends_by_itself(desk_hub: Hub) -> None:
    await say(desk_hub, "talk to a person")
    handoff = await the_handoff(desk_hub)
    async with desk_hub.db.transaction() as s:
        assert await handoffs.current(s, handoff.conversation_id, utcnow() + timedelta(hours=49)) is None
    async with desk_hub.db.reading() as s:
        assert (await s.get(Handoff, handoff.id)).status == "closed"  # type: ignore[union-attr]
    _, ended = (await staff_events(desk_hub))[-1]
    assert ended == {
        "kind": events.HANDOFF_CHANGED,
        "handoff_id": handoff.id,
        "change": "expired",
        "by": None,
    }
