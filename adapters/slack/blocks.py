"""Block Kit for staff: a report's message, a handoff's, the lines of their threads, and
the modals behind the buttons. Pure functions of the core's cards (bot.staff.cards)."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from adapters.slack.text import PLAIN_LIMIT, SECTION_LIMIT, clock, cut, escape, link, map_url, quoted
from bot.api import HandoffCard, ReportCard

Block = dict[str, Any]

# What buttons carry back: the action and, in the value, the subject's id.
STATUS = "c311_status"  # value "NUMBER:STATUS"
CLOSE = "c311_close"  # value: the report's number; opens the closing modal
ASSIGN = "c311_assign"  # value: the report's number
REPLY = "c311_reply"  # value: the subject ("report:12", "handoff:3"); opens the reply modal
TAKE_OVER = "c311_take_over"
HAND_BACK = "c311_hand_back"
SAVE_FAQ = "c311_save_faq"  # value: the handoff id; opens the prefilled FAQ modal
CLOSE_VIEW = "c311_close_view"
REPLY_VIEW = "c311_reply_view"
FAQ_VIEW = "c311_faq_view"

CLOSE_REASONS = {
    "fixed": "Fixed",
    "duplicate": "Duplicate of another report",
    "not_city_responsibility": "Not the city's responsibility",
    "no_further_action": "No further action needed",
}
NEW_ENTRY = "new"


def plain(text: str, limit: int = 75) -> dict[str, Any]:
    return {"type": "plain_text", "text": cut(text, limit), "emoji": True}


def mrkdwn(text: str, *, verbatim: bool = True) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": cut(text, SECTION_LIMIT), "verbatim": verbatim}


def button(label: str, action_id: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "button", "text": plain(label), "action_id": action_id, "value": value}
    if style:
        out["style"] = style
    return out


def section(text: str, block_id: str | None = None) -> Block:
    out: Block = {"type": "section", "text": mrkdwn(text)}
    if block_id:
        out["block_id"] = block_id
    return out


def context(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(text)]}


def report_message(
    card: ReportCard, *, zone: ZoneInfo, media_url: str, images: bool
) -> tuple[str, list[Block]]:
    """The notification text (what a phone shows) and the blocks of a report's message.
    `images`: photos as image blocks, which Slack fetches itself, so only when our media
    URLs are public (https); otherwise as links."""
    title = f"Report {card.number}: {card.service}"
    blocks: list[Block] = [{"type": "header", "text": plain(title, PLAIN_LIMIT)}]
    if card.description.strip():
        blocks.append(section(quoted(card.description)))
    place = escape(card.place or "no address given")
    if card.lat is not None and card.lon is not None:
        place += f" · {link(map_url(card.lat, card.lon), 'map')}"
    fields = [
        f"*Status*\n{escape(card.status.capitalize())}",
        f"*Place*\n{place}",
        f"*Filed*\n{clock(card.filed_at, zone)} via {escape(card.source)}",
        f"*Followers*\n{card.followers} resident{'s' if card.followers != 1 else ''} told of changes",
    ]
    if card.department:
        fields.append(f"*Department*\n{escape(card.department)}")
    if card.assignee:
        fields.append(f"*Assigned to*\n{escape(card.assignee)}")
    blocks.append({"type": "section", "fields": [mrkdwn(f) for f in fields]})
    if card.answers:
        lines = "\n".join(f"*{escape(q)}* {escape(a)}" for q, a in card.answers)
        blocks.append(section(lines))
    for n, key in enumerate(card.photos, 1):
        url = f"{media_url}/{key}"
        if images:
            blocks.append(
                {"type": "image", "image_url": url, "alt_text": f"Photo {n} of report {card.number}"}
            )
        else:
            blocks.append(context(f"{link(url, f'Photo {n}')} (location data removed)"))
    blocks.append({"type": "actions", "block_id": f"report:{card.id}", "elements": _report_buttons(card)})
    if card.last:
        blocks.append(context(escape(card.last)))
    return f"New report {card.number}: {card.service}", blocks


def _report_buttons(card: ReportCard) -> list[dict[str, Any]]:
    rid, number = str(card.id), card.number
    elements = []
    if card.status_code == "open":
        elements.append(button("Acknowledge", STATUS, f"{number}:acknowledged"))
    if card.status_code in ("open", "acknowledged"):
        elements.append(button("In progress", STATUS, f"{number}:in_progress", style="primary"))
    if card.status_code != "closed":
        elements.append(button("Close", CLOSE, number))
    else:
        elements.append(button("Reopen", STATUS, f"{number}:open"))
    elements.append(button("Assign to me", ASSIGN, number))
    if card.can_reply:
        elements.append(button("Reply to resident", REPLY, f"report:{rid}"))
    return elements


def handoff_message(card: HandoffCard, *, zone: ZoneInfo) -> tuple[str, list[Block]]:
    who = f"Resident #{card.conversation}"
    blocks: list[Block] = [
        {"type": "header", "text": plain("A resident asks for city staff", PLAIN_LIMIT)},
        section(quoted(card.question or "(no question: they asked for a person)")),
        context(f"{who} · via {escape(card.channel)} · {clock(card.opened_at, zone)}"),
    ]
    if card.recent:
        lines = [f"*{said.who}:* {escape(cut(said.text, 300))}" for said in card.recent]
        blocks.append(section("*Recent conversation*\n" + cut("\n".join(lines), SECTION_LIMIT - 40)))
    value = str(card.id)
    elements = []
    if card.status != "closed":
        elements.append(button("Reply to resident", REPLY, f"handoff:{value}", style="primary"))
        if card.status == "open":
            elements.append(button("Take over", TAKE_OVER, value))
        elements.append(button("Hand back to the bot", HAND_BACK, value))
    if card.answered:
        elements.append(button("Save as FAQ", SAVE_FAQ, value))
    if elements:
        blocks.append({"type": "actions", "block_id": f"handoff:{value}", "elements": elements})
    state = {
        "open": "Waiting for staff. The bot still answers the resident; "
        "their messages appear in this thread.",
        "held": f"Held by {escape(card.held_by or 'staff')}: the bot is quiet until it is handed back.",
        "closed": "Handed back to the bot.",
    }[card.status]
    blocks.append(context(state))
    return f"A resident asks for city staff: {escape(cut(card.question, 100))}", blocks


def resident_line(data: dict[str, Any], *, media_url: str) -> tuple[str, list[Block]]:
    """What the resident said, in the subject's thread."""
    text = str(data.get("text") or "")
    heading = "*Resident:*"
    parts = [f"{heading}\n{quoted(text)}" if text else heading]
    photos = [link(f"{media_url}/{key}", f"photo {n}") for n, key in enumerate(data.get("photos") or (), 1)]
    if photos:
        parts.append("Sent " + ", ".join(photos))
    location = data.get("location")
    if isinstance(location, dict) and "lat" in location and "lon" in location:
        parts.append(
            "Shared a place: " + link(map_url(float(location["lat"]), float(location["lon"])), "map")
        )
    replies = data.get("bot_replies")
    blocks = [section("\n".join(parts))]
    if replies:
        blocks.append(context("The bot answered: " + escape(cut(" / ".join(replies), 600))))
    elif "bot_replies" in data:
        blocks.append(context("The bot stayed quiet: staff hold this conversation."))
    return f"Resident: {escape(cut(text, 150))}", blocks


