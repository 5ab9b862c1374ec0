"""Filing a service request from the chat, in about a minute.

The draft says what is known; `advance` asks for the first thing still missing, in
the order a 311 call-taker would: the kind of problem, a description, photos, the
place (then reports already filed there), the service's own questions, a summary
to confirm. Changing something in the summary just forgets it, and `advance` asks
again. A question in the middle is answered and the report resumes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.dialog import Context, State, Step
from bot.messages import Choice, Incoming, Outgoing, normalise
from bot.reporting import reports
from dialogs import names, texts
from dialogs import report_questions as questions
from dialogs.report_draft import Draft
from dialogs.report_place import looks_like_place, place_in, take_place
from dialogs.status import when
from knowledge.catalogue import Catalogue, Service
from knowledge.understand import ServiceHit, Understanding

NAME = names.REPORT
CONFIDENT = 0.6  # a kind this sure, and this far ahead, is confirmed with yes/no;
CLEAR_LEAD = 0.25  # otherwise the best few are offered
WORTH_OFFERING = 0.35  # kinds scoring below this are noise next to the best one
YES = frozenset(
    {
        "yes",
        "y",
        "yeah",
        "yep",
        "yup",
        "correct",
        "right",
        "thats right",
        "that s right",
        "sure",
        "ok",
        "okay",
        "yes please",
        "it is",
        "exactly",
        "send",
        "send it",
        "submit",
        "confirm",
    }
)
NO = frozenset(
    {
        "no",
        "n",
        "nope",
        "wrong",
        "not that",
        "something else",
        "other",
        "none",
        "no its not",
        "no it s not",
        "neither",
        "none of these",
    }
)
_WANTS = re.compile(
    r"^\s*(?:(?:hi|hello|hey)[,!. ]*)?"
    r"(?:i(?:'d| would)? (?:want|like|need) to|i'?m|can i|could i|how (?:do|can) i|"
    r"please|let me|i wish to)?\s*(?:report|file|submit|log|make|open)\b(?:\s+(?:a|an|the))?"
    r"(?:\s+(?:report|complaint|request|problem|issue))?(?:\s+(?:about|of|for|on))?(?:\s+(?:a|an|the))?\s*",
    re.IGNORECASE,
)


def _is_description(text: str) -> bool:
    """'I want to report a pothole' asks to report; 'huge pothole on Geary, almost lost a
    tire' already describes one. What is left after the asking words decides."""
    rest = _WANTS.sub("", text, count=1)
    return len(re.findall(r"\w+", rest)) >= 4


async def _catalogue(ctx: Context) -> Catalogue:
    return (await ctx.knowledge()).catalogue


def _state(step: str, draft: Draft) -> State:
    return State(NAME, step, draft.to_json())


# ------------------------------------------------------------------ starting


async def start(
    ctx: Context, u: Understanding | None, incoming: Incoming, *, service: str | None = None
) -> Step:
    """Begin a report from a description, a 'report a …', a photo or a pin."""
    draft = Draft()
    text = incoming.text.strip()
    if text and _is_description(text):
        draft.description = text
        draft.place_hint = place_in(text)
    _add_photos(ctx, draft, incoming)
    if incoming.location is not None:
        result = await take_place(ctx, draft, incoming)
        if result.error:
            draft.forget_place()
    catalogue = await _catalogue(ctx)
    if service and catalogue.get(service):
        draft.choose_service(service)
        return await advance(ctx, draft, lead=texts.REPORT_START)
    draft.candidates = candidates(u.services if u is not None else ())
    return _ask_kind(catalogue, draft, lead=texts.REPORT_START)


# ------------------------------------------------------------------ the kind of problem


def candidates(hits: Iterable[ServiceHit]) -> list[str]:
    """The kinds worth offering, best first: just one when it is clearly right."""
    worth = [h for h in hits if h.score >= WORTH_OFFERING]
    clear = len(worth) == 1 or (len(worth) > 1 and worth[0].score - worth[1].score >= CLEAR_LEAD)
    if worth and worth[0].score >= CONFIDENT and clear:
        worth = worth[:1]
    return [h.service.code for h in worth]


