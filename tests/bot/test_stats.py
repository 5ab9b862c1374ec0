"""Report statistics: counts, medians, streets, areas and reasons; `civic311 stats` as text and CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.bootstrap import prepare
from bot.cli import main
from bot.db import Database
from bot.hub import Hub
from bot.reporting import reports
from bot.reporting.stats import NO_PLACE, PlaceStats, Stats, area_of, place_of, report_stats, street_of
from knowledge.geo import distance_m

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
LA = ZoneInfo("America/Los_Angeles")
HALF_DIAGONAL_M = 500 * 2**0.5 / 2 + 1  # no point is farther than this from its square's centre


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


@dataclass(frozen=True)
class Filed:
    service: str
    filed: float  # days after T0
    place: str | None = None
    point: tuple[float, float] | None = None
    changes: tuple[tuple[float, str, str | None], ...] = ()  # (day, status, reason)


CITY = [
    Filed("pothole", 0, "123 Main St", changes=((2, "closed", "fixed"),)),  # A: 2 days
    Filed("pothole", 1, "456 Main Street", changes=((5, "closed", "duplicate"),)),  # B: 4 days
    Filed("pothole", 1.05, "5th and Market", changes=((2, "in_progress", None),)),  # C
    Filed("graffiti", 2, "Market St & 5th St", changes=((3, "closed", "fixed"),)),  # D: 1 day
    Filed("graffiti", 3, point=(37.7801, -122.4101), changes=((4, "acknowledged", None),)),  # E
    Filed("graffiti", 10, point=(37.7803, -122.4099)),  # F: 30 m from E, the same square
    Filed("streetlight", 10, changes=((16, "closed", "not_city_responsibility"),)),  # G: no place, 6 days
    Filed("retired-service", 11, "Main St"),  # H: a code no longer in the catalogue
    # I: closed, then reopened: open again, no time to close
    Filed("pothole", 4, "789 Main St", changes=((5, "closed", "fixed"), (6, "open", None))),
    # J: 2.7 km from E: another square; half a day
    Filed("streetlight", 12, point=(37.7601, -122.4301), changes=((12.5, "closed", "no_further_action"),)),
]


async def file_city(db: Database) -> None:
    for report in CITY:
        async with db.transaction() as session:
            lat, lon = report.point or (None, None)
            filed = await reports.file_report(
                session,
                service_code=report.service,
                description="a problem",
                now=day(report.filed),
                place=report.place,
                lat=lat,
                lon=lon,
            )
            number = filed.number or ""
        for when, status, reason in report.changes:
            async with db.transaction() as session:
                await reports.set_status(session, number, status, now=day(when), reason=reason)


async def stats_of(hub: Hub, since: datetime | None = None, time_zone: ZoneInfo = LA) -> Stats:
    async with hub.db.reading() as session:
        return await report_stats(session, since=since, time_zone=time_zone)


def place(stats: Stats, label: str) -> PlaceStats:
    return next(p for p in stats.places if p.label == label)


async def test_counts_and_medians_overall_and_per_service(hub: Hub) -> None:
    await file_city(hub.db)
    stats = await stats_of(hub)
    assert (stats.total.total, stats.total.open, stats.total.closed) == (10, 5, 5)
    assert stats.total.by_status == {"open": 3, "acknowledged": 1, "in_progress": 1, "closed": 5}
    assert stats.total.median_days_to_close == 2.0  # of 2, 4, 1, 6 and 0.5 days
    summary = [
        (s.code, s.name, s.tally.total, s.tally.open, s.tally.closed, s.tally.median_days_to_close)
        for s in stats.services
    ]
    assert summary == [  # busiest first
        ("pothole", "Pothole or street defect", 4, 2, 2, 3.0),
        ("graffiti", "Graffiti on public property", 3, 2, 1, 1.0),
        ("streetlight", "Streetlight out or damaged", 2, 0, 2, 3.25),
        ("retired-service", "retired-service", 1, 1, 0, None),  # not in the catalogue: its code
    ]
    pothole = stats.services[0].tally.by_status
    assert pothole == {"open": 1, "acknowledged": 0, "in_progress": 1, "closed": 2}


async def test_streets_areas_and_reports_without_a_place(hub: Hub) -> None:
    await file_city(hub.db)
    stats = await stats_of(hub)
    main_st = place(stats, "main")  # 123 Main St, 456 Main Street, 789 Main St, Main St
    assert main_st.kind == "street"
    assert (main_st.tally.total, main_st.tally.open, main_st.tally.closed) == (4, 2, 2)
    assert main_st.tally.median_days_to_close == 3.0
    corner = place(stats, "5th & market")  # '5th and Market' and 'Market St & 5th St'
    assert (corner.tally.total, corner.tally.closed, corner.tally.median_days_to_close) == (2, 1, 1.0)

    areas = [p for p in stats.places if p.kind == "area"]
    assert sorted(p.tally.total for p in areas) == [1, 2]
    shared = next(p for p in areas if p.tally.total == 2)  # E and F, 30 m apart
    assert (shared.tally.open, shared.tally.median_days_to_close) == (2, None)
    centre = tuple(float(x) for x in shared.label.split(","))
    assert re.fullmatch(r"-?\d+\.\d{3},-?\d+\.\d{3}", shared.label)
    for lat, lon in ((37.7801, -122.4101), (37.7803, -122.4099)):
        assert distance_m(lat, lon, *centre) < HALF_DIAGONAL_M
    lone = next(p for p in areas if p.tally.total == 1)
    assert (lone.tally.closed, lone.tally.median_days_to_close) == (1, 0.5)

    nowhere = stats.places[-1]  # the streetlight filed with no place at all comes last
    assert (nowhere.kind, nowhere.label, nowhere.tally.total) == ("none", NO_PLACE, 1)
    assert stats.places[0].label == "main"  # busiest first
    assert sum(p.tally.total for p in stats.places) == stats.total.total


async def test_closed_by_reason(hub: Hub) -> None:
    await file_city(hub.db)
    stats = await stats_of(hub)
    by_reason = [(r.reason, r.tally.closed, r.tally.median_days_to_close) for r in stats.reasons]
    assert by_reason == [  # every reason, in the order staff choose them; the reopened one not counted
        ("fixed", 2, 1.5),
        ("duplicate", 1, 4.0),
        ("not_city_responsibility", 1, 6.0),
        ("no_further_action", 1, 0.5),
    ]
    assert sum(closed for _, closed, _ in by_reason) == stats.total.closed


async def test_since_is_a_moment_or_a_local_date(hub: Hub) -> None:
    await file_city(hub.db)
    # A date without a time zone is the city's midnight: 3 March 08:00 UTC in Los Angeles...
    la = await stats_of(hub, since=datetime(2024, 3, 3), time_zone=LA)  # noqa: DTZ001 (naive on purpose)
    assert la.total.total == 7 and la.since == datetime(2024, 3, 3, 8, tzinfo=UTC)
    assert la.total.closed == 3 and la.total.median_days_to_close == 1.0  # D, G, J: 1, 6, 0.5
    assert place(la, "main").tally.total == 2  # H and I; A and B were filed before
    # ... and 2 March 10:00 UTC where the day starts 14 hours ahead of UTC, which lets B and C in.
    kiritimati = ZoneInfo("Pacific/Kiritimati")
    ahead = await stats_of(hub, since=datetime(2024, 3, 3), time_zone=kiritimati)  # noqa: DTZ001
    assert ahead.total.total == 9
    late = await stats_of(hub, since=datetime(2024, 3, 12, tzinfo=UTC))  # H (12th, noon) and J
    assert [(s.code, s.tally.total) for s in late.services] == [("retired-service", 1), ("streetlight", 1)]
    future = await stats_of(hub, since=datetime(2030, 1, 1, tzinfo=UTC))
    assert future.empty and future.services == () and future.places == ()
    assert [r.tally.closed for r in future.reasons] == [0, 0, 0, 0]


async def test_an_empty_database(hub: Hub) -> None:
    stats = await stats_of(hub)
    assert stats.empty and stats.total.median_days_to_close is None
    assert stats.services == () and stats.places == ()


def test_street_of_a_folded_address() -> None:
    assert street_of("123 main") == "main"
    assert street_of("123a main") == "main"
    assert street_of("5th & market") == "5th & market"
    assert street_of("12 main & 5th") == "5th & main"  # the same corner however it is typed
    assert street_of("1st") == "1st"  # an ordinal is a street's name, not a house number
    assert street_of("100 10th") == "10th"
    assert street_of("123") == "" and street_of("") == ""


def test_place_of_prefers_the_street_then_the_square() -> None:
    assert place_of("123 main", "123 Main St", 37.78, -122.41) == ("street", "main")
    assert place_of(None, "123 Main St, San Francisco, CA 94103", None, None) == ("street", "main")
    assert place_of("123", "123", 37.78, -122.41) == ("area", area_of(37.78, -122.41))
    assert place_of(None, None, None, None) == ("none", NO_PLACE)


@pytest.mark.parametrize(
    ("lat", "lon"),
    [(37.7801, -122.4101), (-33.8688, 151.2093), (51.5007, -0.0012), (51.5007, 0.0012), (64.1466, -21.9426)],
)
def test_a_point_is_in_the_square_around_it(lat: float, lon: float) -> None:
    centre = tuple(float(x) for x in area_of(lat, lon).split(","))
    assert distance_m(lat, lon, *centre) < HALF_DIAGONAL_M


def test_squares_are_about_500_m() -> None:
    assert area_of(51.5007, -0.0012) != area_of(51.5007, 0.0012)  # either side of Greenwich, 170 m apart
    here = area_of(37.7801, -122.4101)
    assert area_of(37.7801 + 0.0045 * 2, -122.4101) != here  # 1 km north
    assert area_of(37.7801, -122.4101 + 0.0057 * 2) != here  # 1 km east
    centres = {area_of(37.78 + i * 0.0009, -122.41) for i in range(20)}  # 2 km in 100 m steps
    assert 4 <= len(centres) <= 5


# The command line, in this process, on a temporary SQLite file.


def seed(url: str, *, with_reports: bool = True) -> None:
    async def go() -> None:
        db = Database(url)
        try:
            await prepare(db, auto_upgrade=True)  # migrated, the sample catalogue loaded
            if with_reports:
                await file_city(db)
        finally:
            await db.dispose()

    asyncio.run(go())


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def columns(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def table_after(out: str, title: str) -> list[str]:
    """The lines of the table under a title, header first, up to the blank line."""
    lines = out.splitlines()
    start = lines.index(title) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def test_stats_command_prints_aligned_tables(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    seed(cli_db)
    assert main(["stats"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Reports: 10 (5 not closed, 5 closed); median 2.0 days to close"

    services = table_after(out, "By service")
    assert columns(services[0]) == [
        "Service",
        "Code",
        "Total",
        "New",
        "Acknowledged",
        "In progress",
        "Closed",
        "Median days to close",
    ]
    assert columns(services[1]) == ["Pothole or street defect", "pothole", "4", "1", "0", "1", "2", "3.0"]
    assert columns(services[4]) == ["retired-service", "retired-service", "1", "1", "0", "0", "0", "-"]

    places = table_after(out, "By street or area")
    assert columns(places[0]) == ["Street or area", "Total", "Not closed", "Closed", "Median days to close"]
    assert columns(places[1]) == ["Main", "4", "2", "2", "3.0"]
    assert ["5th & Market", "2", "1", "1", "1.0"] in [columns(line) for line in places]
    assert any(line.split(" (area)")[0].count(",") == 1 for line in places if "(area)" in line)
    assert columns(places[-1]) == [NO_PLACE, "1", "0", "1", "6.0"]

    reasons = table_after(out, "Closed, by reason")
    assert [columns(line) for line in reasons[1:]] == [
        ["fixed", "2", "1.5"],
        ["a duplicate of another report", "1", "4.0"],
        ["not the city's responsibility", "1", "6.0"],
        ["no further action needed", "1", "0.5"],
    ]
    for table in (services, places, reasons):  # numbers right-aligned under their headings
        assert len({len(line) for line in table}) == 1, table


def test_stats_command_writes_one_csv_table(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    seed(cli_db)
    assert main(["stats", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["section"] for r in rows} == {"total", "service", "street", "reason"}
    total = next(r for r in rows if r["section"] == "total")
    figures = ("total", "not_closed", "closed", "median_days_to_close")
    assert [total[c] for c in figures] == ["10", "5", "5", "2.00"]
    assert [total[f"status_{s}"] for s in ("open", "acknowledged", "in_progress")] == ["3", "1", "1"]
    streetlight = next(r for r in rows if r["section"] == "service" and r["key"] == "streetlight")
    assert streetlight["name"] == "Streetlight out or damaged"
    assert streetlight["median_days_to_close"] == "3.25"
    streets = {r["key"]: r for r in rows if r["section"] == "street"}
    assert streets["main"]["total"] == "4" and streets["main"]["name"] == "street"
    assert streets["5th & market"]["closed"] == "1"
    assert sorted(r["total"] for r in streets.values() if r["name"] == "area") == ["1", "2"]
    assert streets[NO_PLACE]["name"] == "none"
    retired = next(r for r in rows if r["key"] == "retired-service")
    assert retired["median_days_to_close"] == ""  # nothing closed: no median, not zero
    reasons = {r["key"]: r["closed"] for r in rows if r["section"] == "reason"}
    assert reasons == {
        "fixed": "2",
        "duplicate": "1",
        "not_city_responsibility": "1",
        "no_further_action": "1",
    }


def test_stats_command_since_a_date(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    seed(cli_db)
    assert main(["stats", "--since", "2024-03-03"]) == 0  # midnight in the city (Los Angeles)
    out = capsys.readouterr().out
    headline = out.splitlines()[0]
    assert headline.startswith("Reports since 2024-03-03 (America/Los_Angeles): 7 (4 not closed, 3 closed)")
    assert main(["stats", "--since", "2024-03-03", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert next(r for r in rows if r["section"] == "total")["total"] == "7"
    assert main(["stats", "--since", "2031-01-01"]) == 0
    assert capsys.readouterr().out.strip() == "No reports since 2031-01-01 (America/Los_Angeles)."


def test_stats_command_on_an_empty_database(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    seed(cli_db, with_reports=False)
    assert main(["stats"]) == 0
    assert capsys.readouterr().out.strip() == "No reports yet."
    assert main(["stats", "--csv"]) == 0
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert (rows[0]["section"], rows[0]["total"]) == ("total", "0")  # still a valid table
    assert captured.err.strip() == "No reports yet."


@pytest.mark.parametrize("bad", ["yesterday", "2024-13-01", "03/03/2024", ""])
def test_stats_command_refuses_a_bad_date(bad: str, cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["stats", "--since", bad])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"'{bad}' is not a date: use YYYY-MM-DD" in err
