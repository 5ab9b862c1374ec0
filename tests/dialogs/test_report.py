"""Filing a report in the chat, through the engine with the sample city: what a resident experiences."""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass, field
from datetime import timedelta

from PIL import Image
from sqlalchemy import select, update

from bot.hub import Hub, build_hub
from bot.messages import Choice, Incoming, Location, Outgoing, Photo
from bot.models import Conversation, OutboxMessage, Report, Subscription
from bot.reporting import reports
from bot.settings import Settings
from bot.timeutil import utcnow
from tests.fakes.nominatim import FakeNominatim, nominatim_server  # noqa: F401 (a fixture)
from tests.hubs import prepared_hub

_ids = itertools.count()
MARKET_5TH = Location(37.7829, -122.4074)
PACIFIC = Location(37.75, -122.55)


@dataclass
class Resident:
    """A resident on one channel; `say` sends a message and keeps the bot's replies."""

    hub: Hub
    conv: str = "r1"
    channel: str = "webchat"
    replies: list[Outgoing] = field(default_factory=list)

    async def say(self, text: str = "", **kw: object) -> str:
        result = await self.hub.engine.handle(
            Incoming(
                channel=self.channel, conversation=self.conv, message_id=f"m{next(_ids)}", text=text, **kw
            )  # type: ignore[arg-type]
        )
        self.replies = result.replies
        return "\n\n".join(r.text for r in result.replies)

    async def tap(self, label_start: str) -> str:
        choice = self.choice(label_start)
        return await self.say(choice=choice.id)

    def choice(self, label_start: str) -> Choice:
        offered = [c for r in self.replies for c in r.choices]
        found = [c for c in offered if c.label.lower().startswith(label_start.lower())]
        assert found, f"no choice {label_start!r} in {[c.label for c in offered]}"
        return found[0]

    @property
    def labels(self) -> list[str]:
        return [c.label for r in self.replies for c in r.choices]


async def photo(hub: Hub) -> Photo:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, 30)).save(buffer, "JPEG")
    assert hub.services.media is not None
    return await hub.services.media.save(buffer.getvalue())


async def all_reports(hub: Hub) -> list[Report]:
    async with hub.db.reading() as s:
        return list((await s.scalars(select(Report).order_by(Report.id))).all())


async def test_a_pothole_with_photo_and_pin_is_filed_and_numbered(hub: Hub) -> None:
    r = Resident(hub)
    said = await r.say("there's a huge pothole on 5th and Market, almost lost a tire")
    assert "pothole" in said.lower() and r.labels == ["Yes", "No, something else"]
    said = await r.tap("Yes")
    assert "photo" in said.lower() and r.replies[-1].request == "photo"
    said = await r.say(photos=(await photo(hub),))
    assert "1 of 3" in said
    said = await r.tap("Done")
    assert "5th and Market" in said and r.replies[-1].request == "location"
    said = await r.say(location=MARKET_5TH)
    assert "how big" in said and "(optional)" in said
    said = await r.tap("larger than a dinner plate")
    assert "Please check your report" in said and "Photos:** 1" in said and "dinner plate" in said
    said = await r.tap("Send report")
    number = (await all_reports(hub))[0].number
    assert f"report number is **{number}**" in said and "Public Works" in said and "5 days" in said
    assert f"status {number}" in said and "stop updates" in said

    (report,) = await all_reports(hub)
    assert report.service_code == "pothole" and report.department == "Public Works"
    assert report.description.startswith("there's a huge pothole")
    assert (report.lat, report.lon) == (MARKET_5TH.lat, MARKET_5TH.lon)
    assert report.attributes == {"size": "medium"} and len(report.media) == 1
    async with hub.db.reading() as s:
        sub = (await s.scalars(select(Subscription))).one()
    assert (sub.channel, sub.address, sub.role) == ("webchat", "r1", "filer")


