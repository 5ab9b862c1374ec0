"""Reports and statistics over HTTP on `serve`'s real application: the list and its
filters, a report's page, a status change that is staff's own change, the charts and the
CSV. Reports are filed through the report domain, as the chat and Open311 file them."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from PIL import Image
from sqlalchemy import select

from bot.admin.web.report_csv import COLUMNS
from bot.hub import Hub
from bot.models import AuditEntry, OutboxMessage, ReportEvent
from bot.reporting import reports
from bot.staff.events import DESK, REPORT_CHANGED
from bot.timeutil import utcnow
from tests.admin.conftest import ADMIN, EDITOR, AdminClient

MAIN = (37.7793, -122.4193)  # inside the sample city's boundary


async def _file(hub: Hub, code: str, *, at: datetime | None = None, **kw: Any) -> str:
    async with hub.db.transaction() as s:
        report = await reports.file_report(
            s, service_code=code, description=f"{code} here", now=at or utcnow(), **kw
        )
        assert report.number is not None
        return report.number


def _numbers(html: str) -> list[str]:
    return re.findall(r'<a href="/admin/reports/(\d+)">', html)


def _local_day(hub: Hub, moment: datetime) -> str:
    return moment.astimezone(hub.settings.time_zone).strftime("%Y-%m-%d")


async def _rows(hub: Hub, report_number: str) -> tuple[list[ReportEvent], list[OutboxMessage]]:
    async with hub.db.reading() as s:
        report = await reports.find(s, report_number)
        assert report is not None
        events = (
            await s.scalars(
                select(ReportEvent).where(ReportEvent.report_id == report.id).order_by(ReportEvent.id)
            )
        ).all()
        ids = {str(report.id)}
        outbox = (await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    mine = [
        m
        for m in outbox
        if (m.channel == DESK and str(m.payload.get("report_id")) in ids)
        or (m.channel != DESK and f"**{report_number}**" in str(m.payload.get("text", "")))
    ]
    return list(events), mine


def _ids(rows: tuple[list[ReportEvent], list[OutboxMessage]]) -> tuple[list[int], list[int]]:
    return [e.id for e in rows[0]], [m.id for m in rows[1]]


async def test_the_list_filters_pages_and_says_what_it_cannot_filter(admin: AdminClient, hub: Hub) -> None:
    status, html = await admin.get("/admin/reports")
    assert status == 200 and "No reports yet" in html

    now = utcnow()
    old = now - timedelta(days=40)
    main = await _file(hub, "pothole", place="123 Main St", lat=MAIN[0], lon=MAIN[1])
    market = await _file(hub, "streetlight", place="5th and Market")
    pin = await _file(hub, "graffiti", lat=37.7601, lon=-122.4477)
    older = await _file(hub, "pothole", place="456 Main Street", at=old)
    async with hub.db.transaction() as s:
        await reports.set_status(s, market, "closed", now=now)

    status, html = await admin.get("/admin/reports")
    assert status == 200 and "No reports match" not in html
    assert _numbers(html) == [pin, market, main, older]  # newest first
    assert (
        "Pothole or street defect" in html and "123 Main St" in html and "Pin at 37.76010, -122.44770" in html
    )

    _, html = await admin.get("/admin/reports?service=pothole")
    assert _numbers(html) == [main, older]
    _, html = await admin.get("/admin/reports?status=closed")
    assert _numbers(html) == [market]
    _, html = await admin.get("/admin/reports?status=not_closed")
    assert _numbers(html) == [pin, main, older]
    # '123 Main St' and '456 Main Street' are one street; the pin alone is its ~500 m square.
    assert '<option value="street:main">Main (2)</option>' in html
    _, html = await admin.get("/admin/reports?area=street:main")
    assert _numbers(html) == [main, older]
    area = re.search(r'<option value="(area:[^"]+)">', html)
    assert area
    _, html = await admin.get(f"/admin/reports?area={area.group(1)}")
    assert _numbers(html) == [pin]
    # Dates are the city's days, both ends included.
    _, html = await admin.get(f"/admin/reports?from={_local_day(hub, old)}&to={_local_day(hub, old)}")
    assert _numbers(html) == [older]
    _, html = await admin.get(f"/admin/reports?from={_local_day(hub, now - timedelta(days=1))}")
    assert _numbers(html) == [pin, market, main]

    # Bad values: a sentence next to the field, the field marked, the other filters still apply.
    status, html = await admin.get(
        "/admin/reports?service=pothole&from=2025-02-30&to=yesterday&status=finished"
    )
    assert status == 200
    assert "“2025-02-30” is not a date: write it as year-month-day" in html
    assert "“yesterday” is not a date" in html and "“finished” is not a status" in html
    assert 'type="date" value="2025-02-30" aria-invalid="true" aria-describedby="from-error"' in html
    assert "3 filters were left out" in html
    assert _numbers(html) == [main, older]
    status, html = await admin.get(
        f"/admin/reports?area=nowhere&service=no-such&from={_local_day(hub, now)}&to={_local_day(hub, old)}"
    )
    assert status == 200
    assert "is not a street or area of the list" in html and "There is no service “no-such”" in html
    assert "The end date is before the start date" in html
    assert _numbers(html) == [pin, market, main]  # only "from" was usable
    status, html = await admin.get("/admin/reports?from=9000-01-01&page=-3")
    assert status == 200 and _numbers(html) == []  # a far date is a date; a bad page is page 1
    assert "No reports match these filters" in html

    # Going to a number.
    async with admin.http.get(admin.url(f"/admin/reports?number=%23{main}"), allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == f"/admin/reports/{main}"
    status, html = await admin.get("/admin/reports?number=abc")
    assert (
        status == 400
        and "&#39;abc&#39; is not a report number" in html
        and 'aria-describedby="number-error"' in html
    )
    status, html = await admin.get("/admin/reports?number=99999")
    assert status == 400 and "There is no report 99999." in html

    # Fifty a page; the pager keeps the filters.
    async with hub.db.transaction() as s:
        for i in range(52):
            await reports.file_report(
                s, service_code="pothole", description="more", now=old + timedelta(minutes=i)
            )
    _, html = await admin.get("/admin/reports?service=pothole")
    assert len(_numbers(html)) == 50 and "Reports 1–50 of 54" in html and "Page 1 of 2" in html
    assert 'href="/admin/reports?service=pothole&amp;page=2"' in html
    _, html = await admin.get("/admin/reports?service=pothole&page=2")
    assert len(_numbers(html)) == 4 and _numbers(html)[-1] == older
    _, html = await admin.get("/admin/reports?service=pothole&page=99")
    assert "Page 2 of 2" in html


async def test_a_report_page_shows_history_photos_followers_and_a_map(admin: AdminClient, hub: Hub) -> None:
    picture = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(picture, "PNG")
    assert hub.services.media is not None
    photo = await hub.services.media.save(picture.getvalue())
    number = await _file(
        hub,
        "pothole",
        place="123 Main St",
        lat=MAIN[0],
        lon=MAIN[1],
        channel="webchat",
        address="w-1",
        media=[photo.key, "https://elsewhere.example/p.jpg"],
        attributes={"size": "large"},
        contact={"phone": "555-0100"},
    )
    async with hub.db.transaction() as s:
        report = await reports.find(s, number)
        assert report is not None
        report.description = "Deep hole <script>alert(1)</script>"
        await reports.subscribe(s, report, "telegram", "42", now=utcnow())
        await reports.set_status(
            s, number, "in_progress", note="Crew booked for Tuesday", actor="slack:Jane Doe", now=utcnow()
        )

    status, html = await admin.get(f"/admin/reports/{number}")
    assert status == 200
    assert "Pothole or street defect" in html and "123 Main St" in html and "37.779300, -122.419300" in html
    assert "Deep hole &lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "555-0100" not in html and "w-1" not in html  # no contact details, no platform ids
    assert "<dt>size</dt><dd>large</dd>" in html
    assert "2 people hear of its changes" in html
    history = html[html.index("<h2>History</h2>") :]
    assert history.index("Filed") < history.index("In progress") < history.index("Crew booked for Tuesday")
    assert "the resident, in a chat" in history and "Jane Doe (Slack)" in history
    # The map is ours: an SVG of the boundary with the pin, titled and described.
    assert '<svg class="report-map" role="img" aria-labelledby="report-map-title report-map-desc"' in html
    assert f'<title id="report-map-title">Where report {number} is</title>' in html
    assert "pin at 37.77930, -122.41930, inside the city boundary" in html
    assert re.search(r'<path d="M[\d.,L]+Z"', html) and "<circle" in html
    # Photos: ours shown from /media with alt text, another system's only linked.
    assert (
        f'<img src="/media/{photo.key}" alt="Photo 1 of 2 sent with report {number} (opens full size)"'
        in html
    )
    assert (
        '<img src="https://elsewhere.example' not in html and 'href="https://elsewhere.example/p.jpg"' in html
    )
    async with admin.http.get(admin.url(f"/media/{photo.key}")) as r:
        assert r.status == 200 and r.content_type == "image/png"
    assert 'href="/admin/reports?area=street%3Amain"' in html

    bare = await _file(hub, "graffiti")
    status, html = await admin.get(f"/admin/reports/{bare}")
    assert status == 200 and "No map: the resident sent no pin" in html and "No photos were sent" in html
    assert "0 people hear" in html and "report-map" not in html

    status, html = await admin.get("/admin/reports/99999")
    assert status == 404 and "There is no report 99999." in html
    status, html = await admin.get("/admin/reports/pothole")
    assert status == 404 and "“pothole” is not a report number" in html


async def test_a_status_change_on_the_page_is_staffs_own_change(admin: AdminClient, hub: Hub) -> None:
    hub.services.staff_desk = True  # as with Slack configured: staff hear of the change too
    ours, theirs = [
        await _file(hub, "streetlight", place="5th and Market", channel="webchat", address=f"w-{i}")
        for i in (1, 2)
    ]
    async with hub.db.transaction() as s:
        for number, follower in ((ours, "41"), (theirs, "42")):
            report = await reports.find(s, number)
            assert report is not None
            await reports.subscribe(s, report, "telegram", follower, now=utcnow())
    # Staff's path, as the Slack listeners call it.
    async with hub.db.transaction() as s:
        await reports.set_status(
            s,
            theirs,
            "in_progress",
            note="Crew booked",
            actor="slack:Jane Doe",
            tell_staff=True,
            now=utcnow(),
        )

    status, html = await admin.get(f"/admin/reports/{ours}")
    assert status == 200 and '<input type="hidden" name="seen" value="open">' in html
    hub.outbox_queued.clear()
    path = f"/admin/reports/{ours}/status"
    async with admin.http.post(
        admin.url(path),
        data={
            "csrf": admin.csrf,
            "seen": "open",
            "status": "in_progress",
            "note": "Crew booked",
            "reason": "",
        },
        allow_redirects=False,
    ) as r:
        assert r.status == 303 and r.headers["Location"] == f"/admin/reports/{ours}?done=status"
    assert hub.outbox_queued.is_set()  # committed, and the outbox woken

    events, outbox = await _rows(hub, ours)
    their_events, their_outbox = await _rows(hub, theirs)
    assert [(e.status, e.close_reason, e.note) for e in events] == [
        (e.status, e.close_reason, e.note) for e in their_events
    ]
    assert events[-1].actor == f"admin:{ADMIN}"

    # The same messages to the same kinds of subscriber, in the same order, and staff told.
    def shape(rows: list[OutboxMessage], number: str) -> list[tuple[str, str]]:
        return [
            (m.channel, str(m.payload.get("text", m.payload.get("kind"))).replace(number, "N")) for m in rows
        ]

    assert shape(outbox, ours) == shape(their_outbox, theirs)
    assert [m.channel for m in outbox] == ["webchat", "telegram", DESK]
    assert "Note from city staff: Crew booked" in outbox[0].payload["text"]
    assert outbox[-1].payload == {
        "kind": REPORT_CHANGED,
        "report_id": outbox[-1].payload["report_id"],
        "event_id": events[-1].id,
    }
    async with hub.db.reading() as s:
        audit = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "report.status"))).all()
    assert [(a.actor, a.subject, a.detail["previous"], a.detail["status"]) for a in audit] == [
        (ADMIN, ours, "open", "in_progress")
    ]
    status, html = await admin.get(f"/admin/reports/{ours}?done=status")
    assert "Status changed." in html and f"{ADMIN} (admin pages)" in html

    # What cannot be done is said next to its field, and nothing is written.
    before = _ids(await _rows(hub, ours))
    cases = [
        (
            {"seen": "in_progress", "status": "in_progress"},
            400,
            "is already in progress: choose another status",
        ),
        ({"seen": "in_progress", "status": "finished"}, 400, "Choose the new status from the list."),
        (
            {"seen": "in_progress", "status": "acknowledged", "reason": "fixed"},
            400,
            "A closing reason is only for closing",
        ),
        (
            {"seen": "in_progress", "status": "closed", "reason": "bored"},
            400,
            "Choose the closing reason from the list.",
        ),
        (
            {"seen": "in_progress", "status": "closed", "note": "x" * 1001},
            400,
            "1001 characters long; at most 1000",
        ),
        (
            {"seen": "open", "status": "closed", "note": "Done, I think"},
            409,
            "While this page was open, the report became in progress",
        ),
    ]
    for data, code, says in cases:
        status, html = await admin.post(path, data)
        assert status == code and says in html, (data, status)
        assert "The status was not changed" in html and 'aria-invalid="true"' in html
    assert ">Done, I think</textarea>" in html  # the note typed is kept
    assert '<input type="hidden" name="seen" value="in_progress">' in html  # now as it is
    assert _ids(await _rows(hub, ours)) == before
    status, html = await admin.post("/admin/reports/99999/status", {"seen": "open", "status": "closed"})
    assert status == 404 and "There is no report 99999." in html
    status, html = await admin.post(path, {"seen": "in_progress", "status": "closed", "csrf": "forged"})
    assert status == 403 and _ids(await _rows(hub, ours)) == before

    # An editor may change a status too (working reports is no admin's privilege).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        editor = AdminClient(http, admin.base)
        assert (await editor.sign_in(EDITOR))[0] == 200
        await editor.get(f"/admin/reports/{ours}")
        status, html = await editor.post(
            path, {"seen": "in_progress", "status": "closed", "reason": "duplicate"}
        )
        assert status == 200 and "Status changed." in html
    events, outbox = await _rows(hub, ours)
    assert (events[-1].status, events[-1].close_reason, events[-1].actor) == (
        "closed",
        "duplicate",
        f"admin:{EDITOR}",
    )
    assert "closed** (a duplicate of another report)" in outbox[-3].payload["text"]


async def test_statistics_draw_charts_and_the_csv_counts_every_report(admin: AdminClient, hub: Hub) -> None:
    status, html = await admin.get("/admin/stats")
    assert status == 200 and "No reports yet: the charts appear here" in html
    async with admin.http.get(admin.url("/admin/stats.csv")) as r:
        assert r.status == 200
        assert list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig")))) == [
            [name for name, _ in COLUMNS]
        ]

    now = utcnow()
    three_weeks = now - timedelta(weeks=3)
    a = await _file(hub, "pothole", place="123 Main St", lat=MAIN[0], lon=MAIN[1])
    await _file(hub, "pothole", place="9 Main St")
    await _file(hub, "streetlight", place="5th and Market")
    b = await _file(hub, "pothole", place="5th and Market", at=three_weeks)
    await _file(hub, '=HYPERLINK("http://evil.example")', place="@SUM(1+1)")
    async with hub.db.transaction() as s:
        await reports.set_status(s, b, "closed", now=three_weeks + timedelta(days=2))
        await reports.set_status(s, a, "closed", now=now + timedelta(days=4))

    status, html = await admin.get("/admin/stats")
    assert status == 200
    assert "5 reports: 3 not closed, 2 closed; a median of 3.0 days to close." in html
    for ident in ("chart-weeks", "chart-places", "chart-close"):
        assert (
            f'aria-labelledby="{ident}-title {ident}-desc"' in html and f'<title id="{ident}-title">' in html
        )
    assert '<svg class="chart columns"' in html and '<svg class="chart bars"' in html
    assert (
        "Pothole or street defect, reports per week, oldest first: 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 2" in html
    )
    assert "Main: 2" in html and "5th &amp; Market: 2" in html  # the places chart's description
    assert "Pothole or street defect: 3.0 days, of 2 closed" in html
    assert '<th scope="row">All services</th>' in html and "<code>created_week</code>" in html
    status, html = await admin.get("/admin/stats?from=someday")
    assert status == 400 and "“someday” is not a date" in html and "All reports are counted instead" in html
    assert "5 reports:" in html
    _, html = await admin.get(f"/admin/stats?from={_local_day(hub, now + timedelta(days=2))}")
    assert "0 reports filed since" in html and "No reports since then." in html
    assert (
        "Pothole or street defect, reports per week, oldest first: 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 2" in html
    )  # the weeks stay

    async with admin.http.get(admin.url("/admin/stats.csv")) as r:
        assert r.status == 200 and r.content_type == "text/csv"
        assert re.fullmatch(
            r'attachment; filename="reports-\d{4}-\d{2}-\d{2}\.csv"', r.headers["Content-Disposition"]
        )
        body = (await r.read()).decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"))))
    assert len(rows) == 5
    assert Counter(row["service_code"] for row in rows) == {
        "pothole": 3,
        "streetlight": 1,
        '\'=HYPERLINK("http://evil.example")': 1,
    }
    by_number = {row["number"]: row for row in rows}
    assert by_number[b]["days_to_close"] == "2.0" and by_number[b]["status"] == "closed"
    assert by_number[b]["close_reason"] == "fixed" and by_number[b]["place"] == "5th & Market"
    local = three_weeks.astimezone(hub.settings.time_zone)
    assert by_number[b]["created_week"] == (local - timedelta(days=local.weekday())).strftime("%Y-%m-%d")
    assert (
        by_number[a]["latitude"] == "37.7793" and by_number[a]["longitude"] == "-122.4193"
    )  # numbers untouched
    assert (
        by_number[a]["place_kind"] == "street" and by_number[a]["service_name"] == "Pothole or street defect"
    )
    assert all(not cell.startswith(("=", "+", "@")) for row in rows for cell in row.values())
    assert "description" not in rows[0] and "pothole here" not in body  # no free text
    weeks = Counter((row["service_code"], row["created_week"]) for row in rows)
    assert weeks[("pothole", by_number[a]["created_week"])] == 2

    async with admin.http.get(admin.url("/admin/stats.csv?service=pothole&status=not_closed")) as r:
        filtered = list(csv.DictReader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert len(filtered) == 1 and filtered[0]["service_code"] == "pothole" and filtered[0]["status"] == "open"
    status, html = await admin.get("/admin/stats.csv?from=31/12/2024")
    assert status == 400 and "Nothing was downloaded: “31/12/2024” is not a date" in html
