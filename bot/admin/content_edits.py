"""Editing the synonym groups and the training examples from the admin pages.

Both are lists the understanding is built from, not answers: a save is checked by the
rules `kb import` applies to a file (knowledge.loader), replaces what it edits in one
transaction with its audit row, and moves the content revision, so every process rebuilds
(and, for training, retrains) on its next message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin import audit
from bot.content.revision import bump_revision
from bot.models import EmergencyAdvice, ServiceRow, SynonymGroup, TrainingExample
from knowledge.model import SLUG
from knowledge.text import stem, words
from knowledge.training import (
    EMERGENCY,
    HUMAN,
    INTENTS,
    MAX_EXAMPLE_CHARS,
    NOT_EMERGENCY,
    OUT_OF_SCOPE,
    PAST_OR_NEGATED,
    REPORT,
    STATUS,
    STATUS_MINE,
    STATUS_STOP,
)

MAX_ADVICE_CHARS = 500  # as the loader reads `advice`
MAX_KIND_CHARS = 64  # kb_emergency_advice.kind
MAX_PROBLEMS = 3  # a form lists this many problems of one field, then how many more


class Refused(ValueError):
    """A form the rules refuse; `errors` maps each field at fault to what to change."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def _problems(found: list[str]) -> str:
    shown = " ".join(found[:MAX_PROBLEMS])
    more = len(found) - MAX_PROBLEMS
    return shown + (f" ({more} more like {'it' if more == 1 else 'these'} below.)" if more > 0 else "")


# --- synonyms ---------------------------------------------------------------------------


@dataclass(slots=True)
class SynonymsForm:
    """The groups as typed: one group a line, terms separated by commas."""

    text: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, groups: Sequence[Sequence[str]]) -> SynonymsForm:
        return cls("\n".join(", ".join(g) for g in groups))


def check_synonyms(form: SynonymsForm) -> list[tuple[str, ...]]:
    """The groups the form describes. As the loader: each group lists two or more words.
    Beyond it, a term in two groups is refused: only its first group would ever apply."""
    groups: list[tuple[str, ...]] = []
    problems: list[str] = []
    first_line: dict[tuple[str, ...], int] = {}
    for number, line in enumerate(form.text.splitlines(), 1):
        if not line.strip():
            continue
        terms = tuple(" ".join(t.split()) for t in line.split(",") if t.strip())
        if len(terms) < 2:
            problems.append(
                f"Line {number} (“{line.strip()[:60]}”) has one term: a group lists two or more, "
                "separated by commas."
            )
            continue
        for term in terms:
            key = tuple(stem(w) for w in words(term))
            if not key:
                problems.append(f"Line {number}: “{term}” has no letters or digits.")
            elif first_line.setdefault(key, number) != number:
                problems.append(
                    f"Line {number}: “{term}” is already in the group on line {first_line[key]}; "
                    "a term belongs to one group only."
                )
        groups.append(terms)
    if problems:
        form.errors = {"synonyms": _problems(problems)}
        raise Refused(form.errors)
    form.errors = {}
    return groups


async def synonym_groups(session: AsyncSession) -> list[tuple[str, ...]]:
    rows = (await session.scalars(select(SynonymGroup).order_by(SynonymGroup.id))).all()
    return [tuple(str(t) for t in r.terms) for r in rows]


async def save_synonyms(session: AsyncSession, form: SynonymsForm, *, author: str, now: datetime) -> bool:
    """Replace the synonym list, as `kb import` does. False when nothing changed."""
    groups = check_synonyms(form)
    before = await synonym_groups(session)
    if groups == before:
        return False
    await session.execute(delete(SynonymGroup))
    session.add_all(SynonymGroup(terms=list(g)) for g in groups)
    added = [", ".join(g) for g in groups if g not in before]
    removed = [", ".join(g) for g in before if g not in groups]
    audit.record(
        session,
        author,
        "synonyms.edit",
        f"{len(groups)} groups",
        now=now,
        added=added[:10],
        removed=removed[:10],
        groups=len(groups),
    )
    await bump_revision(session)
    return True


# --- training examples ------------------------------------------------------------------

