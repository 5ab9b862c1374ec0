"""Editing the service catalogue from the admin pages: services and the departments that
work their reports, with the Slack channel each department's new reports go to.

A service is checked by the loader's own rules for a service of `services.yaml` (its
questions are written as in that file, in YAML), so a page can save nothing `kb import`
would refuse. Every save moves the content revision (the catalogue is part of what each
process understands) and writes its audit row, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin import audit
from bot.content import catalogue_store
from bot.content.revision import bump_revision
from bot.models import DepartmentRow, ServiceRow
from bot.settings import _SLACK_CHANNEL as SLACK_CHANNEL
from knowledge import loader
from knowledge.catalogue import Attribute, Service
from knowledge.loader import ContentError, value_json

LABELS = {
    "code": "Code",
    "name": "Name",
    "description": "Description",
    "group": "Group",
    "department": "Department",
    "typical_days": "Typical days",
    "keywords": "Keywords",
    "questions": "Questions",
    "slack_channel": "Slack channel",
}
MAX_CHANNEL_CHARS = 100  # departments.slack_channel


class Refused(ValueError):
    """A form the rules refuse; `errors` maps each field at fault to what to change."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def _sentence(reason: str) -> str:
    for key, label in LABELS.items():
        reason = reason.replace(f"'{key}'", label)
    return reason[:1].upper() + reason[1:] + ("" if reason.endswith(".") else ".")


# --- questions as YAML -------------------------------------------------------------------


class _Flow(dict[str, Any]):
    """A list value, written on one line as services.yaml writes it."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Flow, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)
)


def questions_yaml(attributes: tuple[Attribute, ...]) -> str:
    if not attributes:
        return ""
    items = [
        {
            "code": a.code,
            "datatype": a.datatype,
            "required": a.required,
            "order": a.order,
            "description": a.description,
            **({"values": [_Flow(value_json(v)) for v in a.values]} if a.values else {}),
        }
        for a in attributes
    ]
    return yaml.dump(items, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def _questions(text: str) -> list[Any]:
    """The questions field read as the loader reads a file, each mapping with its line."""
    if not text.strip():
        return []
    try:
        # The loader's own YAML reader: an error names the line of the question at fault.
        data = yaml.load(text, Loader=loader._LineLoader)  # a SafeLoader that keeps lines
    except yaml.MarkedYAMLError as exc:
        line = f"line {exc.problem_mark.line + 1}: " if exc.problem_mark else ""
        raise Refused({"questions": f"The questions are not valid YAML ({line}{exc.problem})."}) from None
    if not isinstance(data, list):
        raise Refused({"questions": "Write the questions as a YAML list: each starts with “- code: …”."})
    return data


# --- services ----------------------------------------------------------------------------


@dataclass(slots=True)
class ServiceForm:
    """What the service editor's fields hold, as typed: kept whole when a save is refused."""

    code: str = ""
    name: str = ""
    description: str = ""
    group: str = ""
    department: str = ""
    typical_days: str = ""
    keywords: str = ""  # one per line
    questions: str = ""  # YAML, as under `questions:` in services.yaml
    active: bool = True
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, service: Service) -> ServiceForm:
        return cls(
            code=service.code,
            name=service.name,
            description=service.description,
            group=service.group,
            department=service.department,
            typical_days="" if service.typical_days is None else str(service.typical_days),
            keywords="\n".join(service.keywords),
            questions=questions_yaml(service.attributes),
            active=service.active,
        )

    def mapping(self) -> dict[str, Any]:
        """The fields as the loader reads a service; what cannot even be read is refused."""
        days: int | str | None = self.typical_days.strip() or None
        if isinstance(days, str) and days.isdigit():
            days = int(days)
        return {
            "code": self.code.strip(),
            "name": self.name,
            "description": self.description,
            "group": self.group,
            "department": self.department,
            "typical_days": days,
            "keywords": [k.strip() for k in self.keywords.splitlines() if k.strip()],
            "questions": _questions(self.questions),
            "active": self.active,
        }


def _field_of(exc: ContentError) -> str:
    """Which field a loader error is about. Only the questions' mappings carry a line."""
    if exc.line is not None:
        return "questions"
    if exc.field:
        return exc.field
    if exc.reason.startswith("code "):
        return "code"
    if "typical_days" in exc.reason:
        return "typical_days"
    return "questions"


def _service_of(node: dict[str, Any]) -> Service:
    """One service checked as `kb import` checks one in services.yaml."""
    return loader._service(loader._Ctx(Path("form")), node)


async def department_names(session: AsyncSession) -> list[str]:
    query = select(DepartmentRow.name).order_by(DepartmentRow.position, DepartmentRow.name)
    return list((await session.scalars(query)).all())


