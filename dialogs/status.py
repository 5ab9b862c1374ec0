"""Following reports: anyone may see a report's public status by its number; a resident
sees the reports they filed or follow, and can stop hearing about them."""

from __future__ import annotations

from datetime import datetime

from bot.dialog import Context, State, Step
from bot.messages import Incoming, Outgoing
from bot.reporting import reports

ASK_NUMBER = (
    'Send **status** and the report number, for example "status 10234". '
    "The number is in the confirmation you got when the report was filed."
)


def when(moment: datetime, now: datetime) -> str:
    """'today', 'yesterday', '3 days ago', or a date: how people say it."""
    days = (now.date() - moment.date()).days
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days < 14:
        return f"{days} days ago"
    return f"on {moment:%d %b %Y}"


async def status_reply(ctx: Context, number: str | None, action: str | None = None) -> Step:
    if action == "stop":
        return await stop_updates(ctx, number)
    if not number:
        return await my_reports(ctx)
    try:
        report = await reports.find(ctx.session, number)
    except reports.ReportError as exc:
        return Step(State(), [Outgoing(str(exc))])
    if report is None:
        return Step(
            State(),
            [
                Outgoing(
                    f"I couldn't find report **{reports.normalise_number(number)}**. "
                    "Please check the number; report numbers look like 10234."
                )
            ],
        )
    service = (await ctx.knowledge()).catalogue.get(report.service_code)
    return Step(State(), [Outgoing(reports.public_status(report, service.name if service else None))])


async def my_reports(ctx: Context) -> Step:
    """A status question without a number is about the resident's own reports."""
    mine = await reports.reports_of(ctx.session, ctx.channel, ctx.address) if ctx.address else []
    if not mine:
        return Step(State(), [Outgoing("I don't have any reports of yours from this chat.\n\n" + ASK_NUMBER)])
    lines = [
        f"- **{r.number}**: {r.service_code.replace('-', ' ')}"
        + (f" at {r.address}" if r.address else "")
        + f", filed {when(r.created_at, ctx.now)}: **{reports.STATUS_WORDS[r.status]}**"
        for r in mine
    ]
    text = "Your reports:\n" + "\n".join(lines)
    text += "\n\nI'll tell you here when any of them changes. Say **stop updates** to stop."
    return Step(State(), [Outgoing(text)])


async def stop_updates(ctx: Context, number: str | None) -> Step:
    if not ctx.address:
        return Step(State(), [Outgoing("There are no updates to stop here.")])
    try:
        stopped = await reports.unsubscribe(ctx.session, ctx.channel, ctx.address, number)
    except reports.ReportError as exc:
        return Step(State(), [Outgoing(str(exc))])
    if not stopped:
        return Step(State(), [Outgoing("You weren't getting updates about any report here.")])
    what = (
        f"report **{reports.normalise_number(number)}**"
        if number
        else ("your report" if stopped == 1 else f"your {stopped} reports")
    )
    return Step(
        State(),
        [
            Outgoing(
                f"OK, I won't send you more updates about {what}. "
                "You can still check with **status** and the number any time."
            )
        ],
    )


async def status_command(ctx: Context, state: State, incoming: Incoming) -> Step:
    """`/status 10234`; `/status` alone is the resident's own reports. The dialog the
    resident was in stands: its question can still be answered after this."""
    number = incoming.text.strip().lstrip("#") or None
    step = await status_reply(ctx, number)
    return Step(state, step.replies)


async def my_reports_command(ctx: Context, state: State, incoming: Incoming) -> Step:
    return Step(state, (await my_reports(ctx)).replies)