INTENT_WORDS = {
    STATUS: "Asks about one report's status (its number)",
    STATUS_MINE: "Asks to see their own reports",
    STATUS_STOP: "Wants no more updates on a report",
    HUMAN: "Asks for a person",
    OUT_OF_SCOPE: "Something the city's 311 does not handle",
    "smalltalk.greeting": "Says hello",
    "smalltalk.thanks": "Says thanks",
    "smalltalk.bye": "Says goodbye",
    "smalltalk.about": "Asks what the bot is",
    "smalltalk.help": "Asks what the bot can do",
}
OTHER_WORDS = {
    NOT_EMERGENCY: "Look-alikes that must not bring up the 911 message, and ordinary answers at a step",
    PAST_OR_NEGATED: "An emergency that is over, negated or hypothetical: a soft reminder only",
}


@dataclass(frozen=True, slots=True)
class Label:
    label: str  # as stored: "status", "report:pothole", "emergency:fire", "not_emergency"
    group: str  # "intent" | "report" | "emergency" | "other" | "unknown" (stored, not accepted)
    title: str
    count: int = 0

    @property
    def name(self) -> str:
        """The part after "report:" or "emergency:": a service code or an emergency kind."""
        return self.label.split(":", 1)[1] if self.group in ("report", "emergency") else self.label


class UnknownLabel(LookupError):
    pass


def _kind_problem(kind: str) -> str | None:
    """Why `kind` cannot name an emergency kind (the loader's rule, and the column's width)."""
    if not SLUG.match(kind.replace("_", "-")) or kind.startswith("__"):
        return f"“{kind}” cannot name an emergency kind: use lower-case words like fire or self_harm."
    if len(kind) > MAX_KIND_CHARS:
        return f"An emergency kind is at most {MAX_KIND_CHARS} characters."
    return None


async def _services(session: AsyncSession) -> dict[str, str]:
    rows = (
        await session.execute(select(ServiceRow.code, ServiceRow.name).order_by(ServiceRow.position))
    ).all()
    return {code: name for code, name in rows}


def classify(label: str, services: dict[str, str]) -> Label:
    """The label as the loader would accept it (`services`: the catalogue's codes and
    names); UnknownLabel says why not. An emergency kind need not exist yet: saving its
    advice and examples creates it."""
    if label in INTENTS:
        return Label(label, "intent", INTENT_WORDS.get(label, label))
    if label in OTHER_WORDS:
        return Label(label, "other", OTHER_WORDS[label])
    if label.startswith(REPORT):
        code = label[len(REPORT) :]
        if code not in services:
            raise UnknownLabel(f"There is no service '{code}' in the catalogue.")
        return Label(label, "report", services[code])
    if label.startswith(EMERGENCY):
        kind = label[len(EMERGENCY) :]
        problem = _kind_problem(kind)
        if problem:
            raise UnknownLabel(problem)
        return Label(label, "emergency", kind.replace("_", " ").capitalize())
    raise UnknownLabel(
        f"'{label}' is not a training label: an intent ({', '.join(INTENTS)}), report:SERVICE, "
        f"emergency:KIND, {NOT_EMERGENCY} or {PAST_OR_NEGATED}."
    )


async def label_of(session: AsyncSession, label: str) -> Label:
    return classify(label, await _services(session))


async def labels(session: AsyncSession) -> list[Label]:
    """Every label there is or may be, with its count: each intent, each service of the
    catalogue, each emergency kind, the two others; and any stored label the loader would
    not accept now, so nothing is hidden."""
    counts: dict[str, int] = {}
    for (label,) in (await session.execute(select(TrainingExample.label))).all():
        counts[label] = counts.get(label, 0) + 1
    kinds = (await session.scalars(select(EmergencyAdvice.kind).order_by(EmergencyAdvice.kind))).all()
    services = await _services(session)
    emergencies = [EMERGENCY + k for k in kinds]
    emergencies += sorted(x for x in counts if x.startswith(EMERGENCY) and x not in emergencies)
    wanted = [*INTENTS, *(REPORT + code for code in services), *emergencies, NOT_EMERGENCY, PAST_OR_NEGATED]
    out: list[Label] = []
    for label in [*wanted, *(x for x in counts if x not in wanted)]:
        try:
            known = classify(label, services)
        except UnknownLabel:
            known = Label(label, "unknown", "Not a label the loader accepts: these examples teach nothing")
        out.append(Label(known.label, known.group, known.title, counts.get(label, 0)))
    return out


@dataclass(slots=True)
class TrainingForm:
    """One label's examples as typed (one a line) and, for an emergency kind, its advice."""

    label: str
    examples: str = ""
    advice: str = ""
    errors: dict[str, str] = field(default_factory=dict)


async def examples_of(session: AsyncSession, label: str) -> list[str]:
    query = select(TrainingExample.text).where(TrainingExample.label == label).order_by(TrainingExample.id)
    return list((await session.scalars(query)).all())


