"""City staff in Slack, end to end: slack-bolt and slack_sdk over HTTP against the fake
workspace of tests/fakes, residents in the web chat, on both databases."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.models import DepartmentRow, Handoff, OutboxMessage, Report, StaffNote
from bot.reporting import reports
from bot.timeutil import utcnow
from tests.slack_city import ROADS, STAFF, City, slack_cities, slack_city


@pytest.fixture
async def city(prepared_url: str, tmp_path: Path) -> AsyncIterator[City]:
    async with slack_city(prepared_url, tmp_path) as city:
        yield city


async def roads_has_its_own_channel(city: City, channel: str = ROADS) -> None:
    async with city.hub.db.transaction() as s:
        await s.execute(
            update(DepartmentRow).where(DepartmentRow.name == "Public Works").values(slack_channel=channel)
        )


async def test_a_report_reaches_staff_who_work_it_and_talk_with_the_resident(city: City) -> None:
    await roads_has_its_own_channel(city)
    resident = city.resident()
    number = await resident.file_pothole()

    # The report is in the department's channel, with what staff need and the buttons.
    message = await city.report_message(ROADS, number)
    shown = message.words()
    for expected in (f"Report {number}", "Pothole", "5th and Market", "Public Works", "1 resident"):
        assert expected in shown
    assert [b["text"]["text"] for b in message.buttons()] == [
        "Acknowledge",
        "In progress",
        "Close",
        "Assign to me",
        "Reply to resident",
    ]
    assert city.slack.calls_to("chat.postMessage")[0].params["unfurl_links"] is False
    assert not city.messages(STAFF)  # not also in the staff channel

    # "In progress": the resident is told, the message shows who did it, the thread says when.
    await city.press(message, "In progress")
    assert any(f"report **{number}**" in t and "in progress" in t for t in await resident.later())
    message = city.message(ROADS, message.ts)
    assert "In progress, by Jane Doe" in message.words() and message.edits
    assert "In progress" not in [b["text"]["text"] for b in message.buttons()]
    assert "In progress, by Jane Doe" in city.thread(ROADS, message.ts)[-1].words()
    async with city.hub.db.reading() as s:
        report = (await s.scalars(select(Report))).one()
        assert report.status == "in_progress"

    # A staff reply, written in the modal, reaches the resident once, signed by first name.
    await city.press(message, "Reply to resident")
    assert city.slack.opened_views[-1]["callback_id"] == "c311_reply_view"
    reply = await city.submit({"reply": "A crew is booked for Thursday morning."})
    assert reply.status == 200
    told = await resident.later()
    assert len([t for t in told if "A crew is booked for Thursday morning." in t]) == 1
    assert any("Message from Jane (city staff)" in t for t in told)
    thread = city.thread(ROADS, message.ts)
    assert "Sent to the resident" in thread[-1].words() and "Thursday morning" in thread[-1].words()

    # The resident's answer comes back into the report's thread.
    await resident.say("Thank you! It's right by the bus stop.")
    line = await city.in_thread(ROADS, message.ts, "bus stop")
    assert "Resident" in line.words()
    # Asking for a person now goes to the staff already talking with them, in this thread, once.
    assert "passed your question" in (await resident.say("can I talk to a person about it"))[-1]
    await city.in_thread(ROADS, message.ts, "talk to a person about it")
    assert len([m for m in city.thread(ROADS, message.ts) if "talk to a person about it" in m.words()]) == 1
    assert not [m for m in city.messages(STAFF) if "asks for city staff" in m.text]

    # A message staff write in the thread is an internal note: kept, never sent.
    event = city.slack.message_event(ROADS, "U0JANE", "Internal: crew 4, bring the cold patch", message.ts)
    assert (await city.slack.send_event(city.events_url, event)).status == 200
    await city.drained()
    async with city.hub.db.reading() as s:
        notes = (await s.scalars(select(StaffNote))).all()
    assert [(n.subject, n.author, n.text) for n in notes] == [
        (f"report:{report.id}", "Jane Doe", "Internal: crew 4, bring the cold patch")
    ]
    assert not any("cold patch" in t for t in await resident.later())


async def test_closing_asks_why_and_the_note_reaches_the_resident(city: City) -> None:
    resident = city.resident()
    number = await resident.file_pothole()
    message = await city.report_message(STAFF, number)  # no department channel: the staff channel
    await city.press(message, "Close")
    modal = city.slack.opened_views[-1]
    assert modal["callback_id"] == "c311_close_view" and json.loads(modal["private_metadata"]) == {
        "number": number
    }
    await city.submit({"reason": "duplicate", "note": "Same as report 10000, being fixed."})
    told = " ".join(await resident.later())
    assert "closed" in told and "duplicate" in told and "Same as report 10000" in told
    shown = city.message(STAFF, message.ts)
    assert "Closed (a duplicate of another report), by Jane Doe" in shown.words()
    assert [b["text"]["text"] for b in shown.buttons()] == ["Reopen", "Assign to me", "Reply to resident"]


async def test_a_change_made_elsewhere_updates_the_slack_message(city: City) -> None:
    resident = city.resident()
    number = await resident.file_pothole()
    message = await city.report_message(STAFF, number)
    async with city.hub.db.transaction() as s:
        await reports.set_status(s, number, "acknowledged", now=utcnow(), actor="cli", tell_staff=True)
    city.hub.outbox_queued.set()
    await city.drained()
    assert "Acknowledged, by the command line" in city.message(STAFF, message.ts).words()
    await city.press(message, "Assign to me")
    shown = city.message(STAFF, message.ts).words()
    assert "Assigned to" in shown and "Jane Doe" in shown
    assert not [t for t in await resident.later() if "assigned" in t.lower()]  # not a change for them


async def test_a_person_asked_for_answers_and_the_answer_becomes_knowledge(city: City) -> None:
    resident = city.resident()
    question = "Does the city offer beekeeping classes?"
    offered = await resident.say(question)
    assert "pass your question to city staff" in offered[-1]
    told = await resident.say("yes, ask city staff")
    assert "passed your question to city staff" in told[-1] and "answer here" in told[-1]

    handoff = await city.find(STAFF, "asks for city staff")
    assert "beekeeping classes" in handoff.words() and "Recent conversation" in handoff.words()
    assert "webchat" not in handoff.words() or "the web chat" in handoff.words()

    # Staff take over: the bot stays quiet, and what the resident says reaches the thread.
    await city.press(handoff, "Take over")
    assert any("Jane (city staff) has joined" in t for t in await resident.later())
    assert await resident.say("hello? anyone there?") == []
    await city.in_thread(STAFF, handoff.ts, "anyone there")
    answer = "Yes: Recreation and Parks runs free beekeeping classes each spring; sign up at any rec center."
    await city.press(city.message(STAFF, handoff.ts), "Reply to resident")
    await city.submit({"reply": answer})
    assert any(answer in t for t in await resident.later())

    # Save as FAQ: a prefilled modal; the next resident who asks gets the answer.
    await city.press(city.message(STAFF, handoff.ts), "Save as FAQ")
    modal = city.slack.opened_views[-1]
    prefilled = {
        b["block_id"]: b["element"].get("initial_value") for b in modal["blocks"] if b["type"] == "input"
    }
    assert prefilled["question"] == question and prefilled["answer"] == answer
    reply = await city.submit({})
    assert reply.status == 200 and not reply.body.strip(), reply.body
    await city.in_thread(STAFF, handoff.ts, "saved this answer")

    await city.press(city.message(STAFF, handoff.ts), "Hand back to the bot")
    assert any("handed this conversation back" in t for t in await resident.later())
    async with city.hub.db.reading() as s:
        assert (await s.scalars(select(Handoff))).one().status == "closed"

    neighbour = city.resident()
    said = await neighbour.say("are there beekeeping classes run by the city?")
    assert any("free beekeeping classes each spring" in t for t in said), said


async def test_talk_to_a_person_opens_a_thread_at_once(city: City) -> None:
    resident = city.resident()
    told = await resident.say("I want to talk to a real person")
    assert "passed your question to city staff" in told[-1]
    handoff = await city.find(STAFF, "asks for city staff")
    assert [b["text"]["text"] for b in handoff.buttons()] == [
        "Reply to resident",
        "Take over",
        "Hand back to the bot",
    ]


async def test_residents_text_cannot_ping_mention_or_link_in_slack(city: City) -> None:
    resident = city.resident()
    await resident.say("<!channel> <@U0JANE> see <https://evil.example|here> & talk to a person")
    handoff = await city.find(STAFF, "asks for city staff")
    words = handoff.words()
    assert "<!channel>" not in words and "<@U0JANE>" not in words and "<https://evil" not in words
    assert "&lt;!channel&gt;" in words and "&amp;" in words
    posted = city.slack.calls_to("chat.postMessage")[-1].params
    assert posted["unfurl_links"] is False and posted["unfurl_media"] is False
    texts = [b["text"] for b in posted["blocks"] if b.get("type") == "section" and "text" in b]
    assert all(t.get("verbatim") is True for t in texts)  # no automatic links or #channel names


async def test_forged_stale_and_unsigned_requests_are_refused(city: City) -> None:
    event = city.slack.message_event(STAFF, "U0JANE", "x", thread_ts="1700000000.000001")
    assert (await city.slack.send_event(city.events_url, event, secret="not-the-secret-at-all")).status == 401
    stale = await city.slack.send_event(city.events_url, event, timestamp=time.time() - 6 * 60)
    assert stale.status == 401
    verified = await city.slack.url_verification(city.events_url)
    assert verified.status == 200 and verified.sent["challenge"] in verified.body
    unsigned = await city.slack.post_signed(
        city.events_url, "{}", "application/json", {}, headers={"X-Slack-Signature": ""}
    )
    assert unsigned.status == 401
    async with city.hub.db.reading() as s:
        assert not (await s.scalars(select(StaffNote))).all()


async def test_a_retried_event_is_applied_once(city: City) -> None:
    number = await city.resident().file_pothole()
    message = await city.report_message(STAFF, number)
    event = city.slack.message_event(STAFF, "U0JANE", "Checked on site", message.ts)
    for retry in (None, 1, 2):
        sent = await city.slack.send_event(city.events_url, event, event_id="Ev0RETRY", retry_num=retry)
        assert sent.status == 200
    async with city.hub.db.reading() as s:
        assert [n.text for n in (await s.scalars(select(StaffNote))).all()] == ["Checked on site"]


async def test_only_staff_on_the_allow_list_can_act(prepared_url: str, tmp_path: Path) -> None:
    async with slack_city(prepared_url, tmp_path, SLACK_ALLOWED_USERS="U0JANE") as city:
        city.slack.add_user("U0BOB", "bob", "Bob Roe")
        city.slack.add_user("U0EVE", "eve", "Eve Outsider", team_id="T0OTHER")
        number = await city.resident().file_pothole()
        message = await city.report_message(STAFF, number)
        for user in ("U0BOB", "U0EVE"):
            assert (await city.press_as(message, "In progress", user)).status == 200
        await city.drained()
        async with city.hub.db.reading() as s:
            assert (await s.scalars(select(Report))).one().status == "open"
        assert any("Only the city's staff" in str(r.body.get("text")) for r in city.slack.responses)
        refused = await city.slack.slash_command(
            city.events_url, command="/civic311", text=number, user="U0BOB", channel=STAFF
        )
        assert refused.status == 200 and "Only the city's staff" in refused.body
        shown = await city.slack.slash_command(
            city.events_url, command="/civic311", text=number, user="U0JANE", channel=STAFF
        )
        assert shown.status == 200 and f"Report {number}" in shown.body and "open" in shown.body


async def test_a_429_waits_slacks_time_and_nothing_is_lost(city: City) -> None:
    city.slack.fail_next("chat.postMessage", status=429, retry_after=1)
    number = await city.resident().file_pothole()
    message = await city.report_message(STAFF, number)
    assert message is not None
    posts = [t for name, _, t in city.slack.calls if name == "chat.postMessage"]
    assert len(posts) >= 2 and posts[1] - posts[0] >= 0.9  # Retry-After: 1 was waited
    async with city.hub.db.reading() as s:
        rows = (await s.scalars(select(OutboxMessage).where(OutboxMessage.channel == "staff"))).all()
    assert all(r.status == "sent" for r in rows) and rows[0].attempts == 2


async def test_a_channel_slack_refuses_falls_back_to_the_staff_channel(
    city: City, caplog: pytest.LogCaptureFixture
) -> None:
    await roads_has_its_own_channel(city, "C0GONE")  # no such channel
    city.slack.add_channel("C0NOTIN", "not-invited", bot_member=False)
    with caplog.at_level(logging.WARNING, logger="adapters.slack"):
        number = await city.resident().file_pothole()
        assert await city.report_message(STAFF, number)
    assert any(
        "channel_not_found" in r.getMessage() and "SLACK_STAFF_CHANNEL" in r.getMessage()
        for r in caplog.records
    )
    await roads_has_its_own_channel(city, "C0NOTIN")
    second = city.resident()
    second_number = await second.file_pothole("Mission and 24th")
    assert await city.report_message(STAFF, second_number)
    assert any("not_in_channel" in r.getMessage() for r in caplog.records)


async def test_a_refused_token_keeps_the_messages_for_later(
    city: City, caplog: pytest.LogCaptureFixture
) -> None:
    city.slack.fail_next("chat.postMessage", error="invalid_auth", times=1)
    with caplog.at_level(logging.ERROR, logger="adapters.slack"):
        number = await city.resident().file_pothole()
        assert await city.report_message(STAFF, number)  # tried again, and posted
    assert any(
        "invalid_auth" in r.getMessage() and "SLACK_BOT_TOKEN" in r.getMessage() for r in caplog.records
    )


async def test_socket_mode_needs_no_public_url(prepared_url: str, tmp_path: Path) -> None:
    """SLACK_APP_TOKEN: Slack's requests come over the socket serve opens; no route is served."""
    async with slack_city(prepared_url, tmp_path, SLACK_APP_TOKEN="xapp-1-fake-app-token") as city:
        await city.slack.socket_connected()
        resident = city.resident()
        number = await resident.file_pothole()
        message = await city.report_message(STAFF, number)
        pressed = message.button("In progress")
        ack = await city.slack.socket_press_button(
            channel=STAFF,
            message_ts=message.ts,
            action_id=pressed["action_id"],
            value=pressed["value"],
            block_id=pressed["block_id"],
            user="U0JANE",
        )
        assert ack.acked
        await city.drained()
        assert any("in progress" in t for t in await resident.later())
        shown = await city.slack.socket_slash_command(
            command="/civic311", text=number, user="U0JANE", channel=STAFF
        )
        assert shown.acked and f"Report {number}" in json.dumps(shown.payload)
        posted = await city.slack.send_event(city.events_url, city.slack.message_event(STAFF, "U0JANE", "x"))
        assert posted.status == 404  # no HTTP endpoint in Socket Mode


