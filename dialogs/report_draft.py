"""A report being written: everything the resident has told so far.

It lives in the conversation's row (as JSON), never in process memory, so a
restart or another server in the middle of a report loses nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class Draft:
    service: str | None = None
    candidates: list[str] = field(default_factory=list)  # kinds offered, best first
    description: str | None = None
    photos: list[dict[str, str]] = field(default_factory=list)  # {"key", "content_type"}
    photos_done: bool = False
    lat: float | None = None
    lon: float | None = None
    place: str | None = None  # as the resident typed it (or None for a pin)
    place_label: str | None = None  # what we show back: a geocoder's name or "the pin you shared"
    place_hint: str | None = None  # a place named in the first message, offered as a choice
    duplicates_checked: bool = False
    nearby: list[str] = field(default_factory=list)  # numbers of open reports offered to follow
    answers: dict[str, Any] = field(default_factory=dict)  # attribute code -> value (None: skipped)
    picked: list[str] = field(default_factory=list)  # a multi-value answer being picked
    prefilled: list[str] = field(default_factory=list)  # questions whose picks came from the description
    group: str | None = None  # the group being browsed ("something else")

    @property
    def has_place(self) -> bool:
        return self.lat is not None or bool(self.place)

    def forget_place(self) -> None:
        self.lat = self.lon = None
        self.place = self.place_label = None
        self.duplicates_checked = False

    def choose_service(self, code: str) -> None:
        if code != self.service:
            self.answers, self.picked = {}, []
            self.duplicates_checked = False
        self.service = code

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Draft:
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)
