"""The staff desk in Slack: staff events from the outbox become messages in the
department's channel (or SLACK_STAFF_CHANNEL) and lines in their threads.

The outbox hands over one subject's events in order ("report:12" is posted before its
first change is shown), so a thread is always known by the time a line goes into it.
A subject's first message is recorded (bot.staff.threads) right after Slack took it;
a post whose record was lost is posted again, and the newer message becomes the thread.
"""

from __future__ import annotations

import logging
from typing import Any

from aiolimiter import AsyncLimiter
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import blocks
from adapters.slack.client import NAME, PLACE_ERRORS, UNREACHABLE, delivery_error, error_code
from adapters.slack.text import clock, escape
from bot.api import (
    Capabilities,
    DeliveryError,
    Hub,
    Outgoing,
    Pacer,
    metrics,
    staff_cards,
    staff_events,
    staff_threads,
    utcnow,
)

log = logging.getLogger(__name__)

PER_CHANNEL_BURST = 3.0  # Slack: about one message a second to a channel, short bursts allowed
PER_SECOND_IN_ALL = 20.0
Blocks = list[dict[str, Any]]


def _channel_limiter(_: str) -> AsyncLimiter:
    return AsyncLimiter(PER_CHANNEL_BURST, PER_CHANNEL_BURST)