def replied_line(data: dict[str, Any], *, at: str, faq_for: int | None) -> tuple[str, list[Block]]:
    """A staff reply as sent: what, when, by whom, and as whom the resident saw it."""
    by, shown = escape(str(data.get("by") or "staff")), escape(str(data.get("shown_as") or ""))
    blocks: list[Block] = [
        section(
            f":outbox_tray: *Sent to the resident* by {by} ({at}), signed “{shown}”:\n"
            + quoted(str(data["text"]))
        )
    ]
    if faq_for is not None:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"faq:{faq_for}:{data.get('at', at)}",
                "elements": [button("Save as FAQ", SAVE_FAQ, str(faq_for))],
            }
        )
    return f"Sent to the resident by {by}", blocks


def close_modal(number: str) -> dict[str, Any]:
    return _modal(
        CLOSE_VIEW,
        {"number": number},
        f"Close {number}",
        "Close report",
        [
            {
                "type": "input",
                "block_id": "reason",
                "label": plain("Why is it closed?"),
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "initial_option": _option("fixed", CLOSE_REASONS["fixed"]),
                    "options": [_option(k, v) for k, v in CLOSE_REASONS.items()],
                },
            },
            {
                "type": "input",
                "block_id": "note",
                "optional": True,
                "label": plain("Note to the resident"),
                "hint": plain("Sent to everyone who follows the report, with the new status.", 150),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "max_length": 1000,
                },
            },
        ],
    )


def reply_modal(subject: str, title: str) -> dict[str, Any]:
    return _modal(
        REPLY_VIEW,
        {"subject": subject},
        "Reply to resident",
        "Send",
        [
            context(
                f"About {escape(title)}. Only what you write here is sent; "
                "messages in the thread stay internal."
            ),
            {
                "type": "input",
                "block_id": "reply",
                "label": plain("Message to the resident"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "max_length": 3000,
                },
            },
        ],
    )


def faq_modal(handoff_id: int, question: str, answer: str, similar: list[tuple[str, str]]) -> dict[str, Any]:
    """`similar`: (entry id, its question) of entries that may already say this, so the
    question can become a phrasing of one instead of a near-copy."""
    options = [_option(NEW_ENTRY, "A new entry")]
    options += [_option(entry_id, f"A phrasing of: {q}") for entry_id, q in similar[:5]]
    return _modal(
        FAQ_VIEW,
        {"handoff_id": handoff_id},
        "Save as FAQ",
        "Save",
        [
            {
                "type": "input",
                "block_id": "question",
                "label": plain("Question, as residents ask it"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "initial_value": cut(question, 500),
                    "max_length": 500,
                },
            },
            {
                "type": "input",
                "block_id": "answer",
                "label": plain("Answer"),
                "hint": plain("Used for a new entry; an existing entry keeps its own answer.", 150),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "initial_value": cut(answer, 3000),
                    "max_length": 3000,  # Slack's most for a text input
                },
            },
            {
                "type": "input",
                "block_id": "entry",
                "label": plain("Save it as"),
                "element": {
                    "type": "radio_buttons",
                    "action_id": "value",
                    "initial_option": options[0],
                    "options": options,
                },
            },
        ],
    )


def _modal(
    callback_id: str, metadata: dict[str, Any], title: str, submit: str, shown: list[Block]
) -> dict[str, Any]:
    """A modal as Slack takes it: titles within its 24 characters, what the listener needs
    back in `private_metadata`."""
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": json.dumps(metadata),
        "title": plain(title, 24),
        "submit": plain(submit, 24),
        "close": plain("Cancel", 24),
        "blocks": shown,
    }


def _option(value: str, label: str) -> dict[str, Any]:
    return {"text": plain(label), "value": value}
