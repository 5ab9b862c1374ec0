"""Reading and writing the knowledge base and service catalogue as YAML.

A bad file is refused whole, with the file, the line and the reason, so an
admin can fix it; nothing of a half-valid file is imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from knowledge.catalogue import (
    DATATYPES,
    Attribute,
    AttributeValue,
    Catalogue,
    Department,
    Service,
)
from knowledge.model import MAX_ANSWER_CHARS, SLUG, Entry, EntryLink, KnowledgeBase
from knowledge.training import (
    INTENTS,
    MAX_EXAMPLE_CHARS,
    NOT_EMERGENCY,
    PAST_OR_NEGATED,
    TrainingData,
)

SAMPLE_DIR = Path(__file__).with_name("sample")
FAQ_FILE = "faq.yaml"
SERVICES_FILE = "services.yaml"
TRAINING_FILE = "training.yaml"


class ContentError(ValueError):
    """A content file is wrong; `str()` is `file:line: reason`."""

    def __init__(self, path: Path | str, line: int | None, reason: str, field: str | None = None) -> None:
        # `field`: the key the reason is about, so a form can show it beside that field.
        self.path, self.line, self.reason, self.field = str(path), line, reason, field
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {reason}")


class _LineLoader(yaml.SafeLoader):
    """Remembers the line where each mapping starts, under the key `__line__`."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping: dict[str, Any] = {str(k): v for k, v in loader.construct_mapping(node, deep=True).items()}
    mapping["__line__"] = node.start_mark.line + 1
    # The line of each item of a list value, so a bad example is named by its own line.
    mapping["__items__"] = {
        str(key.value): [item.start_mark.line + 1 for item in value.value]
        for key, value in node.value
        if isinstance(key, yaml.ScalarNode) and isinstance(value, yaml.SequenceNode)
    }
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContentError(path, None, "file not found") from None
    except UnicodeDecodeError:
        raise ContentError(path, None, "not UTF-8 text") from None
    try:
        data = yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ContentError(path, line, f"not valid YAML: {exc.problem}") from None
    if not isinstance(data, dict):
        raise ContentError(path, 1, "expected a mapping at the top of the file")
    return data


@dataclass(slots=True)
class _Ctx:
    path: Path

    def fail(self, node: Any, reason: str, field: str | None = None) -> ContentError:
        line = node.get("__line__") if isinstance(node, dict) else None
        return ContentError(self.path, line, reason, field)

    def text(self, node: dict[str, Any], key: str, *, required: bool = True, limit: int = 5000) -> str:
        value = node.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise self.fail(node, f"'{key}' is missing", key)
            return ""
        if not isinstance(value, str | int | float):
            raise self.fail(node, f"'{key}' must be text", key)
        value = str(value).strip()
        if len(value) > limit:
            raise self.fail(node, f"'{key}' is {len(value)} characters; at most {limit}", key)
        return value

    def texts(self, node: dict[str, Any], key: str) -> tuple[str, ...]:
        value = node.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            raise self.fail(node, f"'{key}' must be a list of texts", key)
        return tuple(str(v).strip() for v in value if str(v).strip())


def load_knowledge(path: Path) -> KnowledgeBase:
    data = _read(path)
    ctx = _Ctx(path)
    groups = data.get("synonyms") or []
    if not isinstance(groups, list):
        raise ctx.fail(data, "'synonyms' must be a list of lists of words")
    synonyms = []
    for group in groups:
        if (
            not isinstance(group, list)
            or len(group) < 2
            or not all(isinstance(w, str | int) and str(w).strip() for w in group)
        ):
            raise ContentError(path, None, f"synonym group {group!r} must list two or more words")
        synonyms.append(tuple(str(w).strip() for w in group))
    raw_entries = data.get("entries")
    if not isinstance(raw_entries, list):
        raise ctx.fail(data, "'entries' must be a list")
    entries: list[Entry] = []
    seen: dict[str, int] = {}
    for node in raw_entries:
        if not isinstance(node, dict):
            raise ContentError(path, None, "each entry must be a mapping")
        entry = _entry(ctx, node)
        if entry.id in seen:
            raise ctx.fail(node, f"id '{entry.id}' is used twice (first on line {seen[entry.id]})")
        seen[entry.id] = node["__line__"]
        entries.append(entry)
    return KnowledgeBase(tuple(entries), tuple(synonyms))


def entry_from_mapping(node: dict[str, Any], where: str = "form") -> Entry:
    """One entry checked as `kb import` checks it (a form's fields, a YAML mapping); a
    ContentError names the `field` at fault."""
    return _entry(_Ctx(Path(where)), node)


