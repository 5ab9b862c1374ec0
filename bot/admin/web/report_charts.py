"""The statistics page's figures and charts. The tallies are `civic311 stats`'s own
(`bot.reporting.stats.report_stats`: per service, per street or area, medians found in the
database), so the page and the command never disagree; only the weekly counts are new,
one grouped select over the last weeks.

Every chart comes with the figures it draws, as rows for a table the page shows beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin.web.report_filters import Filters, place_words
from bot.admin.web.report_queries import service_names, week_starts, weekly_counts
from bot.admin.web.svg_charts import Bar, bar_chart, column_chart, spark
from bot.reporting.stats import PlaceStats, report_stats

WEEKS = 12
PLACES_DRAWN = 15  # the busiest streets and areas in the chart; the CSV has every one


@dataclass(frozen=True, slots=True)
class ServiceWeeks:
    name: str
    counts: list[int]
    link: str  # the list of its reports of these weeks
    spark: Markup

    @property
    def total(self) -> int:
        return sum(self.counts)


def _week_label(moment: datetime) -> str:
    return f"{moment.day} {moment:%b}"


def _days(value: float) -> str:
    return f"{value:.1f} day" + ("" if value == 1 else "s")


def place_key_of(place: PlaceStats) -> str:
    return "none" if place.kind == "none" else f"{place.kind}:{place.label}"


def _list_link(**filters: str) -> str:
    return "/admin/reports?" + Filters(typed=filters).query()


async def stats_context(
    session: AsyncSession, *, since: datetime | None, zone: tzinfo, today: date
) -> dict[str, Any]:
    stats = await report_stats(session, since=since, time_zone=zone)
    starts = week_starts(today, WEEKS, zone)
    counts = await weekly_counts(session, starts)
    names = await service_names(session)

    labels = [_week_label(s) for s in starts[:-1]]
    totals = [sum(c[i] for c in counts.values()) for i in range(WEEKS)]
    first, last = starts[0], starts[-2]
    weekly_chart = column_chart(
        [Bar(label, n, str(n)) for label, n in zip(labels, totals, strict=True)],
        ident="chart-weeks",
        title=f"Reports filed per week, the last {WEEKS} weeks",
        desc=(
            f"Weeks from Monday to Sunday, from the week of {first:%d %B %Y} "
            f"to this week (of {last:%d %B %Y}): "
            + ", ".join(f"{label}: {n}" for label, n in zip(labels, totals, strict=True))
            + "."
        ),
    )
    top = max((n for c in counts.values() for n in c), default=0)
    per_service = sorted(
        (
            ServiceWeeks(
                name=names.get(code, code),
                counts=c,
                link=_list_link(service=code, **{"from": first.strftime("%Y-%m-%d")}),
                spark=spark(
                    c,
                    top=top,
                    title=f"{names.get(code, code)}, reports per week, oldest first: "
                    + ", ".join(map(str, c)),
                ),
            )
            for code, c in counts.items()
        ),
        key=lambda row: (-row.total, row.name.lower()),
    )

    drawn = stats.places[:PLACES_DRAWN]
    places_chart = bar_chart(
        [Bar(place_words(place_key_of(p)), p.tally.total, str(p.tally.total)) for p in drawn],
        ident="chart-places",
        title=f"Reports per street or area, the {len(drawn)} busiest",
        desc="; ".join(f"{place_words(place_key_of(p))}: {p.tally.total}" for p in drawn) + ".",
    )
    places = [
        {
            "name": place_words(place_key_of(p)),
            "link": _list_link(area=place_key_of(p)),
            "tally": p.tally,
        }
        for p in drawn
    ]

    timed = [s for s in stats.services if s.tally.median_days_to_close is not None]
    close_chart = bar_chart(
        [
            Bar(
                s.name,
                s.tally.median_days_to_close or 0.0,
                f"{_days(s.tally.median_days_to_close or 0.0)} ({s.tally.closed} closed)",
            )
            for s in timed
        ],
        ident="chart-close",
        title="Median days from filing to closing, per service",
        desc="; ".join(
            f"{s.name}: {_days(s.tally.median_days_to_close or 0.0)}, of {s.tally.closed} closed"
            for s in timed
        )
        + ".",
    )
    return {
        "stats": stats,
        "week_labels": labels,
        "week_totals": totals,
        "weeks": WEEKS,
        "weekly_chart": weekly_chart,
        "per_service": per_service,
        "places_chart": places_chart,
        "places": places,
        "more_places": max(0, len(stats.places) - len(drawn)),
        "close_chart": close_chart,
        "timed": timed,
        "untimed": [s for s in stats.services if s.tally.median_days_to_close is None],
        "days": _days,
    }