def _ask_kind(catalogue: Catalogue, draft: Draft, *, lead: str = "") -> Step:
    services = [s for s in (catalogue.get(c) for c in draft.candidates[:3]) if s is not None and s.active]
    prefix = f"{lead}\n\n" if lead else ""
    if len(services) == 1:
        return Step(
            _state("kind", draft),
            [
                Outgoing(
                    f"{prefix}That sounds like **{services[0].name.lower()}**. Is that right?",
                    choices=(Choice("svc:" + services[0].code, "Yes"), Choice("other", "No, something else")),
                )
            ],
        )
    if services:
        choices = (*(Choice("svc:" + s.code, s.name) for s in services), Choice("other", "Something else"))
        return Step(_state("kind", draft), [Outgoing(f"{prefix}Which of these is it?", choices=choices)])
    return _ask_group(catalogue, draft, lead=lead)


def _ask_group(catalogue: Catalogue, draft: Draft, *, lead: str = "") -> Step:
    draft.group = None
    prefix = f"{lead}\n\n" if lead else ""
    groups = [g for g in catalogue.groups if any(s.active and s.group == g for s in catalogue.services)]
    return Step(
        _state("group", draft),
        [
            Outgoing(
                f"{prefix}What kind of problem is it? Pick the closest, or describe it in a few words.",
                choices=tuple(Choice(f"grp:{n}", g) for n, g in enumerate(catalogue.groups) if g in groups),
            )
        ],
    )


def _ask_in_group(catalogue: Catalogue, draft: Draft) -> Step:
    services = [s for s in catalogue.services if s.active and s.group == draft.group]
    choices = (*(Choice("svc:" + s.code, s.name) for s in services), Choice("other", "Back to the list"))
    return Step(_state("in-group", draft), [Outgoing(f"Which {draft.group!s:.60} problem?", choices=choices)])


async def _kind(ctx: Context, step: str, draft: Draft, incoming: Incoming) -> Step:
    catalogue = await _catalogue(ctx)
    choice = incoming.choice or ""
    said = normalise(incoming.text)
    if choice.startswith("svc:") and catalogue.get(choice[4:]):
        draft.choose_service(choice[4:])
        return await advance(ctx, draft)
    if step == "kind" and not choice and said in YES and draft.candidates:
        draft.choose_service(draft.candidates[0])
        return await advance(ctx, draft)
    if step == "group" and choice.startswith("grp:"):
        index = int(choice[4:]) if choice[4:].isascii() and choice[4:].isdigit() else -1
        if 0 <= index < len(catalogue.groups):
            draft.group = catalogue.groups[index]
            return _ask_in_group(catalogue, draft)
    if choice == "other" or said in NO:
        return _ask_group(catalogue, draft)
    if incoming.text.strip():
        understander = await ctx.knowledge()
        draft.candidates = candidates(understander.match_services(incoming.text))
        if draft.candidates:
            return _ask_kind(catalogue, draft)
        return _ask_group(catalogue, draft, lead="I couldn't tell which kind of problem that is.")
    return _ask_group(catalogue, draft)


# ------------------------------------------------------------------ asking for what is missing


def _service(catalogue: Catalogue, draft: Draft) -> Service | None:
    return catalogue.get(draft.service) if draft.service else None


async def advance(ctx: Context, draft: Draft, *, lead: str = "") -> Step:
    """Ask for the first thing the draft still lacks."""
    catalogue = await _catalogue(ctx)
    service = _service(catalogue, draft)
    if service is None:
        return _ask_kind(catalogue, draft, lead=lead)
    prefix = f"{lead}\n\n" if lead else ""
    if draft.description is None:
        return Step(_state("describe", draft), [Outgoing(prefix + texts.ASK_DESCRIPTION)])
    max_photos = ctx.services.settings.MAX_PHOTOS_PER_REPORT
    if not draft.photos_done and (not ctx.capabilities.photos or max_photos == 0):
        draft.photos_done = True
    if not draft.photos_done and len(draft.photos) < max_photos:
        return _ask_photos(draft, max_photos, prefix)
    if not draft.has_place:
        choices = (Choice("hint", f"Yes, {draft.place_hint}"),) if draft.place_hint else ()
        how = texts.ASK_PLACE if ctx.capabilities.location_request else texts.ASK_PLACE_TYPED
        if draft.place_hint:
            text = f"Is it at **{draft.place_hint}**? If not, {how[0].lower()}{how[1:]}"
        else:
            text = f"Where is it? {how}"
        return Step(_state("place", draft), [Outgoing(prefix + text, choices=choices, request="location")])
    if not draft.duplicates_checked:
        step = await _offer_duplicates(ctx, service, draft, prefix)
        if step is not None:
            return step
    for attribute in service.attributes:
        if attribute.code not in draft.answers:
            if attribute.datatype == "multivaluelist" and attribute.code not in draft.prefilled:
                # What the description already names is picked, once, for the resident to confirm.
                draft.prefilled.append(attribute.code)
                draft.picked = questions.mentioned(attribute, draft.description)
            question, options = questions.prompt(attribute, draft.picked, described=draft.description)
            return Step(
                _state("question:" + attribute.code, draft), [Outgoing(prefix + question, choices=options)]
            )
    return _summary(service, draft, prefix)