def _entry(ctx: _Ctx, node: dict[str, Any]) -> Entry:
    entry_id = ctx.text(node, "id", limit=100)
    if not SLUG.match(entry_id):
        raise ctx.fail(node, f"id '{entry_id}' must be a slug: lower-case letters, digits, '-'", "id")
    links = []
    for link in node.get("links") or []:
        if not isinstance(link, dict):
            raise ctx.fail(node, "each link needs a title and a url", "links")
        try:
            url = ctx.text(link, "url", limit=500)
            title = ctx.text(link, "title", limit=200)
        except ContentError as exc:
            raise ctx.fail(link, f"link: {exc.reason}", "links") from None
        if not url.startswith(("https://", "http://", "tel:", "mailto:")):
            raise ctx.fail(
                link, f"link url '{url}' must start with https://, http://, tel: or mailto:", "links"
            )
        links.append(EntryLink(title, url))
    active = node.get("active", True)
    if not isinstance(active, bool):
        raise ctx.fail(node, "'active' must be true or false", "active")
    return Entry(
        id=entry_id,
        question=ctx.text(node, "question", limit=500),
        answer=ctx.text(node, "answer", limit=MAX_ANSWER_CHARS),
        alternatives=ctx.texts(node, "alternatives"),
        tags=ctx.texts(node, "tags"),
        links=tuple(links),
        service=ctx.text(node, "service", required=False, limit=100) or None,
        active=active,
        author=ctx.text(node, "author", required=False, limit=200) or None,
    )


def load_catalogue(path: Path) -> Catalogue:
    data = _read(path)
    ctx = _Ctx(path)
    departments = []
    for node in data.get("departments") or []:
        if not isinstance(node, dict):
            raise ContentError(path, None, "each department must be a mapping")
        departments.append(
            Department(
                ctx.text(node, "name", limit=200), ctx.text(node, "slack_channel", required=False) or None
            )
        )
    groups = tuple(str(g) for g in data.get("groups") or [])
    raw = data.get("services")
    if not isinstance(raw, list):
        raise ctx.fail(data, "'services' must be a list")
    services: list[Service] = []
    seen: set[str] = set()
    for node in raw:
        if not isinstance(node, dict):
            raise ContentError(path, None, "each service must be a mapping")
        service = _service(ctx, node)
        if departments and service.department not in {"", *(d.name for d in departments)}:
            raise ctx.fail(node, f"department '{service.department}' is not in the file's departments")
        if service.code in seen:
            raise ctx.fail(node, f"service code '{service.code}' is used twice")
        seen.add(service.code)
        services.append(service)
    return Catalogue(tuple(services), tuple(departments), groups)


def _service(ctx: _Ctx, node: dict[str, Any]) -> Service:
    code = ctx.text(node, "code", limit=100)
    if not SLUG.match(code):
        raise ctx.fail(node, f"code '{code}' must be a slug: lower-case letters, digits, '-'")
    days = node.get("typical_days")
    if days is not None and (not isinstance(days, int) or days < 0):
        raise ctx.fail(node, "'typical_days' must be a whole number of days")
    attributes: list[Attribute] = []
    for q in node.get("questions") or []:
        if not isinstance(q, dict):
            raise ctx.fail(node, "each question must be a mapping")
        attributes.append(_question(ctx, q, len(attributes) + 1))
    question_codes = [a.code for a in attributes]
    for twice in {c for c in question_codes if question_codes.count(c) > 1}:
        raise ctx.fail(node, f"question code '{twice}' is used twice in service '{code}'")
    return Service(
        code=code,
        name=ctx.text(node, "name", limit=200),
        description=ctx.text(node, "description", required=False, limit=1000),
        group=ctx.text(node, "group", required=False, limit=200),
        department=ctx.text(node, "department", required=False, limit=200),
        keywords=ctx.texts(node, "keywords"),
        typical_days=days,
        attributes=tuple(sorted(attributes, key=lambda a: a.order)),
        active=bool(node.get("active", True)),
    )


ATTRIBUTE_CODE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def value_json(value: AttributeValue) -> dict[str, Any]:
    """A list value as the catalogue's YAML and the database hold it."""
    return {
        "key": value.key,
        "name": value.name,
        **({"aliases": list(value.aliases)} if value.aliases else {}),
    }