async def check_service(session: AsyncSession, form: ServiceForm, *, creating: bool) -> Service:
    form.errors = {}
    try:
        service = _service_of(form.mapping())
    except Refused as refused:
        form.errors = refused.errors
        raise
    except ContentError as exc:
        where = f"Line {exc.line} of the questions: " if exc.line is not None else ""
        reason = _sentence(exc.reason)
        form.errors[_field_of(exc)] = where + (reason[:1].lower() + reason[1:] if where else reason)
        raise Refused(form.errors) from None
    departments = await department_names(session)
    if service.department and service.department not in departments:
        form.errors["department"] = f"There is no department “{service.department}”. Add it first."
    if creating and service.code == "new":
        form.errors["code"] = "“new” is the address of the new-service page. Choose another code."
    elif creating and await session.get(ServiceRow, service.code) is not None:
        form.errors["code"] = f"There is already a service '{service.code}'. Choose another code."
    if form.errors:
        raise Refused(form.errors)
    return service


def _values(service: Service) -> dict[str, Any]:
    return catalogue_store.row_values(service)


async def create_service(session: AsyncSession, form: ServiceForm, *, author: str, now: datetime) -> Service:
    service = await check_service(session, form, creating=True)
    last = await session.scalar(select(func.max(ServiceRow.position)))
    session.add(
        ServiceRow(code=service.code, updated_at=now, position=int(last or 0) + 1, **_values(service))
    )
    audit.record(session, author, "service.create", service.code, now=now, name=service.name)
    await bump_revision(session)
    return service


async def update_service(
    session: AsyncSession, code: str, form: ServiceForm, *, author: str, now: datetime
) -> bool:
    """False when nothing changed (no audit row, nothing rebuilt)."""
    row = await session.get(ServiceRow, code)
    if row is None:
        raise LookupError(f"there is no service '{code}'")
    form.code = code
    service = await check_service(session, form, creating=False)
    values = _values(service)
    changed = [key for key, value in values.items() if getattr(row, key) != value]
    if not changed:
        return False
    for key in changed:
        setattr(row, key, values[key])
    row.updated_at = now
    audit.record(session, author, "service.edit", code, now=now, fields=changed)
    await bump_revision(session)
    return True


# --- departments -------------------------------------------------------------------------


@dataclass(slots=True)
class DepartmentForm:
    name: str = ""
    slack_channel: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def _channel(form: DepartmentForm) -> str | None:
    channel = form.slack_channel.strip()
    if not channel:
        return None
    if channel.startswith("#") or not SLACK_CHANNEL.fullmatch(channel):
        form.errors["slack_channel"] = (
            f"“{channel[:40]}” is not a Slack channel id. Use the id, such as C0123ABCD: "
            "Slack shows it at the bottom of the channel's details."
        )
    return channel[:MAX_CHANNEL_CHARS]


async def add_department(session: AsyncSession, form: DepartmentForm, *, author: str, now: datetime) -> str:
    form.errors = {}
    name = " ".join(form.name.split())
    if not name:
        form.errors["name"] = "Name the department."
    elif len(name) > 200:
        form.errors["name"] = f"The name is {len(name)} characters; at most 200."
    elif name.lower() in {n.lower() for n in await department_names(session)}:
        form.errors["name"] = f"There is already a department “{name}”."
    channel = _channel(form)
    if form.errors:
        raise Refused(form.errors)
    last = await session.scalar(select(func.max(DepartmentRow.position)))
    session.add(DepartmentRow(name=name, slack_channel=channel, position=int(last or 0) + 1))
    audit.record(session, author, "department.add", name, now=now, slack_channel=channel)
    await bump_revision(session)
    return name


async def set_channel(session: AsyncSession, form: DepartmentForm, *, author: str, now: datetime) -> bool:
    form.errors = {}
    row = await session.get(DepartmentRow, form.name)
    if row is None:
        raise LookupError(f"there is no department '{form.name}'")
    channel = _channel(form)
    if form.errors:
        raise Refused(form.errors)
    if row.slack_channel == channel:
        return False
    before, row.slack_channel = row.slack_channel, channel
    audit.record(session, author, "department.channel", row.name, now=now, before=before, after=channel)
    await bump_revision(session)
    return True


async def departments(session: AsyncSession) -> list[DepartmentRow]:
    query = select(DepartmentRow).order_by(DepartmentRow.position, DepartmentRow.name)
    return list((await session.scalars(query)).all())


async def department_use(session: AsyncSession) -> dict[str, int]:
    """How many services each department works."""
    counts: dict[str, int] = {}
    for name in (await session.scalars(select(ServiceRow.department))).all():
        counts[name] = counts.get(name, 0) + 1
    return counts


async def services_of(session: AsyncSession, department: str) -> list[str]:
    query = select(ServiceRow.name).where(ServiceRow.department == department).order_by(ServiceRow.name)
    return list((await session.scalars(query)).all())


async def remove_department(session: AsyncSession, name: str, *, author: str, now: datetime) -> None:
    """Only a department no service names: a service's reports must have somewhere to go."""
    row = await session.get(DepartmentRow, name)
    if row is None:
        raise LookupError(f"there is no department '{name}'")
    using = await services_of(session, name)
    if using:
        raise Refused(
            {
                "remove": f"{name} still handles {len(using)} "
                f"{'service' if len(using) == 1 else 'services'} ({', '.join(using[:5])}"
                f"{', …' if len(using) > 5 else ''}): give them another department first."
            }
        )
    await session.delete(row)
    audit.record(session, author, "department.remove", name, now=now, slack_channel=row.slack_channel)
    await bump_revision(session)
