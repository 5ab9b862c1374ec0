"""Interruptions at every kind of step, and the conversation details around them: through
the engine with the sample city, as a resident experiences them."""

from __future__ import annotations

from bot.hub import Hub
from tests.dialogs.test_report import Resident


async def at_kind_confirmation(hub: Hub) -> Resident:
    resident = Resident(hub)
    await resident.say("there's a big pothole outside 1450 Valencia St")
    assert "Yes" in " ".join(resident.labels)  # a yes/no choice is waiting
    return resident


async def at_place_step(hub: Hub) -> Resident:
    resident = Resident(hub, channel="console")  # no photos on this channel: straight to the place
    await resident.say("someone dumped a mattress on the sidewalk")
    await resident.tap("Yes")
    said = await resident.say("skip") if "photo" in " ".join(r.text for r in resident.replies) else ""
    assert "address" in said or "cross streets" in " ".join(r.text for r in resident.replies)
    return resident


async def test_an_emergency_mid_report_shows_the_pending_step_again(hub: Hub) -> None:
    resident = await at_kind_confirmation(hub)
    pending = resident.replies[-1].text
    said = await resident.say("wait, my neighbour just collapsed and isn't breathing")
    assert resident.replies[0].urgent and said.count("911") == 1
    assert "When you're safe" in said and resident.replies[-1].text == pending
    assert resident.labels  # the same choices, so the next tap still means what it says
    assert "Photo" in await resident.tap("Yes") or resident.replies  # and the report carries on


async def test_a_status_request_at_a_choice_step_is_answered_then_the_step_asked_again(hub: Hub) -> None:
    resident = await at_kind_confirmation(hub)
    pending = resident.replies[-1].text
    said = await resident.say("status 10001")
    assert "10001" in said and resident.replies[-1].text == pending


async def test_a_question_at_a_choice_step_is_answered_then_the_step_asked_again(hub: Hub) -> None:
    resident = await at_kind_confirmation(hub)
    pending = resident.replies[-1].text
    said = await resident.say("when is 311 open?")
    assert "24 hours" in said and "back to where we were" in said
    assert resident.replies[-1].text == pending


async def test_asking_for_a_person_mid_report_keeps_the_report(hub: Hub) -> None:
    resident = await at_kind_confirmation(hub)
    pending = resident.replies[-1].text
    said = await resident.say("can I talk to a real person")
    assert "city staff" in said and "cancel" in said and resident.replies[-1].text == pending


async def test_my_reports_and_stop_updates_work_at_a_free_text_step(hub: Hub) -> None:
    resident = await at_place_step(hub)
    pending = resident.replies[-1].text
    assert resident.replies[-1].text == pending
    await resident.say("show me my reports")
    assert resident.replies[-1].text == pending
    await resident.say("stop updates")
    assert resident.replies[-1].text == pending
    filed = await resident.say("5th and Market")  # the place is still taken as the answer
    assert "5th and Market" in filed or resident.replies


async def test_a_number_that_matches_no_choice_asks_for_one_in_range(hub: Hub) -> None:
    resident = await at_kind_confirmation(hub)
    count = len(resident.labels)
    said = await resident.say("7")
    assert f"from 1 to {count}" in said and len(resident.labels) == count


async def test_a_bare_report_number_is_a_status_request(hub: Hub) -> None:
    said = await Resident(hub).say("10001?")
    assert "10001" in said and "report" in said.lower()


async def test_bye_gets_a_goodbye(hub: Hub) -> None:
    said = await Resident(hub).say("ok bye")
    assert "Goodbye" in said and "welcome" not in said


async def test_two_misunderstandings_in_a_row_offer_a_way_out(hub: Hub) -> None:
    resident = Resident(hub)
    first = await resident.say("qwzx frobnicate the vorpal blade")
    assert "another way" not in first
    second = await resident.say("blorp zindle quux the wompus")
    assert "another way" in second and "help" in second
    assert any("note it" in label for label in resident.labels)  # no staff desk: noted, with 311 to call
    assert "311" in second
    assert "24 hours" in await resident.say("when is 311 open?")  # understood again: back to normal


async def test_a_message_in_another_language_is_answered_in_it(hub: Hub) -> None:
    resident = Resident(hub)
    said = await resident.say("hola, necesito ayuda con un bache en mi calle")
    assert "inglés" in said and "911" in said and "311" in said
    assert said.index("911") < said.index("inglés")  # unread, it may be an emergency: 911 first
    assert "interpreters" in said  # and the knowledge base's answer about languages
    assert said.count("911") == 1 and "danger right now" not in said  # once, in Spanish


async def test_cross_streets_in_the_first_message_are_taken_whole(hub: Hub) -> None:
    resident = Resident(hub, channel="console")
    said = await resident.say("streetlight out at Market St & 5th Street")
    await resident.tap("Yes")
    while "photo" in " ".join(r.text for r in resident.replies).lower():
        said = await resident.say("skip")
    said = " ".join(r.text for r in resident.replies)
    assert "Market St & 5th Street" in said


async def test_a_photo_sent_with_a_question_is_kept_for_the_report(hub: Hub) -> None:
    from tests.dialogs.test_report import photo

    resident = Resident(hub)
    await resident.say("there's a big pothole outside 1450 Valencia St")
    await resident.tap("Yes")
    assert "photo" in " ".join(r.text for r in resident.replies).lower()
    await resident.say("when is 311 open?", photos=(await photo(hub),))
    assert "back to where we were" not in " ".join(r.text for r in resident.replies)  # the dialog took it
