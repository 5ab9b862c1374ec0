"""Our report statuses in Open311's words, both ways.

GeoReport v2 knows only `open` and `closed`; mySociety's extension (used by
FixMyStreet and many council back ends) adds finer states. Ours map onto them
so that a state posted by another system reads back as the same state.
"""

from __future__ import annotations

# Extended state (upper case, as the extension spells it) -> (our status, our close reason).
FROM_EXTENDED: dict[str, tuple[str, str | None]] = {
    "OPEN": ("open", None),
    "INVESTIGATING": ("acknowledged", None),
    "ACKNOWLEDGED": ("acknowledged", None),
    "ACTION_SCHEDULED": ("in_progress", None),
    "IN_PROGRESS": ("in_progress", None),
    "CLOSED": ("closed", None),
    "FIXED": ("closed", "fixed"),
    "DUPLICATE": ("closed", "duplicate"),
    "NOT_COUNCILS_RESPONSIBILITY": ("closed", "not_city_responsibility"),
    "NOT_CITY_RESPONSIBILITY": ("closed", "not_city_responsibility"),
    "NO_FURTHER_ACTION": ("closed", "no_further_action"),
}

_TO_EXTENDED_OPEN = {"open": "OPEN", "acknowledged": "INVESTIGATING", "in_progress": "IN_PROGRESS"}
_TO_EXTENDED_CLOSED = {
    "fixed": "FIXED",
    "duplicate": "DUPLICATE",
    "not_city_responsibility": "NOT_COUNCILS_RESPONSIBILITY",
    "no_further_action": "NO_FURTHER_ACTION",
}

# What `status=open` / `status=closed` select among our statuses.
OPEN_STATUSES = ("open", "acknowledged", "in_progress")
CLOSED_STATUSES = ("closed",)


def simple(status: str) -> str:
    """GeoReport v2's status: acknowledged and in-progress reports are still open."""
    return "closed" if status in CLOSED_STATUSES else "open"


def extended(status: str, close_reason: str | None) -> str:
    if status in CLOSED_STATUSES:
        return _TO_EXTENDED_CLOSED.get(close_reason or "", "CLOSED")
    return _TO_EXTENDED_OPEN.get(status, "OPEN")


def parse_extended(raw: str) -> tuple[str, str | None] | None:
    """'FIXED', 'fixed', 'in progress', 'In-Progress' -> (status, reason); None if unknown."""
    key = raw.strip().upper().replace(" ", "_").replace("-", "_")
    return FROM_EXTENDED.get(key)
