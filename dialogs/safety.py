"""911 first, and other interruptions, wherever the resident is in a conversation.

At any step of any dialog, a message that is not an answer to the step but
something else (an emergency, a question, a status request, "my reports",
"stop updates", asking for a person) is handled on the spot, and then the
step is asked again, so the resident never answers a question they can no
longer see. The dialog's state is kept throughout.
"""

from __future__ import annotations

import re

from bot.dialog import Context, DialogFn, State, Step
from bot.messages import Incoming, Outgoing
from dialogs import texts
from dialogs.answer import answer_reply
from dialogs.status import status_reply
from knowledge.triage import Triage
from knowledge.understand import ANSWER_AT, Understanding, is_bare_number

_QUESTION = re.compile(
    r"\?\s*$|^\s*(how|what|when|where|who|whom|why|which|can|could|do|does|is|are|will|should|would)\b",
    re.IGNORECASE,
)


def emergency_reply(triage: Triage) -> Outgoing:
    text = texts.EMERGENCY if not triage.advice else f"{texts.EMERGENCY}\n{triage.advice}"
    return Outgoing(text, urgent=True)


def again(state: State) -> list[Outgoing]:
    """The pending step's question, as it was asked."""
    if not state.prompt:
        return []
    return [Outgoing.from_json(state.prompt)]


def with_interruptions(dialog: DialogFn, *, resumable: bool = True) -> DialogFn:
    """Handle an interruption before the dialog sees the message; keep its state.
    A dialog that is not `resumable` (a one-question offer that hands anything else to
    the router) gets only the 911 handling: other messages are simply new messages."""

    async def guarded(ctx: Context, state: State, incoming: Incoming) -> Step:
        text = incoming.text.strip()
        if text and not incoming.choice:
            u = await ctx.understand(incoming.text)  # as the dialog will ask: understood once
            if u.intent == "emergency":
                replies = [emergency_reply(u.triage)]
                if state.active and state.prompt:
                    replies += [Outgoing(texts.WHEN_SAFE), *again(state)]
                return Step(state, replies)
            if state.active and _out_of_range(text, state):
                pick = Outgoing(texts.PICK_A_NUMBER.format(count=len(state.choices)))
                return Step(state, [pick, *again(state)])
            # A message that brings photos or a pin is the dialog's, so nothing it carries is lost.
            if state.active and resumable and not (incoming.photos or incoming.location):
                aside = await _aside(ctx, state, text, u)
                if aside is not None:
                    return Step(state, aside + again(state))
            step = await dialog(ctx, state, incoming)
            # In another language the reply already leads with 911 in that language.
            if (
                u.triage.soft
                and u.language is None
                and step.replies
                and texts.SOFT_911 not in step.replies[0].text
            ):
                # Uncertain, past or negated danger, at the root or mid-dialog: the normal
                # answer, led by the reminder. Cheap when wrong; it may save a life when right.
                step.replies.insert(0, Outgoing(texts.SOFT_911))
            return step
        return await dialog(ctx, state, incoming)

    guarded.__name__ = getattr(dialog, "__name__", "dialog")
    return guarded


def _out_of_range(text: str, state: State) -> bool:
    """A small number that matches none of the choices offered (the engine has already
    taken one that does). A lone choice (Skip) means the step takes a typed answer, so
    there "2" may be one."""
    return text.isascii() and text.isdecimal() and len(text) <= 3 and len(state.choices) >= 2


async def _aside(ctx: Context, state: State, text: str, u: Understanding) -> list[Outgoing] | None:
    """What to say about a message that is not an answer to the pending step, or None
    when it may be one (the dialog decides)."""
    if u.intent == "status" and (u.report_number or u.status_action) and not is_bare_number(text):
        # A bare number typed at a step is its answer (a ZIP code, a count), not a lookup.
        replies = (await status_reply(ctx, u.report_number, u.status_action)).replies
        return [*replies, Outgoing(texts.BACK_TO_IT)]
    if u.intent == "human":
        return [Outgoing(texts.PERSON_AFTER)]
    asks = bool(_QUESTION.search(text)) or bool(state.choices)
    if u.intent == "faq" and u.entry is not None and u.score >= ANSWER_AT and asks:
        return [answer_reply(u.entry), Outgoing(texts.BACK_TO_IT)]
    return None
