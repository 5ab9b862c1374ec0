"""The service catalogue: the kinds of problem residents can report (Open311 services)."""

from __future__ import annotations

from dataclasses import dataclass

DATATYPES = frozenset({"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"})


@dataclass(frozen=True, slots=True)
class AttributeValue:
    """One answer to a list question. `aliases` are other words residents use for it
    ("couch" for furniture), so an answer they already gave in their description can
    be filled in for them to confirm."""

    key: str
    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Attribute:
    """One of a service's own questions (an Open311 attribute)."""

    code: str
    datatype: str
    description: str
    required: bool = False
    order: int = 0
    values: tuple[AttributeValue, ...] = ()


@dataclass(frozen=True, slots=True)
class Service:
    code: str
    name: str
    description: str = ""
    group: str = ""
    department: str = ""
    keywords: tuple[str, ...] = ()
    typical_days: int | None = None
    attributes: tuple[Attribute, ...] = ()
    active: bool = True

    def search_text(self) -> str:
        return " ".join((self.name, self.description, *self.keywords))


@dataclass(frozen=True, slots=True)
class Department:
    name: str
    slack_channel: str | None = None


@dataclass(frozen=True, slots=True)
class Catalogue:
    services: tuple[Service, ...] = ()
    departments: tuple[Department, ...] = ()
    groups: tuple[str, ...] = ()

    def get(self, code: str) -> Service | None:
        return next((s for s in self.services if s.code == code), None)