def _ask_photos(draft: Draft, max_photos: int, prefix: str) -> Step:
    if draft.photos:
        text = f"Got it ({len(draft.photos)} of {max_photos}). Send another photo, or tap **Done**."
        choices = (Choice("done", "Done"),)
    else:
        text = texts.ASK_PHOTO.format(max=max_photos)
        choices = (Choice("skip", "Skip"),)
    return Step(_state("photos", draft), [Outgoing(prefix + text, choices=choices, request="photo")])


def _add_photos(ctx: Context, draft: Draft, incoming: Incoming) -> int:
    room = ctx.services.settings.MAX_PHOTOS_PER_REPORT - len(draft.photos)
    added = [{"key": p.key, "content_type": p.content_type} for p in incoming.photos[: max(0, room)]]
    draft.photos.extend(added)
    return len(added)


async def _offer_duplicates(ctx: Context, service: Service, draft: Draft, prefix: str) -> Step | None:
    found = await reports.nearby_open(
        ctx.session,
        service.code,
        lat=draft.lat,
        lon=draft.lon,
        place=draft.place,
        radius_m=ctx.services.settings.DUPLICATE_RADIUS_M,
    )
    if not found:
        draft.duplicates_checked = True
        return None
    lines = []
    for report in found:
        count = await reports.followers(ctx.session, report)
        where = f" at {report.address}" if report.address else ""
        people = f"{count} {'person follows' if count == 1 else 'people follow'} it"
        lines.append(
            f"- **{report.number}**: {service.name.lower()}{where}, "
            f"reported {when(report.created_at, ctx.now)}, "
            f"{reports.STATUS_WORDS[report.status]}; {people}"
        )
    one = len(found) == 1
    text = (
        f"{prefix}**Already reported?** {'This' if one else 'These'} open report{'' if one else 's'} "
        f"{'is' if one else 'are'} close by:\n"
        + "\n".join(lines)
        + "\n\nFollow "
        + ("that one" if one else "one of them")
        + " instead? You'll hear here when its status changes."
    )
    draft.nearby = [r.number or "" for r in found]
    choices = tuple(Choice(f"follow:{r.number}", f"Follow {r.number}") for r in found)
    choices += (Choice("new", "No, mine is different"),)
    return Step(_state("duplicate", draft), [Outgoing(text, choices=choices)])


def _summary(service: Service, draft: Draft, prefix: str) -> Step:
    lines = [
        f"- **Kind:** {service.name}",
        f"- **Description:** {draft.description}",
        f"- **Where:** {draft.place_label or draft.place}",
    ]
    if draft.photos:
        lines.append(f"- **Photos:** {len(draft.photos)}")
    for attribute in service.attributes:
        label = attribute.description.split("?")[0].split("(")[0].strip().rstrip(".") or attribute.code
        lines.append(f"- **{label}:** {questions.describe(attribute, draft.answers.get(attribute.code))}")
    text = prefix + "Please check your report:\n" + "\n".join(lines) + "\n\nSend it to the city?"
    choices = (Choice("send", "Send report"), Choice("change", "Change something"), Choice("drop", "Cancel"))
    return Step(_state("summary", draft), [Outgoing(text, choices=choices)])


# ------------------------------------------------------------------ the answers


async def _describe(ctx: Context, step: str, draft: Draft, incoming: Incoming) -> Step:
    text = incoming.text.strip()
    if incoming.choice or len(re.findall(r"\w", text)) < 3:
        return await advance(ctx, draft, lead="Please describe the problem in a few words.")
    draft.description = text
    if not draft.place_hint:
        draft.place_hint = place_in(text)
    return await advance(ctx, draft)


