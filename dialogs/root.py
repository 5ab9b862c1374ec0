"""The router: what to do with a message when no dialog is waiting for an answer."""

from __future__ import annotations

from bot.dialog import Context, State, Step
from bot.messages import Incoming, Outgoing
from dialogs import report, texts
from dialogs.answer import answer_reply, answer_step, not_answered, pass_to_staff
from dialogs.safety import emergency_reply
from dialogs.status import status_reply
from knowledge.understand import Understanding


async def root(ctx: Context, state: State, incoming: Incoming) -> Step:
    if not incoming.text.strip():
        if incoming.photos or incoming.location:  # a photo or a pin first: a report is coming
            return await report.start(ctx, None, incoming)
        return Step(State(), [Outgoing("Type your question, or say **help**.")])
    u = await ctx.understand(incoming.text)
    step = await _route(ctx, u, incoming)
    if ctx.expired and step.replies:
        step.replies.insert(0, Outgoing(texts.EXPIRED))
    return step


async def _route(ctx: Context, u: Understanding, incoming: Incoming) -> Step:
    if u.intent == "emergency":
        return Step(State(), [emergency_reply(u.triage)])
    if u.language is not None:
        said = texts.OTHER_LANGUAGE.get(u.language, texts.OTHER_LANGUAGE_DEFAULT)
        aside = [Outgoing(said)]
        if u.entry is not None:
            aside.append(answer_reply(u.entry))
        return Step(State(), aside)
    if u.intent == "smalltalk":
        replies = {
            "greeting": texts.GREETING,
            "thanks": texts.THANKS,
            "bye": texts.GOODBYE,
            "help": texts.CAN_DO,
        }
        text = replies.get(u.smalltalk or "", texts.ABOUT)
        return Step(State(), [Outgoing(text)])
    if u.intent == "human":
        if not ctx.services.staff_desk:
            return Step(State(), [Outgoing(texts.CALL_FOR_PERSON)])
        return await pass_to_staff(ctx, u.text)
    if u.intent == "status":
        return await status_reply(ctx, u.report_number, u.status_action)
    if u.intent == "report" and u.service is not None:
        return await report.start(ctx, u, incoming)
    if u.intent == "faq" and u.entry is not None:
        return answer_step(u.entry, soft_911=u.triage.soft)
    return await not_answered(ctx, u)