async def test_a_request_to_report_asks_for_the_description_and_takes_a_typed_address(hub: Hub) -> None:
    r = Resident(hub, channel="console")  # plain text: no photos, no pin button
    await r.say("I want to report a broken streetlight")
    said = await r.say("1")  # the first choice, typed
    assert "describe the problem" in said.lower()
    said = await r.say("It has been dark for a week, the whole block is pitch black")
    assert "photo" not in said.lower() and "address" in said  # the console can't send photos
    said = await r.say("1420 Noe St")
    assert "wrong with the light" in said and "Skip" not in r.labels  # required
    said = await r.say("skip")
    assert "needed" in said  # a required question can't be skipped
    said = await r.say("purple")
    assert "Please pick one of: light is out, flickering" in said
    said = await r.say("flickering")
    said = await r.say("skip")  # the optional pole number
    assert "Where:** 1420 Noe St" in said and "skipped" in said
    await r.say("send it")
    (report,) = await all_reports(hub)
    assert report.attributes == {"problem": "flickering"} and report.address == "1420 Noe St"
    assert report.address_key == "1420 noe" and report.lat is None


async def test_unsure_kinds_are_offered_and_something_else_lists_the_groups(hub: Hub) -> None:
    r = Resident(hub)
    await r.say("a tree fell on the stop sign at 9th ave")  # the tree or the sign?
    assert r.labels[-1] == "Something else" and len(r.labels) >= 3
    said = await r.tap("Something else")
    assert "What kind of problem" in said and "Trees and parks" in r.labels and "Animals" in r.labels
    said = await r.tap("Trees and parks")
    assert any(label.startswith("Street tree problem") for label in r.labels)
    await r.tap("Street tree problem")
    said = await r.say(choice="skip")  # no photo
    assert "9th ave" in said


async def test_a_pin_in_the_ocean_and_vague_places_are_refused_with_the_reason(hub: Hub) -> None:
    r = Resident(hub)
    await r.say("someone dumped a mattress and a couch on the sidewalk")
    await r.tap("Yes")
    await r.tap("Skip")
    said = await r.say(location=PACIFIC)
    assert "outside Sample City" in said and r.replies[-1].request == "location"
    said = await r.say("here")
    assert "cross streets" in said
    said = await r.say("37.7793, -122.4193")  # typed coordinates work too
    assert "What was left there" in said
    said = await r.say("mattress and furniture")
    assert "Please check your report" in said and "furniture, mattress" in said.lower().replace(
        "mattress, furniture", "furniture, mattress"
    )


async def test_a_multi_value_list_can_be_tapped_one_by_one(hub: Hub) -> None:
    r = Resident(hub)
    await r.say("pile of dumped junk on the corner of Hyde and Eddy")
    await r.tap("Yes")
    await r.tap("Skip")
    await r.tap("Yes, Hyde and Eddy")  # the place named in the first message
    assert "Done" not in r.labels  # nothing picked yet
    said = await r.tap("electronics")
    assert "So far: electronics" in said and "Done" in r.labels and "electronics" not in r.labels
    assert "What was left there" not in said  # the question is not posted again in full
    said = await r.tap("bags of trash")
    assert said.startswith("So far: electronics, bags of trash") and "What was left" not in said
    said = await r.tap("Done")
    assert "electronics, bags of trash" in said
    await r.tap("Send report")
    (report,) = await all_reports(hub)
    assert report.attributes == {"items": ["electronics", "bags"]}  # Open311 value keys


async def test_what_the_description_already_says_is_filled_in_to_confirm(hub: Hub) -> None:
    r = Resident(hub)
    await r.say("someone dumped a couch on the corner of Hyde and Eddy")
    await r.tap("Yes")
    await r.tap("Skip")
    said = await r.tap("Yes, Hyde and Eddy")
    assert "What was left there?" in said and "From what you said: **furniture**" in said
    assert "furniture" not in r.labels and "Done" in r.labels  # picked already: one tap to confirm
    said = await r.tap("Done")
    assert "Please check your report" in said and "furniture" in said
    await r.tap("Send report")
    (report,) = await all_reports(hub)
    assert report.attributes == {"items": ["furniture"]}