async def advice_of(session: AsyncSession, kind: str) -> str | None:
    row = await session.get(EmergencyAdvice, kind)
    return row.advice if row is not None else None


async def form_of(session: AsyncSession, label: Label) -> TrainingForm:
    advice = await advice_of(session, label.name) if label.group == "emergency" else None
    return TrainingForm(label.label, "\n".join(await examples_of(session, label.label)), advice or "")


def check_training(form: TrainingForm, label: Label) -> tuple[list[str], str | None]:
    """The examples (and advice) the form describes, by the loader's rules: each example a
    text of at most MAX_EXAMPLE_CHARS, spaces folded; an emergency kind has advice and at
    least one example. A blank line is no example. An example written twice is refused
    here (the loader keeps the first): the admin meant something by the second."""
    form.errors = {}
    texts: list[str] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(form.examples.splitlines(), 1):
        text = " ".join(raw.split())
        if not text:
            continue
        if len(text) > MAX_EXAMPLE_CHARS:
            problems.append(
                f"Line {number} is {len(text)} characters; an example is at most {MAX_EXAMPLE_CHARS}."
            )
        elif text.lower() in seen:
            problems.append(f"Line {number} (“{text[:60]}”) repeats line {seen[text.lower()]}: keep one.")
        else:
            seen[text.lower()] = number
            texts.append(text)
    if problems:
        form.errors["examples"] = _problems(problems)
    advice = None
    if label.group == "emergency":
        advice = form.advice.strip()
        if not advice:
            form.errors["advice"] = "Write the advice residents see after “Call 911 now”."
        elif len(advice) > MAX_ADVICE_CHARS:
            form.errors["advice"] = f"The advice is {len(advice)} characters; at most {MAX_ADVICE_CHARS}."
        if not texts and "examples" not in form.errors:
            form.errors["examples"] = (
                "An emergency kind needs at least one example. To drop the kind, use Remove below."
            )
    if form.errors:
        raise Refused(form.errors)
    return texts, advice


async def save_training(
    session: AsyncSession, label: Label, form: TrainingForm, *, author: str, now: datetime
) -> bool:
    """Replace one label's examples (and advice). Rows are rewritten in place, so the label
    keeps its place in `kb export`. False when nothing changed."""
    texts, advice = check_training(form, label)
    rows = list(
        (
            await session.scalars(
                select(TrainingExample)
                .where(TrainingExample.label == label.label)
                .order_by(TrainingExample.id)
            )
        ).all()
    )
    before = [r.text for r in rows]
    old_advice = await advice_of(session, label.name) if advice is not None else None
    if texts == before and advice == old_advice:
        return False
    for row, text in zip(rows, texts, strict=False):
        row.text = text
    for row in rows[len(texts) :]:
        await session.delete(row)
    session.add_all(TrainingExample(label=label.label, text=t) for t in texts[len(rows) :])
    if advice is not None:
        stored = await session.get(EmergencyAdvice, label.name)
        if stored is None:
            session.add(EmergencyAdvice(kind=label.name, advice=advice))
        else:
            stored.advice = advice
    kept = set(before)
    audit.record(
        session,
        author,
        "training.edit",
        label.label,
        now=now,
        examples=len(texts),
        added=[t for t in texts if t not in kept][:10],
        removed=[t for t in before if t not in set(texts)][:10],
        **({"advice": "changed"} if advice is not None and advice != old_advice else {}),
    )
    await bump_revision(session)
    return True


async def remove_emergency(session: AsyncSession, label: Label, *, author: str, now: datetime) -> int:
    """An emergency kind goes whole (the loader refuses one without examples or advice)."""
    if label.group != "emergency":
        raise UnknownLabel("Only an emergency kind can be removed; empty the examples instead.")
    count = len(await examples_of(session, label.label))
    await session.execute(delete(TrainingExample).where(TrainingExample.label == label.label))
    await session.execute(delete(EmergencyAdvice).where(EmergencyAdvice.kind == label.name))
    audit.record(session, author, "training.remove", label.label, now=now, examples=count)
    await bump_revision(session)
    return count


def new_kind_problem(kind: str, existing: Sequence[Label]) -> str | None:
    """Why a new emergency kind cannot be called `kind`, if it cannot."""
    if not kind:
        return "Name the kind, e.g. flood."
    if EMERGENCY + kind in {x.label for x in existing if x.group == "emergency"}:
        return f"There is already an emergency kind “{kind}”."
    return _kind_problem(kind)
