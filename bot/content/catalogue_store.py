"""The service catalogue in the database: what residents can report, and who handles it.

It lives beside the knowledge base and shares its revision counter, so an edit
(`kb import`, the admin pages) reaches every process's understanding and the
Open311 service list with the next request, without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content.revision import bump_revision
from bot.models import DepartmentRow, ServiceRow
from bot.timeutil import utcnow
from knowledge.catalogue import Attribute, AttributeValue, Catalogue, Department, Service
from knowledge.loader import value_json


@dataclass(frozen=True, slots=True)
class CatalogueImport:
    added: int
    updated: int
    unchanged: int
    departments: int


def attribute_json(attribute: Attribute) -> dict[str, Any]:
    return {
        "code": attribute.code,
        "datatype": attribute.datatype,
        "description": attribute.description,
        "required": attribute.required,
        "order": attribute.order,
        "values": [value_json(v) for v in attribute.values],
    }


def row_values(service: Service) -> dict[str, Any]:
    """A service's columns as stored (all but its code and its place in the list)."""
    return {
        "name": service.name,
        "description": service.description,
        "group_name": service.group,
        "department": service.department,
        "keywords": list(service.keywords),
        "typical_days": service.typical_days,
        "attributes": [attribute_json(a) for a in service.attributes],
        "active": service.active,
    }


def _attribute(raw: dict[str, Any]) -> Attribute:
    return Attribute(
        code=str(raw["code"]),
        datatype=str(raw["datatype"]),
        description=str(raw.get("description", "")),
        required=bool(raw.get("required", False)),
        order=int(raw.get("order", 0)),
        values=tuple(
            AttributeValue(str(v["key"]), str(v["name"]), tuple(str(a) for a in v.get("aliases", ())))
            for v in raw.get("values", [])
        ),
    )


def _service(row: ServiceRow) -> Service:
    return Service(
        code=row.code,
        name=row.name,
        description=row.description,
        group=row.group_name,
        department=row.department,
        keywords=tuple(row.keywords),
        typical_days=row.typical_days,
        attributes=tuple(sorted((_attribute(a) for a in row.attributes), key=lambda a: a.order)),
        active=row.active,
    )


async def load(session: AsyncSession) -> Catalogue:
    services = (
        await session.scalars(select(ServiceRow).order_by(ServiceRow.position, ServiceRow.code))
    ).all()
    departments = (
        await session.scalars(select(DepartmentRow).order_by(DepartmentRow.position, DepartmentRow.name))
    ).all()
    groups: list[str] = []
    for row in services:
        if row.group_name and row.group_name not in groups:
            groups.append(row.group_name)
    return Catalogue(
        tuple(_service(r) for r in services),
        tuple(Department(d.name, d.slack_channel) for d in departments),
        tuple(groups),
    )


async def is_empty(session: AsyncSession) -> bool:
    return await session.scalar(select(ServiceRow.code).limit(1)) is None


async def import_catalogue(session: AsyncSession, catalogue: Catalogue) -> CatalogueImport:
    """Upsert services by code and departments by name, in the file's order.

    Services the file does not mention are kept (reports refer to their codes);
    to retire one, import it with `active: false`."""
    now = utcnow()
    existing = {r.code: r for r in (await session.scalars(select(ServiceRow))).all()}
    group_rank = {g: n for n, g in enumerate(catalogue.groups)}
    ordered = sorted(
        enumerate(catalogue.services), key=lambda p: (group_rank.get(p[1].group, len(group_rank)), p[0])
    )
    added = updated = unchanged = 0
    for position, (_, service) in enumerate(ordered):
        values = {**row_values(service), "position": position}
        row = existing.get(service.code)
        if row is None:
            session.add(ServiceRow(code=service.code, updated_at=now, **values))
            added += 1
        elif any(getattr(row, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = now
            updated += 1
        else:
            unchanged += 1
    known = {d.name: d for d in (await session.scalars(select(DepartmentRow))).all()}
    for position, department in enumerate(catalogue.departments):
        row_d = known.get(department.name)
        if row_d is None:
            session.add(
                DepartmentRow(name=department.name, slack_channel=department.slack_channel, position=position)
            )
        else:
            row_d.slack_channel, row_d.position = department.slack_channel, position
    await bump_revision(session)
    return CatalogueImport(added, updated, unchanged, len(catalogue.departments))
