"""Report status: anyone may see a report's public status by its number."""

from __future__ import annotations

from bot import reports
from bot.dialog import Context, State, Step
from bot.messages import Outgoing


async def status_reply(ctx: Context, number: str | None) -> Step:
    if not number:
        return Step(
            State(),
            [
                Outgoing(
                    'Send **status** and the report number, for example "status 10234". '
                    "The number is in the confirmation you got when the report was filed."
                )
            ],
        )
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
    return Step(State(), [Outgoing(reports.public_status(report))])
