"""Median days to close per group of reports, found in the database without sorting.

Each group's closed reports are read along an index in order of `days_to_close`
(migration 0007), and only the middle one or two rows come back: LIMIT 1 or 2 at
OFFSET (n - 1) // 2, where n, the group's number of closed reports, is already known
from the grouped counts. That is a walk along half an index per group kind, never a
sort. SQLite's window functions (row_number over a partition) were the other way
that works on both databases; they materialise and re-sort every row and took about
ten times longer. PostgreSQL's percentile_cont would sort each group and interpolates
in SQL, which can differ in the last bit from the mean of the two middle values that
`statistics.median` takes; here the two values are averaged in Python, as before.

The lookups of many groups go in one statement, a UNION ALL of bounded subqueries,
chunked under SQLite's limit of 500 terms in a compound select.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, literal_column, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import REPORT_TIMED, Report

CHUNK = 400  # subqueries per statement; SQLite allows 500 terms in a compound select
# Literal, as the partial indexes' WHERE: SQLite uses them only for the very same words.
TIMED_SQL = text(f"reports.{REPORT_TIMED}")


@dataclass(frozen=True, slots=True)
class Wanted:
    """The median of the closed reports matching `where` (with the common filters), of
    which there are `closed`."""

    where: ColumnElement[bool] | None
    closed: int


def _middle(
    position: int, wanted: Wanted, filters: Sequence[ColumnElement[bool]]
) -> Select[tuple[int, float]]:
    wheres = [TIMED_SQL, *filters, *([wanted.where] if wanted.where is not None else [])]
    rows = (
        select(Report.days_to_close.label("days"))
        .where(*wheres)
        .order_by(Report.days_to_close)
        .limit(2 - wanted.closed % 2)
        .offset((wanted.closed - 1) // 2)
        .subquery()
    )
    # The position is ours, an int: written into the SQL, since PostgreSQL cannot tell the
    # type of a bound parameter standing alone in a select list.
    return select(literal_column(str(int(position))).label("position"), rows.c.days)  # type: ignore[return-value]


async def medians(
    session: AsyncSession, wanted: Sequence[Wanted], filters: Sequence[ColumnElement[bool]] = ()
) -> list[float | None]:
    """The median of each wanted group, in order; None for a group with nothing closed."""
    middles: list[list[float]] = [[] for _ in wanted]
    asked = [(i, w) for i, w in enumerate(wanted) if w.closed > 0]
    for start in range(0, len(asked), CHUNK):
        parts = [_middle(i, w, filters) for i, w in asked[start : start + CHUNK]]
        statement = parts[0] if len(parts) == 1 else union_all(*parts)
        for position, days in (await session.execute(statement)).all():
            middles[position].append(days)
    return [statistics.median(values) if values else None for values in middles]