async def test_two_servers_on_one_database_post_each_report_once(prepared_url: str, tmp_path: Path) -> None:
    """Two `serve`s (each with its own outbox worker) share the staff events: every report
    is posted once, its changes land in its own thread in order, whichever server a button
    press reaches."""
    if "postgresql" not in prepared_url:
        pytest.skip("several processes on one database is PostgreSQL's job (SQLite is one process)")
    async with slack_cities(prepared_url, tmp_path, 2) as (first, second):
        places = ["5th and Market", "Mission and 24th", "Valencia and 16th", "Geary and Masonic"]
        numbers = []
        for n, place in enumerate(places):
            city = (first, second)[n % 2]
            numbers.append(await city.resident().file_pothole(place))
        for n, number in enumerate(numbers):
            message = await first.report_message(STAFF, number)
            await (second, first)[n % 2].press(message, "Acknowledge")
            await (first, second)[n % 2].press(first.message(STAFF, message.ts), "In progress")
        await first.drained()
        await second.drained()
        roots = first.messages(STAFF)
        posted = [w.rstrip(":") for m in roots for w in m.text.split() if w.rstrip(":") in numbers]
        assert sorted(posted) == sorted(numbers)
        assert len(roots) == len(numbers)  # each posted once
        for message in roots:
            lines = [m.words() for m in first.thread(STAFF, message.ts)]
            assert ["Acknowledged" in lines[0], "In progress" in lines[1], len(lines)] == [True, True, 2]