async def test_a_wrong_guess_from_the_description_can_be_cleared(hub: Hub) -> None:
    r = Resident(hub)
    await r.say("someone dumped a couch on the corner of Hyde and Eddy")
    await r.tap("Yes")
    await r.tap("Skip")
    await r.tap("Yes, Hyde and Eddy")
    said = await r.tap("Clear")
    assert "From what you said" not in said and "Done" not in r.labels and "furniture" in r.labels
    await r.tap("mattress")
    said = await r.tap("Done")
    assert "mattress" in said and "furniture" not in said


async def test_the_same_problem_nearby_is_offered_to_follow(hub: Hub) -> None:
    first = Resident(hub, conv="first")
    await first.say("huge pothole on 5th and Market")
    await first.tap("Yes")
    await first.tap("Skip")
    await first.say(location=MARKET_5TH)
    await first.tap("Skip")
    await first.tap("Send report")
    (filed,) = await all_reports(hub)

    second = Resident(hub, conv="second", channel="console")
    await second.say("there is a deep pothole at market st and 5th street")
    await second.say("yes")
    said = await second.say("37.78293, -122.40745")  # a few metres away
    assert "Already reported?" in said and f"**{filed.number}**" in said and "1 person follows it" in said
    said = await second.say("1")  # Follow
    assert f"following report **{filed.number}**" in said and "(2 following)" in said
    assert len(await all_reports(hub)) == 1  # not filed twice

    async with hub.db.transaction() as s:  # filed by phone with a typed address, no pin
        await reports.file_report(
            s, service_code="pothole", description="x", place="Market St & 5th Street", now=filed.created_at
        )
    third = Resident(hub, conv="third", channel="console")  # typed address, same corner
    await third.say("big pothole at 5th and market")
    await third.say("yes")
    said = await third.say("5th & Market")
    assert "Already reported?" in said and "at Market St & 5th Street" in said
    said = await third.say("no, mine is different")
    assert "how big" in said
    async with hub.db.transaction() as s:
        change = await reports.set_status(s, filed.number or "", "in_progress", now=filed.created_at)
    assert change.notified == 2  # the filer and the follower


async def test_a_question_in_the_middle_is_answered_and_the_report_resumes(hub: Hub) -> None:
    r = Resident(hub)
    await r.say("graffiti all over the bus shelter on Irving")
    await r.tap("Yes")
    said = await r.say("when is 311 open?")
    assert "24 hours" in said and "back to where we were" in said and r.replies[-1].request == "photo"
    said = await r.say("my neighbour's house is on fire!")
    assert said.index("911") < 80
    said = await r.say(choice="skip")
    assert "Where is it" in said and r.replies[-1].request == "location"  # the same report goes on


async def test_cancel_discards_the_draft_and_an_idle_draft_expires(hub: Hub) -> None:
    r = Resident(hub)
    await r.say("stop sign at Clipper and Diamond was knocked down")
    await r.tap("Yes")
    assert "stopped" in await r.say("cancel")
    assert await all_reports(hub) == []
    await r.say("stop sign at Clipper and Diamond was knocked down")
    async with hub.db.transaction() as s:  # left alone past the timeout
        await s.execute(update(Conversation).values(expires_at=utcnow() - timedelta(seconds=1)))
    said = await r.say("yes")
    assert "timed out" in said and await all_reports(hub) == []


async def test_a_draft_survives_a_restart(hub: Hub) -> None:
    r = Resident(hub)
    await r.say("water is bubbling up through a crack in the road on Alemany")
    await r.tap("Yes")
    await r.tap("Skip")
    other = build_hub(hub.settings)  # another process: nothing carried over in memory
    try:
        said = await Resident(other).say(location=Location(37.7355, -122.4285))
        assert "Please check your report" in said and "Alemany" in said
    finally:
        await other.close()