async def _photos(ctx: Context, step: str, draft: Draft, incoming: Incoming) -> Step:
    said = normalise(incoming.text)
    if incoming.choice in ("skip", "done") or said in questions.SKIP_WORDS | questions.DONE_WORDS | {
        "no photo"
    }:
        draft.photos_done = True
        return await advance(ctx, draft)
    if incoming.location is not None or (not draft.has_place and looks_like_place(incoming.text)):
        draft.photos_done = True  # no photo: the resident moved on to the place
        return await _place(ctx, "place", draft, incoming)
    return await advance(ctx, draft, lead="To add a photo, attach it here; if you have none, tap **Skip**.")


async def _place(ctx: Context, step: str, draft: Draft, incoming: Incoming) -> Step:
    typed = draft.place_hint if incoming.choice == "hint" else None
    if incoming.choice and typed is None:
        return await advance(ctx, draft)
    result = await take_place(ctx, draft, incoming, typed)
    if result.error:
        return await advance(ctx, draft, lead=result.error)
    return await advance(ctx, draft, lead=result.note or "")


async def _duplicate(ctx: Context, step: str, draft: Draft, incoming: Incoming) -> Step:
    choice = incoming.choice or ""
    said = normalise(incoming.text)
    if choice == "new" or said in NO | {"new", "different", "mine is different", "file mine"}:
        draft.duplicates_checked = True
        return await advance(ctx, draft)
    number = choice[len("follow:") :] if choice.startswith("follow:") else None
    if number is None and said in YES | {"follow", "follow it", "follow that one"} and draft.nearby:
        number = draft.nearby[0]
    if number is None:
        return await advance(
            ctx, draft, lead="Please tap **Follow** to follow that report, or say it's different."
        )
    report = await reports.find(ctx.session, number)
    if report is None:
        draft.duplicates_checked = True
        return await advance(ctx, draft)
    await reports.subscribe(ctx.session, report, ctx.channel, ctx.address, role="follower", now=ctx.now)
    count = await reports.followers(ctx.session, report)
    return Step(State(), [Outgoing(texts.FOLLOWING.format(number=report.number, count=count))])


async def _question(ctx: Context, step: str, draft: Draft, incoming: Incoming) -> Step:
    service = _service(await _catalogue(ctx), draft)
    code = step.split(":", 1)[1]
    attribute = next((a for a in service.attributes if a.code == code), None) if service else None
    if attribute is None:  # the catalogue changed under the draft
        return await advance(ctx, draft)
    try:
        given = questions.answer(
            attribute,
            text=incoming.text,
            choice=incoming.choice,
            picked=draft.picked,
            now=ctx.now,
            tz=ctx.services.settings.time_zone,
        )
    except questions.Invalid as exc:
        return await advance(ctx, draft, lead=str(exc))
    if not given.done:
        draft.picked = list(given.value)
        return await advance(ctx, draft)
    draft.answers[code] = given.value
    draft.picked = []
    return await advance(ctx, draft)


async def _summary_answer(ctx: Context, step: str, draft: Draft, incoming: Incoming) -> Step:
    choice = incoming.choice or ""
    said = normalise(incoming.text)
    if choice == "send" or (not choice and said in YES):
        return await _file(ctx, draft)
    if choice == "drop" or said in {"no", "discard", "delete", "drop it"}:
        return Step(State(), [Outgoing(texts.REPORT_DISCARDED)])
    if choice == "change" or said in {"change", "edit", "change something", "fix", "correct"}:
        return _ask_change(await _catalogue(ctx), draft, photos=ctx.capabilities.photos)
    return await advance(ctx, draft, lead="Tap **Send report** to file it, or **Change something**.")


def _ask_change(catalogue: Catalogue, draft: Draft, *, photos: bool = True) -> Step:
    """What can be changed; photos only on a channel that can send them."""
    service = _service(catalogue, draft)
    choices = [
        Choice("edit:kind", "Kind of problem", ("kind", "type", "category", "service")),
        Choice("edit:description", "Description", ("describe", "details", "text", "what")),
        Choice("edit:place", "Place", ("location", "address", "where", "spot", "street", "pin")),
    ]
    if photos:
        choices.append(Choice("edit:photos", "Photos", ("photo", "picture", "pictures", "image", "pics")))
    for attribute in service.attributes if service else ():
        label = attribute.description.split("?")[0].split("(")[0].strip()[:40] or attribute.code
        choices.append(Choice("edit:q:" + attribute.code, label))
    choices.append(Choice("send", "Nothing, send it"))
    return Step(_state("change", draft), [Outgoing("What would you like to change?", choices=tuple(choices))])


