"""Answering from the knowledge base: answer, "did you mean", or an honest "I don't know"."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.content import unanswered
from bot.dialog import Context, State, Step
from bot.messages import Choice, Incoming, Link, Outgoing
from bot.staff import handoffs
from dialogs import names, texts
from knowledge.model import Entry
from knowledge.understand import ANSWER_AT, Understanding

NONE = "none"
REPORT = names.NEW_REPORT
STAFF_YES = "staff-yes"
STAFF_NO = "staff-no"


def answer_reply(entry: Entry, *, soft_911: bool = False) -> Outgoing:
    text = entry.answer
    if soft_911:
        text = f"{texts.SOFT_911}\n\n{text}"
    return Outgoing(text, links=tuple(Link(x.title, x.url) for x in entry.links))


def answer_step(entry: Entry, *, soft_911: bool = False) -> Step:
    """An answer; when 311 handles the topic as a service request, with a button to file one."""
    reply = answer_reply(entry, soft_911=soft_911)
    if not entry.service:
        return Step(State(), [reply])
    offer = Choice(REPORT + entry.service, texts.FILE_ONE)
    return Step(State(names.ANSWER, "offer-report", {}), [replace(reply, choices=(offer,))])


async def not_answered(ctx: Context, u: Understanding) -> Step:
    """Fallback: offer close entries if there are any, else offer staff. Recorded either way."""
    guesses = [{"entry": h.entry.id, "score": h.score} for h in u.hits]
    await unanswered.record(ctx.session, u.text, channel=ctx.channel, now=ctx.now, guesses=guesses)
    prefix = f"{texts.SOFT_911}\n\n" if u.triage.soft else ""
    # A strong but ambiguous match ("parking") is a choice, not a misunderstanding.
    choosing = bool(u.suggestions) and u.score >= ANSWER_AT
    misses = 0 if choosing else ctx.misses + 1
    if misses >= 2:
        # Twice in a row: guessing again helps nobody. Offer the ways out.
        step = offer_staff_step(
            ctx, u.text, prefix + (texts.WAY_OUT if ctx.services.staff_desk else texts.WAY_OUT_NOTE)
        )
        step.state.misses = misses
        return step
    if u.suggestions:
        choices = [Choice(h.entry.id, h.entry.question) for h in u.suggestions]
        if u.offer_report is not None:
            label = texts.REPORT_ONE.format(name=u.offer_report.name)
            choices.append(Choice(REPORT + u.offer_report.code, label))
        choices.append(Choice(NONE, texts.NONE_OF_THESE))
        ask = texts.WHICH_ONE if choosing else texts.DID_YOU_MEAN
        return Step(
            State(names.ANSWER, "did-you-mean", {"question": u.text}, misses=misses),
            [Outgoing(prefix + ask, choices=tuple(choices))],
        )
    step = offer_staff_step(ctx, u.text, prefix + _dont_know(ctx))
    step.state.misses = misses
    return step


def _dont_know(ctx: Context) -> str:
    return texts.DONT_KNOW if ctx.services.staff_desk else texts.DONT_KNOW_NOTE


def offer_staff_step(ctx: Context, question: str, text: str) -> Step:
    """Offer a person when a staff desk can pass the question on; without one, offer only
    to note the question for the city (admins see what residents asked), and say so."""
    yes = texts.ASK_STAFF if ctx.services.staff_desk else texts.NOTE_IT
    return Step(
        State(names.HANDOFF, "offer", {"question": question}),
        [Outgoing(text, choices=(Choice(STAFF_YES, yes), Choice(STAFF_NO, texts.NO_THANKS)))],
    )


async def did_you_mean(ctx: Context, state: State, incoming: Incoming) -> Step:
    question = str(state.data.get("question", ""))
    if incoming.choice == NONE:
        return offer_staff_step(ctx, question, _dont_know(ctx))
    if incoming.choice and incoming.choice.startswith(REPORT):
        # The report dialog, fresh, takes this choice as the service to report.
        return await ctx.dispatch(names.REPORT, State(), replace(incoming, text=""))
    if incoming.choice:
        understander = await ctx.knowledge()
        entry = understander.kb.get(incoming.choice)
        if entry is not None and entry.active:
            return answer_step(entry)
    # Anything else is a new message: let the router take it afresh.
    return await ctx.dispatch(names.ROOT, State(), incoming)


async def pass_to_staff(ctx: Context, question: str) -> Step:
    """Open a handoff when a staff desk is configured, and tell the resident the truth about
    when a person will see it. Without a desk nobody would: the resident is told to call."""
    await unanswered.mark_handed_off(ctx.session, question)
    settings = ctx.services.settings
    if not ctx.services.staff_desk or not ctx.conversation_id:
        return Step(State(), [Outgoing(texts.NOTED)])
    await handoffs.open_handoff(
        ctx.session,
        conversation_id=ctx.conversation_id,
        question=question,
        now=ctx.now,
        lasts=timedelta(hours=settings.HANDOFF_HOURS),
    )
    hours = settings.staff_hours
    if hours.is_open(ctx.now):
        return Step(State(), [Outgoing(texts.PASSED_ON)])
    back = hours.when(hours.next_opening(ctx.now), ctx.now)
    return Step(State(), [Outgoing(texts.PASSED_ON_LATER.format(hours=hours.describe(), back=back))])


async def offer_staff(ctx: Context, state: State, incoming: Incoming) -> Step:
    question = str(state.data.get("question", ""))
    if incoming.choice == STAFF_YES:
        return await pass_to_staff(ctx, question)
    if incoming.choice == STAFF_NO:
        return Step(State(), [Outgoing(texts.NOT_PASSED)])
    return await ctx.dispatch(names.ROOT, State(), incoming)