async def test_summary_changes_go_back_to_the_summary(hub: Hub) -> None:
    r = Resident(hub, channel="console")
    await r.say("broken glass all over the sidewalk on Clement St")
    await r.say("yes")
    await r.say("Clement St and 5th Ave")
    said = await r.say("change")
    assert "What would you like to change" in said
    assert "Photos" not in r.labels  # the console cannot send photos: not offered
    said = await r.say("the location")  # not the label's exact word
    assert "Where is it" in said or "Is it at" in said
    said = await r.say("Clement St and 6th Ave")
    assert "Where:** Clement St and 6th Ave" in said
    await r.say("Change something")
    await r.say("Description")
    said = await r.say("broken bottle glass near the bus stop")
    assert "Description:** broken bottle glass near the bus stop" in said
    assert "stopped" in await r.say("cancel")
    assert await all_reports(hub) == []


async def test_my_reports_status_and_stop_updates(hub: Hub) -> None:
    r = Resident(hub, channel="console", conv="me")
    assert "don't have any reports" in await r.say("my reports")
    await r.say("dead rat on the sidewalk outside 300 Fell St")
    await r.say("yes")
    assert "cross streets" in await r.say("skip")  # the place can't be skipped
    said = await r.say("300 Fell St")
    await r.say("send")
    (report,) = await all_reports(hub)
    said = await r.say("my reports")
    assert f"**{report.number}**" in said and "300 Fell St" in said and "open" in said
    said = await r.say(f"status {report.number}")
    assert "dead animal" in said.lower() and "open" in said
    assert "couldn't find report **99999**" in await r.say("status 99999")
    said = await r.say("stop updates")
    assert "won't send you more updates" in said
    async with hub.db.transaction() as s:
        change = await reports.set_status(s, report.number or "", "closed", now=report.created_at)
    assert change.notified == 0
    async with hub.db.reading() as s:
        assert (await s.scalars(select(OutboxMessage))).all() == []
    assert "weren't getting updates" in await r.say("stop updates")


async def test_an_answer_about_a_reportable_problem_offers_to_file_one(hub: Hub) -> None:
    r = Resident(hub)
    said = await r.say("how long can a car stay parked in the same spot on the street?")
    assert "72 hours" in said and r.labels == ["Report one now"]
    said = await r.tap("Report one now")
    assert "describe the problem" in said.lower()  # the kind is known: straight to the description
    said = await r.say("white honda with no plates, covered in leaves and flat tyres")
    assert "photo" in said.lower()
    said = await r.say("what's the weather like on mars")  # not a choice, not a photo: explained
    assert "tap **Skip**" in said
    said = await r.say("it's outside 1600 Shotwell St")  # no photo, the place instead: taken as such
    assert "What make is it" in said


async def test_typed_places_are_geocoded_when_a_geocoder_is_configured(
    settings: Settings,
    nominatim_server: FakeNominatim,  # noqa: F811 (the imported fixture)
) -> None:
    async with prepared_hub(settings.model_copy(update={"GEOCODER_URL": nominatim_server.url})) as hub:
        r = Resident(hub, channel="console")
        await r.say("the walk signal is not working, cars don't stop")
        await r.say("yes")
        said = await r.say("Market & 5th")
        assert "found it on the map as **Market St & 5th St**" in said
        await r.say("send")
        (report,) = await all_reports(hub)
        assert (report.lat, report.lon) == (37.7829, -122.4074) and report.address == "Market & 5th"

        nominatim_server.fail = "500"  # the map service is down: the report still goes ahead
        other = Resident(hub, channel="console", conv="r2")
        await other.say("the walk signal is not working at all")
        await other.say("yes")
        said = await other.say("Larkin and Grove")
        assert "Please check your report" in said and "Where:** Larkin and Grove" in said

        nominatim_server.fail = None  # outside the city, so not on the city's map: kept as typed
        third = Resident(hub, channel="console", conv="r3")
        await third.say("the walk signal is not working at all")
        await third.say("yes")
        said = await third.say("Oakland City Hall")
        assert "couldn't find that on the city map" in said and "Where:** Oakland City Hall" in said
