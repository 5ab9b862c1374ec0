"""What staff do in Slack, as bolt listeners: every press, submission and thread message
is applied in one database transaction, and what it sends (to residents, back to Slack)
goes through the outbox. The listeners finish before bolt answers Slack
(`process_before_response`): nothing runs after the answer that could be lost, and the
work is a transaction of milliseconds, well inside Slack's 3 seconds."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.slack import blocks
from adapters.slack.client import NAME, UNREACHABLE, StaffNames
from adapters.slack.constants import COMMAND
from bot.api import (
    Hub,
    StaffError,
    StaffMember,
    handoffs,
    reports,
    staff_answers,
    staff_cards,
    staff_events,
    staff_threads,
    utcnow,
)

log = logging.getLogger(__name__)

Work = Callable[[AsyncSession], Awaitable[None]]

NOT_STAFF = "Only the city's staff can act on reports here. Ask an admin of civic311 to add you."


class Listeners:
    def __init__(self, hub: Hub, client: AsyncWebClient) -> None:
        self.hub = hub
        self.client = client
        self.names = StaffNames(client)
        self.allowed = hub.settings.slack_allowed_users
        self.lasts = timedelta(hours=hub.settings.HANDOFF_HOURS)
        self.policy = hub.settings.STAFF_NAMES_TO_RESIDENTS

    def register(self, app: AsyncApp) -> None:
        app.middleware(self.only_staff)
        app.action(blocks.STATUS)(self.on_status)
        app.action(blocks.CLOSE)(self.on_close)
        app.action(blocks.ASSIGN)(self.on_assign)
        app.action(blocks.REPLY)(self.on_reply)
        app.action(blocks.TAKE_OVER)(self.on_take_over)
        app.action(blocks.HAND_BACK)(self.on_hand_back)
        app.action(blocks.SAVE_FAQ)(self.on_save_faq)
        app.view(blocks.CLOSE_VIEW)(self.on_close_submitted)
        app.view(blocks.REPLY_VIEW)(self.on_reply_submitted)
        app.view(blocks.FAQ_VIEW)(self.on_faq_submitted)
        app.event("message")(self.on_message)
        app.command(COMMAND)(self.on_command)

    # -- who may act ---------------------------------------------------------------

    async def only_staff(
        self, body: dict[str, Any], context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """Members of the city's workspace (and, with SLACK_ALLOWED_USERS, only those) may
        act; anything else is answered and not applied."""
        team = _team_of(body)
        user = _user_of(body)
        ours = context.team_id
        if ours and team and team != ours:
            log.warning("slack: a request from another workspace (%s) was refused", team)
            return BoltResponse(status=200, body=NOT_STAFF)
        acting = body.get("type") in ("block_actions", "view_submission") or "command" in body
        if acting and (not user or (self.allowed and user not in self.allowed)):
            log.info("slack: user %s is not on SLACK_ALLOWED_USERS; refused", user)
            if body.get("type") == "view_submission":
                return BoltResponse(status=200, body=json.dumps({"response_action": "clear"}))
            if body.get("type") == "block_actions" and context.respond is not None:
                await context.respond(text=NOT_STAFF, response_type="ephemeral", replace_original=False)
            return BoltResponse(status=200, body=NOT_STAFF if "command" in body else "")
        await next()
        return None

    async def member(self, body: dict[str, Any]) -> StaffMember:
        user = body.get("user") or {}
        user_id = str(user.get("id") or body.get("user_id") or "")
        fallback = str(user.get("name") or user.get("username") or body.get("user_name") or "")
        return StaffMember(f"{NAME}:{user_id}", await self.names.name(user_id, fallback))

    # -- reports -------------------------------------------------------------------

    async def on_status(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        number, _, status = str(action.get("value") or "").partition(":")
        staff = await self.member(body)

        async def work(session: AsyncSession) -> None:
            report = await reports.find(session, number, lock=True)
            if report is None:
                raise reports.ReportError(f"There is no report {number}.")
            if report.status == status:  # a second press, or another's press first
                raise reports.ReportError(f"Report {number} is already {reports.STATUS_WORDS[status]}.")
            await reports.set_status(
                session, number, status, now=utcnow(), actor=_actor(staff), tell_staff=True
            )

        await self._apply(work, respond)

    async def on_close(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        await self._open(body, blocks.close_modal(str(action.get("value") or "")), respond)

    async def on_close_submitted(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        number = str(_metadata(view).get("number") or "")
        reason = _chosen(view, "reason")
        note = _typed(view, "note").strip() or None
        staff = await self.member(body)

        async def work(session: AsyncSession) -> None:
            await reports.set_status(
                session,
                number,
                "closed",
                now=utcnow(),
                note=note,
                reason=reason or "fixed",
                actor=_actor(staff),
                tell_staff=True,
            )

        await self._submitted(work, ack, "reason")

    async def on_assign(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        staff = await self.member(body)
        number = str(action.get("value") or "")

        async def work(session: AsyncSession) -> None:
            await reports.assign(session, number, staff.name, now=utcnow())

        await self._apply(work, respond)

    # -- talking with residents ------------------------------------------------------

    async def on_reply(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        subject = str(action.get("value") or "")
        parsed = staff_events.parse_subject(subject)
        title = "this report" if parsed and parsed[0] == "report" else "this question"
        await self._open(body, blocks.reply_modal(subject, title), respond)

    async def on_reply_submitted(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        subject = str(_metadata(view).get("subject") or "")
        text = _typed(view, "reply")
        staff = await self.member(body)

        async def work(session: AsyncSession) -> None:
            await handoffs.reply_to_resident(
                session,
                subject=subject,
                text=text,
                staff=staff,
                now=utcnow(),
                lasts=self.lasts,
                policy=self.policy,
            )

        await self._submitted(work, ack, "reply")

    async def on_take_over(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        staff = await self.member(body)
        handoff_id = int(action.get("value") or 0)

        async def work(session: AsyncSession) -> None:
            await handoffs.take_over(
                session, handoff_id, staff, utcnow(), lasts=self.lasts, policy=self.policy
            )

        await self._apply(work, respond)

    async def on_hand_back(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        staff = await self.member(body)
        handoff_id = int(action.get("value") or 0)

        async def work(session: AsyncSession) -> None:
            await handoffs.hand_back(session, handoff_id, staff, utcnow())

        await self._apply(work, respond)

    async def _apply(self, work: Work, respond: AsyncRespond) -> None:
        """A press's change, in one transaction; what cannot be done is told to the staff
        member who pressed, and nothing is changed."""
        try:
            async with self.hub.db.transaction() as session:
                await work(session)
        except (reports.ReportError, StaffError) as exc:
            await _tell(respond, str(exc))
            return
        self.hub.outbox_queued.set()  # committed: the outbox may send what it queued now

    async def _submitted(self, work: Work, ack: AsyncAck, field: str) -> None:
        """A form's change; what cannot be done is shown next to `field`, the form open."""
        try:
            async with self.hub.db.transaction() as session:
                await work(session)
        except (reports.ReportError, StaffError) as exc:
            await ack(response_action="errors", errors={field: str(exc)})
            return
        await ack()
        self.hub.outbox_queued.set()

    # -- answers become knowledge ----------------------------------------------------

    async def on_save_faq(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        handoff_id = int(action.get("value") or 0)
        async with self.hub.db.reading() as session:
            found = await staff_cards.handoff_answer(session, handoff_id)
            if found is None:
                await _tell(respond, "There is no staff answer to save yet: reply to the resident first.")
                return
            question, answer = found
            understander = await self.hub.services.knowledge.current(session)
        hits = understander.understand(question).hits if question.strip() else ()
        similar = [(h.entry.id, h.entry.question) for h in hits if h.entry.active][:5]
        await self._open(body, blocks.faq_modal(handoff_id, question, answer, similar), respond)

    async def on_faq_submitted(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        handoff_id = int(_metadata(view).get("handoff_id") or 0)
        question, answer, chosen = _typed(view, "question"), _typed(view, "answer"), _chosen(view, "entry")
        entry_id = None if chosen in (None, blocks.NEW_ENTRY) else str(chosen)
        staff = await self.member(body)
        now = utcnow()
        try:
            async with self.hub.db.transaction() as session:
                saved = await staff_answers.save_answer(
                    session,
                    question=question,
                    answer=answer,
                    author=_actor(staff),
                    now=now,
                    entry_id=entry_id,
                )
                subject = staff_events.handoff_subject(handoff_id, None)
                staff_events.tell_staff(
                    session,
                    subject,
                    staff_events.FAQ_SAVED,
                    now,
                    entry=saved,
                    by=staff.name,
                    new=entry_id is None,
                    question=question.strip(),
                )
        except staff_answers.AnswerError as exc:
            await ack(response_action="errors", errors={exc.field: str(exc)})
            return
        await ack()
        self.hub.outbox_queued.set()

    # -- the thread: internal notes --------------------------------------------------

    async def on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """A staff message in one of our threads is kept as an internal note of its
        subject: never sent to a resident. A Slack retry of the same event is kept once."""
        thread_ts, text = event.get("thread_ts"), str(event.get("text") or "")
        if not thread_ts or event.get("subtype") or event.get("bot_id") or not text.strip():
            return
        event_id = str(body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}")
        now = utcnow()
        user = str(event.get("user") or "")
        name = await self.names.name(user) if user else "staff"
        async with self.hub.db.transaction() as session:
            subject = await staff_threads.subject_at(
                session, NAME, str(event.get("channel") or ""), str(thread_ts)
            )
            if subject is None or not await staff_threads.first_time(
                session, f"{NAME}:event:{event_id}", now
            ):
                return
            staff_threads.add_note(session, subject, name, text, now)

    # -- the slash command -----------------------------------------------------------

    async def on_command(self, ack: AsyncAck, command: dict[str, Any]) -> None:
        text = str(command.get("text") or "").strip()
        if not text or text.lower() == "help":
            await ack(text=f"`{COMMAND} NUMBER` shows a report: its status, place and who it is assigned to.")
            return
        async with self.hub.db.reading() as session:
            report = await reports.find(session, text)
            card = await staff_cards.report_card(session, report.id) if report is not None else None
        if card is None:
            await ack(text=f"There is no report {text[:20]}.")
            return
        assigned = f", assigned to {card.assignee}" if card.assignee else ""
        place = card.place or "no address given"
        await ack(text=f"Report {card.number} ({card.service}) is {card.status}{assigned}. Place: {place}.")

    # -- helpers ---------------------------------------------------------------------

    async def _open(self, body: dict[str, Any], view: dict[str, Any], respond: AsyncRespond) -> None:
        """Open a modal now: Slack's trigger lasts 3 seconds, so this is the one platform
        call made while answering (no database transaction is open)."""
        try:
            await self.client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)
        except (SlackApiError, *UNREACHABLE) as exc:
            log.warning("slack: views.open failed: %s", exc)
            await _tell(respond, "Slack did not open the form in time. Please press the button again.")


def _typed(view: dict[str, Any], block: str) -> str:
    """A text input's value in a submitted modal ("" when left empty)."""
    state = view.get("state", {}).get("values", {}).get(block, {}).get("value") or {}
    return str(state.get("value") or "")


def _chosen(view: dict[str, Any], block: str) -> str | None:
    """The value of the option picked in a select or radio buttons of a submitted modal."""
    state = view.get("state", {}).get("values", {}).get(block, {}).get("value") or {}
    option = state.get("selected_option") or {}
    return str(option["value"]) if option.get("value") is not None else None


def _actor(staff: StaffMember) -> str:
    return f"{NAME}:{staff.name}"[:100]


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _team_of(body: dict[str, Any]) -> str | None:
    team = body.get("team")
    if isinstance(team, dict) and team.get("id"):
        return str(team["id"])
    if body.get("team_id"):
        return str(body["team_id"])
    user = body.get("user")
    return str(user["team_id"]) if isinstance(user, dict) and user.get("team_id") else None


def _user_of(body: dict[str, Any]) -> str | None:
    user = body.get("user")
    if isinstance(user, dict) and user.get("id"):
        return str(user["id"])
    return str(body["user_id"]) if body.get("user_id") else None


async def _tell(respond: AsyncRespond, text: str) -> None:
    """An answer only the staff member who pressed sees."""
    try:
        await respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception as exc:  # the response URL is Slack's; a failure there loses nothing
        log.info("slack: could not answer a staff member: %s", exc)