def _question(ctx: _Ctx, q: dict[str, Any], default_order: int) -> Attribute:
    code = ctx.text(q, "code", limit=100)
    if not ATTRIBUTE_CODE.match(code):
        raise ctx.fail(q, f"question code '{code}' may only use letters, digits, '_' and '-'")
    datatype = ctx.text(q, "datatype", limit=20) if "datatype" in q else ctx.text(q, "type")
    if datatype not in DATATYPES:
        raise ctx.fail(q, f"datatype '{datatype}' must be one of {', '.join(sorted(DATATYPES))}")
    values = []
    for v in q.get("values") or []:
        if isinstance(v, dict):
            aliases = ctx.texts(v, "aliases")
            if any(len(a) > 100 for a in aliases):
                raise ctx.fail(q, f"question '{code}': an alias is longer than 100 characters")
            values.append(
                AttributeValue(ctx.text(v, "key", limit=100), ctx.text(v, "name", limit=200), aliases)
            )
        elif isinstance(v, str | int | bool):
            word = ("yes" if v else "no") if isinstance(v, bool) else str(v)  # YAML reads "yes" as true
            values.append(AttributeValue(word, word))
        else:
            raise ctx.fail(q, f"question '{code}': each value is a text or a {{key, name}} mapping")
    keys = [v.key for v in values]
    if len(set(keys)) != len(keys):
        raise ctx.fail(q, f"question '{code}' lists the same value key twice")
    if datatype.endswith("valuelist") and not values:
        raise ctx.fail(q, f"question '{code}' is a list but has no values")
    required = q.get("required", False)
    if not isinstance(required, bool):
        raise ctx.fail(q, f"question '{code}': 'required' must be true or false")
    order = q.get("order", default_order)
    if not isinstance(order, int) or isinstance(order, bool):
        raise ctx.fail(q, f"question '{code}': 'order' must be a whole number")
    return Attribute(
        code=code,
        datatype=datatype,
        description=ctx.text(q, "description", required=False, limit=500)
        or code.replace("_", " ").capitalize() + "?",
        required=required,
        order=order,
        values=tuple(values),
    )


def load_training(path: Path, *, services: set[str] | None = None) -> TrainingData:
    """`training.yaml`: examples per intent, per service and per emergency kind, look-alikes
    and past or negated mentions. With `services`, every service named must exist."""
    data = _read(path)
    ctx = _Ctx(path)
    if not _is_training(data):
        raise ctx.fail(data, "expected 'intents', 'reports' or 'emergencies' at the top")
    intents = _labelled_lists(ctx, data, "intents")
    for label in intents:
        if label not in INTENTS:
            raise ctx.fail(data["intents"], f"unknown intent '{label}'; known: {', '.join(INTENTS)}")
    examples_by_service = _labelled_lists(ctx, data, "reports")
    for code in examples_by_service:
        if not SLUG.match(code):
            raise ctx.fail(data["reports"], f"service code '{code}' must be a slug")
        if services is not None and code not in services:
            raise ctx.fail(data["reports"], f"service '{code}' is not in the service catalogue")
    emergencies: dict[str, tuple[str, ...]] = {}
    advice: dict[str, str] = {}
    raw = data.get("emergencies") or {}
    if not isinstance(raw, dict):
        raise ctx.fail(data, "'emergencies' must map each kind to its advice and examples")
    for kind, node in raw.items():
        if kind.startswith("__"):
            continue
        if not SLUG.match(kind.replace("_", "-")):
            raise ctx.fail(raw, f"emergency kind '{kind}' must be a word like fire or self_harm")
        if not isinstance(node, dict):
            raise ctx.fail(raw, f"emergency kind '{kind}' needs 'advice' and 'examples'")
        advice[kind] = ctx.text(node, "advice", limit=500)
        emergencies[kind] = _examples(ctx, node, "examples")
        if not emergencies[kind]:
            raise ctx.fail(node, f"emergency kind '{kind}' has no examples")
    return TrainingData(
        intents,
        examples_by_service,
        emergencies,
        _examples(ctx, data, NOT_EMERGENCY),
        _examples(ctx, data, PAST_OR_NEGATED),
        advice,
    )


_TRAINING_KEYS = ("intents", "reports", "emergencies", NOT_EMERGENCY, PAST_OR_NEGATED)


def _is_training(data: dict[str, Any]) -> bool:
    return any(k in data for k in _TRAINING_KEYS)


def _labelled_lists(ctx: _Ctx, data: dict[str, Any], key: str) -> dict[str, tuple[str, ...]]:
    node = data.get(key) or {}
    if not isinstance(node, dict):
        raise ctx.fail(data, f"'{key}' must map each label to a list of examples")
    return {label: _examples(ctx, node, label) for label in node if not label.startswith("__")}


def _examples(ctx: _Ctx, node: dict[str, Any], key: str) -> tuple[str, ...]:
    value = node.get(key) or []
    lines = node.get("__items__", {}).get(key, [])
    if not isinstance(value, list):
        raise ctx.fail(node, f"'{key}' must be a list of example messages")
    out: list[str] = []
    seen: dict[str, int] = {}
    for n, item in enumerate(value):
        line = lines[n] if n < len(lines) else node.get("__line__")
        if not isinstance(item, str | int | float) or isinstance(item, bool) or not str(item).strip():
            raise ContentError(ctx.path, line, f"'{key}': each example must be a non-empty text")
        text = " ".join(str(item).split())
        if len(text) > MAX_EXAMPLE_CHARS:
            raise ContentError(
                ctx.path, line, f"'{key}': an example is {len(text)} characters; at most {MAX_EXAMPLE_CHARS}"
            )
        folded = text.lower()
        if folded in seen:
            continue  # the same example twice teaches nothing; keep the first
        seen[folded] = line or 0
        out.append(text)
    return tuple(out)


