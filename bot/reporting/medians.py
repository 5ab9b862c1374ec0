"""Median days to close per group of reports, found in the database without sorting.

Each group's closed reports are read along an index in order of `days_to_close`
(migration 0007), and only the middle one or two rows come back: LIMIT 1 or 2 at
OFFSET (n - 1) // 2, where n, the group's number of closed reports, is already known
from the grouped counts. That is a walk along half an index per kind of group, never
a sort. SQLite's window functions (row_number over a partition) were the other way
that works on both databases; they materialise and sort every row and took ten times
longer. PostgreSQL's percentile_cont would sort each group too, and it interpolates
in SQL, which can differ in the last bit from the mean of the two middle values that
`statistics.median` takes; here the two values are averaged in Python, as before.

The lookups of many groups (a city has thousands of streets) go in one statement, a
UNION ALL of bounded subqueries, chunked under SQLite's limit of 500 terms in a
compound select. The statement is written as text: SQLAlchemy's compiler took seconds
over a few thousand subqueries, and the text is the same on both databases.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import BindParameter, String, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import REPORT_TIMED, UTCDateTime

CHUNK = 400  # subqueries per statement; SQLite allows 500 terms in a compound select
GroupColumn = Literal["service_code", "close_reason", "place_key"]


@dataclass(frozen=True, slots=True)
class Wanted:
    """The median of the closed reports whose `column` is `value` (all closed reports when
    `column` is None), of which there are `closed`."""

    column: GroupColumn | None
    value: str | None
    closed: int


def _middle(position: int, wanted: Wanted, since: datetime | None) -> tuple[str, dict[str, Any]]:
    """One subquery, and its parameters. The column names are ours (`GroupColumn`) and the
    numbers are ints, so only the group's value is bound."""
    # The same words as the partial indexes' WHERE: SQLite uses them only then.
    wheres = [REPORT_TIMED]
    params: dict[str, Any] = {}
    if wanted.column is not None:
        if wanted.value is None:
            wheres.append(f"{wanted.column} IS NULL")
        else:
            wheres.append(f"{wanted.column} = :v{position}")
            params[f"v{position}"] = wanted.value
    if since is not None:
        wheres.append("created_at >= :since")
    limit, offset = 2 - wanted.closed % 2, (wanted.closed - 1) // 2
    sql = (
        f"SELECT {int(position)} AS position, days FROM (SELECT days_to_close AS days FROM reports"
        f" WHERE {' AND '.join(wheres)} ORDER BY days_to_close LIMIT {int(limit)} OFFSET {int(offset)})"
        f" AS middle_{int(position)}"
    )
    return sql, params


async def medians(
    session: AsyncSession, wanted: Sequence[Wanted], *, since: datetime | None = None
) -> list[float | None]:
    """The median of each wanted group, in order; None for a group with nothing closed."""
    middles: list[list[float]] = [[] for _ in wanted]
    asked = [(i, w) for i, w in enumerate(wanted) if w.closed > 0]
    for start in range(0, len(asked), CHUNK):
        parts = [_middle(i, w, since) for i, w in asked[start : start + CHUNK]]
        statement = text(" UNION ALL ".join(sql for sql, _ in parts))
        params: dict[str, Any] = {k: v for _, p in parts for k, v in p.items()}
        binds: list[BindParameter[Any]] = [bindparam(name, type_=String()) for name in params]
        if since is not None:
            binds.append(bindparam("since", type_=UTCDateTime()))
            params["since"] = since
        rows = await session.execute(statement.bindparams(*binds), params)
        for position, days in rows.all():
            middles[position].append(float(days))
    return [statistics.median(values) if values else None for values in middles]