async def _change(ctx: Context, step: str, draft: Draft, incoming: Incoming) -> Step:
    choice = incoming.choice or ""
    if choice == "send":
        return await _file(ctx, draft)
    if choice == "edit:kind":
        draft.service, draft.candidates = None, []
        return _ask_group(await _catalogue(ctx), draft)
    if choice == "edit:description":
        draft.description = None
    elif choice == "edit:place":
        draft.forget_place()
        draft.place_hint = None
    elif choice == "edit:photos":
        draft.photos, draft.photos_done = [], False
    elif choice.startswith("edit:q:"):
        draft.answers.pop(choice[len("edit:q:") :], None)
        draft.picked = []
    else:
        return _ask_change(await _catalogue(ctx), draft, photos=ctx.capabilities.photos)
    return await advance(ctx, draft)


async def _file(ctx: Context, draft: Draft) -> Step:
    catalogue = await _catalogue(ctx)
    service = _service(catalogue, draft)
    if service is None or draft.description is None or not draft.has_place:
        return await advance(ctx, draft)  # something went missing: ask for it
    report = await reports.file_report(
        ctx.session,
        service_code=service.code,
        description=draft.description,
        now=ctx.now,
        channel=ctx.channel if ctx.address else None,
        address=ctx.address or None,
        lat=draft.lat,
        lon=draft.lon,
        place=draft.place,
        attributes={k: v for k, v in draft.answers.items() if v is not None},
        media=[p["key"] for p in draft.photos],
        department=service.department or None,
        source=ctx.channel,
        tell_staff=ctx.services.staff_desk,
    )
    return Step(State(), [Outgoing(confirmation(service, report.number or ""))])


def confirmation(service: Service, number: str) -> str:
    days = service.typical_days
    timing = ""
    if days:
        timing = f", who usually deal with this within **{'a day' if days == 1 else f'{days} days'}**"
    department = f"**{service.department}**" if service.department else "the right city team"
    return (
        f"Thank you! Your report number is **{number}**.\n"
        f"It goes to {department}{timing}.\n"
        f"I'll message you here when its status changes. You can also send **status {number}** any time, "
        "or **stop updates** to stop hearing about it."
    )


# ------------------------------------------------------------------ the dialog


HANDLERS = {
    "kind": _kind,
    "group": _kind,
    "in-group": _kind,
    "describe": _describe,
    "photos": _photos,
    "place": _place,
    "duplicate": _duplicate,
    "question": _question,
    "summary": _summary_answer,
    "change": _change,
}


async def report(ctx: Context, state: State, incoming: Incoming) -> Step:
    if state.dialog != NAME:  # handed over fresh, with the service to report as the choice
        chosen = incoming.choice or ""
        service = chosen[len(names.NEW_REPORT) :] if chosen.startswith(names.NEW_REPORT) else None
        return await start(ctx, None, incoming, service=service)
    draft = Draft.from_json(state.data)
    step = state.step or "kind"
    if incoming.photos and step != "photos":
        added = _add_photos(ctx, draft, incoming)
        if not incoming.text.strip():
            note = "Photo added to your report." if added else "That's the most photos one report can take."
            again = await _reprompt(ctx, step, draft)
            again.replies.insert(0, Outgoing(note))
            return again
    if incoming.photos and step == "photos":
        if not _add_photos(ctx, draft, incoming):
            draft.photos_done = True
        return await advance(ctx, draft)
    handler = HANDLERS[step.split(":", 1)[0]]
    return await handler(ctx, step, draft, incoming)


async def _reprompt(ctx: Context, step: str, draft: Draft) -> Step:
    catalogue = await _catalogue(ctx)
    if step == "kind":
        return _ask_kind(catalogue, draft)
    if step == "group":
        return _ask_group(catalogue, draft)
    if step == "in-group":
        return _ask_in_group(catalogue, draft)
    if step == "change":
        return _ask_change(catalogue, draft, photos=ctx.capabilities.photos)
    return await advance(ctx, draft)
