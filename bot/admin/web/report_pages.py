"""Reports and statistics: the filtered list, one report with its history, photos, map and
a status change on staff's own path, the charts, and the CSV for analysts.

Both roles may change a report's status here. The issue keeps accounts and the service
catalogue for admins; working reports is staff's job, done in Slack, and this page is the
same call (who did it is in the report's history and the audit log), for a city whose
editors also answer residents or that has no Slack at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from markupsafe import Markup
from sqlalchemy import select

from bot.admin.web import report_queries as q
from bot.admin.web.keys import hub_of, signed_in
from bot.admin.web.render import page
from bot.admin.web.report_charts import stats_context
from bot.admin.web.report_csv import COLUMNS, header, lines, row_of
from bot.admin.web.report_filters import STATUS_CHOICES, Filters, parse_day, place_words, read_filters
from bot.admin.web.report_status import StatusForm, change, read_form
from bot.admin.web.svg_map import place_map
from bot.media import valid_key
from bot.models import Report, ReportEvent
from bot.reporting import reports
from bot.staff.cards import actor_words
from bot.timeutil import utcnow

DONE = {"status": "Status changed. The resident and the report's followers are told in their chat."}
SOURCES = {
    "chat": "the resident, in a chat",
    "open311": "another system (Open311)",
    "cli": "the command line",
}


def who_did(event: ReportEvent, first: bool) -> str:
    """An event's actor for people: the admin's email, the staff member's name, or the way
    the report came in."""
    desk, _, name = event.actor.partition(":")
    if desk == "admin" and name:
        return f"{name} (admin pages)"
    if desk == "slack" and name:
        return f"{name} (Slack)"
    if first:
        return SOURCES.get(event.actor, event.actor)
    return actor_words(event.actor)


def event_words(event: ReportEvent, first: bool) -> str:
    if first and event.status == "open":
        return "Filed"
    words = reports.STATUS_WORDS.get(event.status, event.status).capitalize()
    if event.status == "closed" and event.close_reason:
        words += f" ({reports.REASON_WORDS.get(event.close_reason, event.close_reason)})"
    return words


def photos(report: Report) -> list[dict[str, str]]:
    """Stored photos (served by us under /media) and photos another system linked to
    (Open311 media_url: shown as links, never loaded into the page from elsewhere)."""
    shown = []
    items = [m for m in report.media if isinstance(m, str)]
    for i, item in enumerate(items, 1):
        alt = f"Photo {i} of {len(items)} sent with report {report.number}"
        if valid_key(item):
            shown.append({"src": f"/media/{item}", "alt": alt, "external": ""})
        elif item.startswith(("https://", "http://")):
            shown.append({"src": item, "alt": alt, "external": "yes"})
    return shown


# -- the list ------------------------------------------------------------------------------


async def reports_list(request: web.Request) -> web.StreamResponse:
    hub = hub_of(request)
    jump = request.query.get("number", "").strip()[:40]
    jump_error = ""
    async with hub.db.reading() as session:
        if jump:
            try:
                found = await reports.find(session, jump)
            except reports.ReportError as exc:
                found, jump_error = None, str(exc)
            else:
                if found is None:
                    jump_error = f"There is no report {reports.normalise_number(jump)}."
            if found is not None:
                raise web.HTTPSeeOther(f"/admin/reports/{found.number}")
        names = await q.service_names(session)
        filters = read_filters(request.query, services=names, zone=hub.settings.time_zone)
        wanted = request.query.get("page", "1")
        listed = await q.list_page(
            session, filters, int(wanted) if wanted.isdecimal() and len(wanted) < 7 else 1
        )
        places = await q.place_choices(session)
        anything = listed.total > 0 or await session.scalar(select(Report.id).limit(1)) is not None
    if filters.area and filters.area not in {key for key, _ in places}:
        places.append((filters.area, 0))  # a link named a quieter place: keep it chosen
    return await page(
        request,
        "reports.html",
        status=400 if jump_error else 200,
        title="Reports",
        filters=filters,
        listed=listed,
        services=sorted(names.items(), key=lambda item: item[1].lower()),
        names=names,
        statuses=STATUS_CHOICES,
        status_words=reports.STATUS_WORDS,
        places=[(key, place_words(key), n) for key, n in places],
        anything=anything,
        jump=jump,
        jump_error=jump_error,
        pager_link=lambda n: "/admin/reports?" + filters.query(page=n),
        csv_link="/admin/stats.csv" + (f"?{filters.query()}" if filters.query() else ""),
    )


# -- one report ----------------------------------------------------------------------------


async def _report_page(
    request: web.Request, number: str, *, form: StatusForm | None = None, status: int = 200
) -> web.StreamResponse:
    hub = hub_of(request)
    async with hub.db.reading() as session:
        try:
            view = await q.report_view(session, number)
        except reports.ReportError:
            view = None
    if view is None:
        return await _no_report(request, number)
    report = view.report
    boundary = hub.services.boundary
    point = (report.lat, report.lon) if report.lat is not None and report.lon is not None else None
    if point is not None:
        inside = boundary is not None and boundary.contains(*point)
        desc = (
            f"The outline of {boundary.name if boundary else 'the city'} with the report's pin at "
            f"{point[0]:.5f}, {point[1]:.5f}, {'inside' if inside else 'outside'} the city boundary."
        )
        drawn = place_map(
            boundary.geometry if boundary else None,
            point,
            ident="report-map",
            title=f"Where report {report.number} is",
            desc=desc,
        )
    else:
        drawn = Markup("")
    form = form or StatusForm(seen=report.status)
    return await page(
        request,
        "report.html",
        status=status,
        title=f"Report {report.number}",
        view=view,
        report=report,
        history=[(e, event_words(e, i == 0), who_did(e, i == 0)) for i, e in enumerate(view.events)],
        place=place_words(report.place_key) if report.place_key else "",
        area_link="/admin/reports?" + Filters(typed={"area": report.place_key or "none"}).query(),
        photos=photos(report),
        map_svg=drawn,
        statuses=[(s, reports.STATUS_WORDS[s].capitalize()) for s in reports.STATUSES],
        reasons=list(reports.REASON_WORDS.items()),
        status_words=reports.STATUS_WORDS,
        reason_words=reports.REASON_WORDS,
        form=form,
        done=DONE.get(request.query.get("done", ""), ""),
        attributes=[(str(k), _shown(v)) for k, v in (report.attributes or {}).items()],
    )


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


async def _no_report(request: web.Request, number: str) -> web.StreamResponse:
    digits = "".join(ch for ch in number if "0" <= ch <= "9")
    message = (
        f"There is no report {digits}. Check the number the resident gave: "
        "report numbers are digits, like 10234."
        if digits
        else f"“{number[:40]}” is not a report number: report numbers are digits, like 10234."
    )
    return await page(
        request,
        "message.html",
        status=404,
        title="No such report",
        message=message,
        link=("/admin/reports", "All reports"),
    )


async def report_page(request: web.Request) -> web.StreamResponse:
    return await _report_page(request, request.match_info["number"])


async def change_status(request: web.Request) -> web.StreamResponse:
    number = request.match_info["number"]
    form = read_form(await request.post())
    who = signed_in(request)
    hub = hub_of(request)
    try:
        async with hub.db.transaction() as session:
            changed = await change(
                session,
                number,
                form,
                email=who.account.email,
                tell_staff=hub.services.staff_desk,
                now=utcnow(),
            )
    except (LookupError, reports.ReportError):
        return await _no_report(request, number)
    if changed is None:
        return await _report_page(request, number, form=form, status=409 if form.stale else 400)
    hub.outbox_queued.set()  # committed: this process's outbox tells them now
    raise web.HTTPSeeOther(f"/admin/reports/{changed.report.number}?done=status")


# -- statistics and the CSV ------------------------------------------------------------------


async def stats_page(request: web.Request) -> web.StreamResponse:
    hub = hub_of(request)
    zone = hub.settings.time_zone
    raw = request.query.get("from", "").strip()[:40]
    since: datetime | None = None
    since_error = ""
    if raw:
        try:
            since = datetime.combine(parse_day(raw), datetime.min.time(), zone)
        except ValueError as exc:
            since_error = str(exc)
    async with hub.db.reading() as session:
        context = await stats_context(session, since=since, zone=zone, today=utcnow().astimezone(zone).date())
    return await page(
        request,
        "stats.html",
        status=400 if since_error else 200,
        title="Statistics",
        since_typed=raw,
        since_error=since_error,
        columns=COLUMNS,
        zone=str(zone),
        **context,
    )


async def stats_csv(request: web.Request) -> web.StreamResponse:
    hub = hub_of(request)
    zone = hub.settings.time_zone
    async with hub.db.reading() as session:
        names = await q.service_names(session)
    filters = read_filters(request.query, services=names, zone=zone)
    if filters.errors:
        return await page(
            request,
            "message.html",
            status=400,
            title="Cannot make that CSV",
            message="Nothing was downloaded: " + " ".join(filters.errors.values()),
            link=("/admin/stats", "Statistics"),
        )
    today = utcnow().astimezone(zone).strftime("%Y-%m-%d")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="reports-{today}.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
    )
    await response.prepare(request)
    await response.write(header().encode())
    async for batch in q.csv_rows(hub.db, filters):
        await response.write(lines(row_of(row, names, zone) for row in batch).encode())
    await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/reports", reports_list)
    app.router.add_get("/reports/{number}", report_page)
    app.router.add_post("/reports/{number}/status", change_status)
    app.router.add_get("/stats", stats_page)
    app.router.add_get("/stats.csv", stats_csv)
