"""A status change made on the report page: the very call staff make from Slack and the
command line (`reports.set_status`), so the resident and every follower are told through
the outbox, and the staff desk hears of it, exactly as when staff change it.

What the page adds is what a web form needs: each problem said next to its field, and a
change refused when the report changed while the page was open (two people at two desks:
the second would otherwise undo the first without seeing it). Like a second press of a
Slack button, choosing the status the report already has changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin import audit
from bot.reporting import reports

NOTE_MAX = 1000  # as Slack's close form allows
ACTOR = "admin"  # ReportEvent.actor is "admin:<email>": staff read it as the email


@dataclass(slots=True)
class StatusForm:
    status: str = ""
    reason: str = ""
    note: str = ""
    seen: str = ""  # the status the page showed when it was loaded
    stale: bool = False  # the report changed since: shown again as it is now
    errors: dict[str, str] = field(default_factory=dict)


def read_form(data: Mapping[str, Any]) -> StatusForm:
    form = StatusForm(
        status=str(data.get("status", "")).strip(),
        reason=str(data.get("reason", "")).strip(),
        note=str(data.get("note", "")).replace("\r\n", "\n").strip(),
        seen=str(data.get("seen", "")).strip(),
    )
    if form.status not in reports.STATUSES:
        form.errors["status"] = "Choose the new status from the list."
    if form.reason and form.reason not in reports.CLOSE_REASONS:
        form.errors["reason"] = "Choose the closing reason from the list."
    elif form.reason and form.status in reports.STATUSES and form.status != "closed":
        form.errors["reason"] = (
            "A closing reason is only for closing: choose Closed, or leave the reason empty."
        )
    if len(form.note) > NOTE_MAX:
        form.errors["note"] = f"The note is {len(form.note)} characters long; at most {NOTE_MAX} are sent."
    return form


def actor_of(email: str) -> str:
    return f"{ACTOR}:{email}"[:100]


async def change(
    session: AsyncSession,
    number: str,
    form: StatusForm,
    *,
    email: str,
    tell_staff: bool,
    now: datetime,
) -> reports.Change | None:
    """Apply the form; None with `form.errors` filled when it cannot be, nothing written.
    LookupError: there is no such report (any more)."""
    if form.errors:
        return None
    report = await reports.find(session, number, lock=True)
    if report is None:
        raise LookupError(number)
    words = reports.STATUS_WORDS
    if form.seen and form.seen != report.status:
        form.errors["status"] = (
            f"While this page was open, the report became {words.get(report.status, report.status)} "
            "(see its history). Nothing was changed: choose again if it still needs changing."
        )
        form.stale, form.seen = True, report.status
        return None
    if form.status == report.status:
        form.errors["status"] = (
            f"Report {report.number} is already {words[report.status]}: choose another status."
        )
        return None
    previous = report.status
    try:
        result = await reports.set_status(
            session,
            number,
            form.status,
            now=now,
            note=form.note or None,
            reason=(form.reason or None) if form.status == "closed" else None,
            actor=actor_of(email),
            tell_staff=tell_staff,
        )
    except reports.ReportError as exc:  # checked above; kept so a new rule there reads well here
        form.errors["status"] = str(exc)
        return None
    audit.record(
        session,
        email,
        "report.status",
        str(report.number),
        now=now,
        previous=previous,
        status=result.report.status,
        reason=result.report.close_reason,
        note=form.note,
        notified=result.notified,
    )
    return result