class SlackDesk:
    """A PayloadChannel: its outbox rows are staff events, not messages to residents."""

    name = staff_events.DESK
    capabilities = Capabilities()

    def __init__(self, hub: Hub, client: AsyncWebClient, *, pacer: Pacer | None = None) -> None:
        self.hub = hub
        self.client = client
        self.pacer = pacer or Pacer("Slack", _channel_limiter, per_second=PER_SECOND_IN_ALL)
        self.staff_channel = hub.settings.SLACK_STAFF_CHANNEL or ""
        self.zone = hub.settings.time_zone
        self.media_url = f"{hub.settings.PUBLIC_URL}/media"
        self.images = hub.settings.PUBLIC_URL.startswith("https://")

    async def send(self, address: str, message: Outgoing) -> None:
        raise DeliveryError("the staff desk delivers staff events only", permanent=True)

    async def send_payload(self, address: str, payload: dict[str, Any]) -> None:
        kind = payload.get("kind")
        if kind == staff_events.REPORT_FILED:
            await self._root(address, refresh=True)
        elif kind == staff_events.REPORT_CHANGED:
            place, ts = await self._root(address, refresh=True)
            text, line = await self._change_line(payload)
            await self._post(place, text, line, thread_ts=ts)
        elif kind == staff_events.HANDOFF_OPENED:
            await self._root(address, refresh=True)
        elif kind == staff_events.HANDOFF_CHANGED:
            place, ts = await self._root(address, refresh=address.startswith("handoff:"))
            text = _handoff_change_words(payload)
            await self._post(place, text, [blocks.context(escape(text))], thread_ts=ts)
        elif kind == staff_events.RESIDENT_SAID:
            place, ts = await self._root(address)
            text, line = blocks.resident_line(payload, media_url=self.media_url)
            await self._post(place, text, line, thread_ts=ts)
        elif kind == staff_events.STAFF_REPLIED:
            # A handoff's message now offers "Save as FAQ".
            place, ts = await self._root(address, refresh=address.startswith("handoff:"))
            at = clock(utcnow(), self.zone)
            faq_for = int(payload["handoff_id"]) if address.startswith("handoff:") else None
            text, line = blocks.replied_line(payload, at=at, faq_for=faq_for)
            await self._post(place, text, line, thread_ts=ts)
        elif kind == staff_events.FAQ_SAVED:
            place, ts = await self._root(address)
            how = "a new entry" if payload.get("new") else "a new phrasing of entry"
            text = f"{payload.get('by') or 'Staff'} saved this answer as {how} “{payload.get('entry')}”."
            await self._post(place, text, [blocks.context(escape(text))], thread_ts=ts)
        else:
            raise DeliveryError(f"unknown staff event {kind!r}", permanent=True)

    async def _root(self, subject: str, *, refresh: bool = False) -> tuple[str, str]:
        """The subject's message (posted now if it has none yet); `refresh` shows it as
        it is now (chat.update)."""
        async with self.hub.db.reading() as session:
            thread = await staff_threads.find(session, NAME, subject)
            rendered = await self._render(session, subject)
        if rendered is None:
            raise DeliveryError(f"{subject} is no longer in the database", permanent=True)
        place, text, shown = rendered
        if thread is not None:
            if refresh:
                await self._call(
                    "chat.update", thread.place, channel=thread.place, ts=thread.ts, text=text, blocks=shown
                )
            return thread.place, thread.ts
        place, ts = await self._post(place, text, shown)
        async with self.hub.db.transaction() as session:
            await staff_threads.record(session, NAME, subject, place, ts, utcnow())
        return place, ts

    async def _render(self, session: Any, subject: str) -> tuple[str, str, Blocks] | None:
        parsed = staff_events.parse_subject(subject)
        if parsed is None:
            return None
        kind, number = parsed
        if kind == "report":
            card = await staff_cards.report_card(session, number)
            if card is None:
                return None
            place = card.department_channel or self.staff_channel
            text, shown = blocks.report_message(
                card, zone=self.zone, media_url=self.media_url, images=self.images
            )
            return place, text, shown
        handoff = await staff_cards.handoff_card(session, number)
        if handoff is None:
            return None
        text, shown = blocks.handoff_message(handoff, zone=self.zone)
        return self.staff_channel, text, shown

    async def _change_line(self, payload: dict[str, Any]) -> tuple[str, Blocks]:
        if payload.get("assigned"):
            text = f"Assigned to {payload['assigned']}"
            return text, [blocks.context(escape(text))]
        async with self.hub.db.reading() as session:
            event = await staff_cards.event_of(session, int(payload.get("event_id") or 0))
        if event is None:
            return "Status changed", [blocks.context("Status changed.")]
        words = f"{staff_cards.event_words(event)} ({clock(event.created_at, self.zone)})"
        lines = [f"*{escape(words)}*"]
        if event.note:
            lines.append("Note to residents: " + escape(event.note))
        return words, [blocks.section("\n".join(lines))]

    async def _post(
        self, place: str, text: str, shown: Blocks, *, thread_ts: str | None = None
    ) -> tuple[str, str]:
        """Post; a department channel Slack refuses (not found, bot not in it) falls back to
        the staff channel, with a log line and a metric, so the report is seen."""
        fields: dict[str, Any] = {
            "text": text,
            "blocks": shown,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if thread_ts:
            fields["thread_ts"] = thread_ts
        try:
            response = await self._call("chat.postMessage", place, channel=place, **fields)
        except _PlaceRefused as refused:
            if thread_ts or place == self.staff_channel:
                raise refused.error from None
            metrics.PLATFORM_CALLS.labels(NAME, "fallback", refused.code).inc()
            log.warning(
                "slack: channel %s refused a post (%s); posting to SLACK_STAFF_CHANNEL instead",
                place,
                refused.code,
            )
            response = await self._call(
                "chat.postMessage", self.staff_channel, channel=self.staff_channel, **fields
            )
            place = self.staff_channel
        return str(response.get("channel") or place), str(response["ts"])

    async def _call(self, method: str, place: str, **fields: Any) -> Any:
        await self.pacer.wait_turn(place)
        try:
            response = await self.client.api_call(method, json=fields)
        except SlackApiError as exc:
            error = delivery_error(exc, method)
            if error.retry_after is not None and exc.response.status_code == 429:
                self.pacer.pause(error.retry_after)
            if error_code(exc) in PLACE_ERRORS:
                raise _PlaceRefused(error_code(exc), error) from None
            raise error from None
        except UNREACHABLE as exc:
            raise delivery_error(exc, method) from None
        metrics.PLATFORM_CALLS.labels(NAME, method, "ok").inc()
        return response


class _PlaceRefused(Exception):
    def __init__(self, code: str, error: DeliveryError) -> None:
        super().__init__(code)
        self.code, self.error = code, error


def _handoff_change_words(payload: dict[str, Any]) -> str:
    by = payload.get("by") or "staff"
    return {
        "held": f"{by} took over: the bot is quiet until the conversation is handed back.",
        "handed_back": f"{by} handed the conversation back to the bot.",
        "expired": "No staff reply in time: the conversation went back to the bot.",
        "replaced": "The resident's conversation moved to another report's thread.",
    }.get(str(payload.get("change")), "The conversation changed.")