def dump_training(data: TrainingData, path: Path) -> None:
    """Write training data in the form `load_training` reads."""
    out: dict[str, Any] = {
        "intents": {label: list(texts) for label, texts in data.intents.items()},
        "reports": {code: list(texts) for code, texts in data.services.items()},
        "emergencies": {
            kind: {"advice": data.advice.get(kind, ""), "examples": list(texts)}
            for kind, texts in data.emergencies.items()
        },
        NOT_EMERGENCY: list(data.not_emergency),
        PAST_OR_NEGATED: list(data.past_or_negated),
    }
    path.write_text(yaml.safe_dump(out, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")


def dump_knowledge(kb: KnowledgeBase, path: Path) -> None:
    entries = []
    for e in kb.entries:
        item: dict[str, Any] = {
            "id": e.id,
            "question": e.question,
            "alternatives": list(e.alternatives),
            "answer": e.answer,
            "tags": list(e.tags),
            "links": [{"title": x.title, "url": x.url} for x in e.links],
            "service": e.service,
        }
        if not e.active:
            item["active"] = False
        if e.author:
            item["author"] = e.author
        entries.append(item)
    data = {"synonyms": [list(g) for g in kb.synonyms], "entries": entries}
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")


def dump_catalogue(catalogue: Catalogue, path: Path) -> None:
    """Write the catalogue in the form `load_catalogue` reads, so export → edit → import
    round-trips without loss."""
    services = []
    for s in catalogue.services:
        item: dict[str, Any] = {
            "code": s.code,
            "name": s.name,
            "description": s.description,
            "group": s.group,
            "department": s.department,
            "typical_days": s.typical_days,
            "keywords": list(s.keywords),
        }
        if s.attributes:
            item["questions"] = [
                {
                    "code": a.code,
                    "datatype": a.datatype,
                    "required": a.required,
                    "order": a.order,
                    "description": a.description,
                    **({"values": [value_json(v) for v in a.values]} if a.values else {}),
                }
                for a in s.attributes
            ]
        if not s.active:
            item["active"] = False
        services.append(item)
    data = {
        "departments": [{"name": d.name, "slack_channel": d.slack_channel} for d in catalogue.departments],
        "groups": list(catalogue.groups),
        "services": services,
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Content:
    """What one import brings: a knowledge base, a catalogue, or both."""

    knowledge: KnowledgeBase | None = None
    catalogue: Catalogue | None = None
    training: TrainingData | None = None


def load_content(path: Path, *, services: set[str] | None = None) -> Content:
    """A directory (its faq.yaml, services.yaml and training.yaml) or one YAML file,
    recognised by its top-level keys: `entries` (knowledge base), `services` (catalogue),
    `intents`, `reports` or `emergencies` (training examples). Service codes named by
    training examples are checked against the file's own catalogue, else `services`."""
    if path.is_dir():
        faq, catalogue_file, training = path / FAQ_FILE, path / SERVICES_FILE, path / TRAINING_FILE
        if not any(p.exists() for p in (faq, catalogue_file, training)):
            raise ContentError(
                path, None, f"no {FAQ_FILE}, {SERVICES_FILE} or {TRAINING_FILE} in this folder"
            )
        catalogue = load_catalogue(catalogue_file) if catalogue_file.exists() else None
        known = {s.code for s in catalogue.services} if catalogue else services
        return Content(
            load_knowledge(faq) if faq.exists() else None,
            catalogue,
            load_training(training, services=known) if training.exists() else None,
        )
    data = _read(path)
    if "entries" not in data and "services" not in data and not _is_training(data):
        raise ContentError(
            path,
            1,
            "expected 'entries' (knowledge base), 'services' (service catalogue) or "
            "'intents'/'reports'/'emergencies' (training examples) at the top",
        )
    catalogue = load_catalogue(path) if "services" in data else None
    known = {s.code for s in catalogue.services} if catalogue else services
    return Content(
        load_knowledge(path) if "entries" in data else None,
        catalogue,
        load_training(path, services=known) if _is_training(data) else None,
    )


def load_sample(directory: Path = SAMPLE_DIR) -> Content:
    """The bundled sample city: knowledge base, service catalogue and training examples."""
    return Content(
        load_knowledge(directory / FAQ_FILE),
        load_catalogue(directory / SERVICES_FILE),
        load_training(directory / TRAINING_FILE),
    )
