"""What the bot understands with, beside the knowledge base: the synonyms, the training
examples per label (editors and admins), and the service catalogue with its departments
(admins only, kept out by `app.require_session`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.admin import catalogue_edits, content_edits
from bot.admin.web.changes import after_change
from bot.admin.web.keys import hub_of, signed_in
from bot.admin.web.render import page
from bot.content import catalogue_store
from bot.timeutil import utcnow

DONE = {
    "saved": "Saved. Residents get the change from their next message.",
    "unchanged": "Nothing had changed, so nothing was saved.",
    "trained": (
        "Saved. The bot learns from the new examples on its next message, which takes some "
        "seconds longer than usual."
    ),
    "created": "Service created. Residents can report it from their next message.",
    "created_inactive": "Service created, inactive: residents cannot report it until it is made active.",
    "removed": "Removed.",
    "added": "Department added.",
}
RETRAIN_NOTE = (
    "A save makes the bot learn again from all its examples: each running process does it on "
    "its next message, which then waits some seconds (longer on a small server)."
)


def _done(request: web.Request) -> str:
    return DONE.get(request.query.get("done", ""), "")


def _author(request: web.Request) -> str:
    return signed_in(request).account.email


# --- synonyms ----------------------------------------------------------------------------


async def synonyms_page(request: web.Request) -> web.StreamResponse:
    async with hub_of(request).db.reading() as session:
        form = content_edits.SynonymsForm.of(await content_edits.synonym_groups(session))
    return await _synonyms(request, form)


async def _synonyms(
    request: web.Request, form: content_edits.SynonymsForm, status: int = 200
) -> web.StreamResponse:
    groups = [line for line in form.text.splitlines() if line.strip()]
    return await page(
        request,
        "synonyms.html",
        status=status,
        title="Synonyms",
        form=form,
        count=len(groups),
        done=_done(request),
    )


async def synonyms_save(request: web.Request) -> web.StreamResponse:
    form = content_edits.SynonymsForm(str((await request.post()).get("synonyms", "")))
    try:
        async with hub_of(request).db.transaction() as session:
            changed = await content_edits.save_synonyms(session, form, author=_author(request), now=utcnow())
    except content_edits.Refused:
        return await _synonyms(request, form, 400)
    if changed:
        await after_change(request)
    raise web.HTTPSeeOther(f"/admin/synonyms?done={'saved' if changed else 'unchanged'}")


# --- training ----------------------------------------------------------------------------


async def training_list(request: web.Request) -> web.StreamResponse:
    return await _training_list(request)


async def _training_list(
    request: web.Request, *, kind: str = "", kind_error: str = "", status: int = 200
) -> web.StreamResponse:
    async with hub_of(request).db.reading() as session:
        labels = await content_edits.labels(session)
    return await page(
        request,
        "training.html",
        status=status,
        title="Training examples",
        labels=labels,
        total=sum(x.count for x in labels),
        kind=kind,
        kind_error=kind_error,
        note=RETRAIN_NOTE,
        done=_done(request),
    )


async def new_emergency(request: web.Request) -> web.StreamResponse:
    """A new emergency kind is a label with no examples yet: its page, once the name is good."""
    kind = request.query.get("kind", "").strip()
    async with hub_of(request).db.reading() as session:
        labels = await content_edits.labels(session)
    problem = content_edits.new_kind_problem(kind, labels)
    if problem:
        return await _training_list(request, kind=kind, kind_error=problem, status=400)
    raise web.HTTPSeeOther(f"/admin/training/emergency:{kind}")


async def _label(request: web.Request) -> content_edits.Label | web.StreamResponse:
    try:
        async with hub_of(request).db.reading() as session:
            return await content_edits.label_of(session, request.match_info["label"])
    except content_edits.UnknownLabel as unknown:
        return await page(
            request,
            "message.html",
            status=404,
            title="No such label",
            message=str(unknown),
            link=("/admin/training", "All training labels"),
        )


async def label_page(request: web.Request) -> web.StreamResponse:
    label = await _label(request)
    if not isinstance(label, content_edits.Label):
        return label
    async with hub_of(request).db.reading() as session:
        form = await content_edits.form_of(session, label)
        exists = bool(form.examples or form.advice)
    return await _label_editor(request, label, form, exists=exists)


async def _label_editor(
    request: web.Request,
    label: content_edits.Label,
    form: content_edits.TrainingForm,
    *,
    exists: bool,
    status: int = 200,
) -> web.StreamResponse:
    count = len([x for x in form.examples.splitlines() if x.strip()])
    return await page(
        request,
        "training_label.html",
        status=status,
        title=f"Training: {label.label}",
        label=label,
        form=form,
        count=count,
        exists=exists,
        note=RETRAIN_NOTE,
        done=_done(request),
    )


async def label_save(request: web.Request) -> web.StreamResponse:
    label = await _label(request)
    if not isinstance(label, content_edits.Label):
        return label
    data = await request.post()
    form = content_edits.TrainingForm(label.label, str(data.get("examples", "")), str(data.get("advice", "")))
    try:
        async with hub_of(request).db.transaction() as session:
            changed = await content_edits.save_training(
                session, label, form, author=_author(request), now=utcnow()
            )
    except content_edits.Refused:
        async with hub_of(request).db.reading() as session:
            exists = bool(await content_edits.examples_of(session, label.label))
        return await _label_editor(request, label, form, exists=exists, status=400)
    if changed:
        await after_change(request)
    raise web.HTTPSeeOther(f"/admin/training/{label.label}?done={'trained' if changed else 'unchanged'}")


async def label_remove(request: web.Request) -> web.StreamResponse:
    label = await _label(request)
    if not isinstance(label, content_edits.Label):
        return label
    try:
        async with hub_of(request).db.transaction() as session:
            await content_edits.remove_emergency(session, label, author=_author(request), now=utcnow())
    except content_edits.UnknownLabel as refused:
        return await page(
            request,
            "message.html",
            status=400,
            title="Cannot remove",
            message=str(refused),
            link=(f"/admin/training/{label.label}", "Back to its examples"),
        )
    await after_change(request)
    raise web.HTTPSeeOther("/admin/training?done=removed")


# --- services ----------------------------------------------------------------------------


async def services_list(request: web.Request) -> web.StreamResponse:
    async with hub_of(request).db.reading() as session:
        catalogue = await catalogue_store.load(session)
    return await page(request, "services.html", title="Services", catalogue=catalogue, done=_done(request))


def _service_form(data: Any, code: str = "") -> catalogue_edits.ServiceForm:
    def text(name: str) -> str:
        return str(data.get(name, ""))

    return catalogue_edits.ServiceForm(
        code=code or text("code"),
        name=text("name"),
        description=text("description"),
        group=text("group"),
        department=text("department"),
        typical_days=text("typical_days"),
        keywords=text("keywords"),
        questions=text("questions"),
        active=data.get("active") == "on",
    )


async def _service_editor(
    request: web.Request, form: catalogue_edits.ServiceForm, *, creating: bool, status: int = 200
) -> web.StreamResponse:
    async with hub_of(request).db.reading() as session:
        departments = await catalogue_edits.department_names(session)
        groups = (await catalogue_store.load(session)).groups
    return await page(
        request,
        "service.html",
        status=status,
        title="New service" if creating else form.name or form.code,
        form=form,
        creating=creating,
        departments=departments,
        groups=groups,
        done=_done(request),
    )


async def service_new(request: web.Request) -> web.StreamResponse:
    return await _service_editor(request, catalogue_edits.ServiceForm(), creating=True)


async def service_create(request: web.Request) -> web.StreamResponse:
    form = _service_form(await request.post())
    try:
        async with hub_of(request).db.transaction() as session:
            service = await catalogue_edits.create_service(
                session, form, author=_author(request), now=utcnow()
            )
    except catalogue_edits.Refused:
        return await _service_editor(request, form, creating=True, status=400)
    await after_change(request)
    done = "created" if service.active else "created_inactive"
    raise web.HTTPSeeOther(f"/admin/services/{service.code}?done={done}")


async def service_page(request: web.Request) -> web.StreamResponse:
    code = request.match_info["code"]
    async with hub_of(request).db.reading() as session:
        service = (await catalogue_store.load(session)).get(code)
    if service is None:
        return await _no_service(request, code)
    return await _service_editor(request, catalogue_edits.ServiceForm.of(service), creating=False)


async def service_save(request: web.Request) -> web.StreamResponse:
    code = request.match_info["code"]
    form = _service_form(await request.post(), code)
    try:
        async with hub_of(request).db.transaction() as session:
            changed = await catalogue_edits.update_service(
                session, code, form, author=_author(request), now=utcnow()
            )
    except catalogue_edits.Refused:
        return await _service_editor(request, form, creating=False, status=400)
    except LookupError:
        return await _no_service(request, code)
    if changed:
        await after_change(request)
    raise web.HTTPSeeOther(f"/admin/services/{code}?done={'saved' if changed else 'unchanged'}")


async def _no_service(request: web.Request, code: str) -> web.StreamResponse:
    return await page(
        request,
        "message.html",
        status=404,
        title="No such service",
        message=f"There is no service '{code}' in the catalogue.",
        link=("/admin/services", "All services"),
    )


# --- departments -------------------------------------------------------------------------


async def departments_page(
    request: web.Request,
    *,
    adding: catalogue_edits.DepartmentForm | None = None,
    editing: catalogue_edits.DepartmentForm | None = None,
    problem: str = "",
    status: int = 200,
) -> web.StreamResponse:
    async with hub_of(request).db.reading() as session:
        rows = await catalogue_edits.departments(session)
        used = await catalogue_edits.department_use(session)
    return await page(
        request,
        "services_departments.html",
        status=status,
        title="Departments",
        rows=rows,
        used=used,
        adding=adding or catalogue_edits.DepartmentForm(),
        editing=editing,
        problem=problem,
        staff_channel=hub_of(request).settings.SLACK_STAFF_CHANNEL or "",
        done=_done(request),
    )


async def departments_list(request: web.Request) -> web.StreamResponse:
    return await departments_page(request)


async def department_add(request: web.Request) -> web.StreamResponse:
    data = await request.post()
    form = catalogue_edits.DepartmentForm(str(data.get("name", "")), str(data.get("slack_channel", "")))
    try:
        async with hub_of(request).db.transaction() as session:
            await catalogue_edits.add_department(session, form, author=_author(request), now=utcnow())
    except catalogue_edits.Refused:
        return await departments_page(request, adding=form, status=400)
    await after_change(request)
    raise web.HTTPSeeOther("/admin/departments?done=added")


async def department_channel(request: web.Request) -> web.StreamResponse:
    data = await request.post()
    form = catalogue_edits.DepartmentForm(str(data.get("name", "")), str(data.get("slack_channel", "")))
    try:
        async with hub_of(request).db.transaction() as session:
            changed = await catalogue_edits.set_channel(session, form, author=_author(request), now=utcnow())
    except catalogue_edits.Refused:
        return await departments_page(request, editing=form, status=400)
    except LookupError:
        return await departments_page(
            request, problem=f"There is no department “{form.name}” (removed meanwhile?).", status=404
        )
    if changed:
        await after_change(request)
    raise web.HTTPSeeOther(f"/admin/departments?done={'saved' if changed else 'unchanged'}")


async def department_remove(request: web.Request) -> web.StreamResponse:
    name = str((await request.post()).get("name", ""))
    try:
        async with hub_of(request).db.transaction() as session:
            await catalogue_edits.remove_department(session, name, author=_author(request), now=utcnow())
    except catalogue_edits.Refused as refused:
        return await departments_page(request, problem=refused.errors["remove"], status=409)
    except LookupError:
        return await departments_page(request, problem=f"There is no department “{name}”.", status=404)
    await after_change(request)
    raise web.HTTPSeeOther("/admin/departments?done=removed")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/synonyms", synonyms_page)
    app.router.add_post("/synonyms", synonyms_save)
    app.router.add_get("/training", training_list)
    app.router.add_get("/training/new-emergency", new_emergency)
    app.router.add_get("/training/{label}", label_page)
    app.router.add_post("/training/{label}", label_save)
    app.router.add_post("/training/{label}/remove", label_remove)
    app.router.add_get("/services", services_list)
    app.router.add_get("/services/new", service_new)
    app.router.add_post("/services/new", service_create)
    app.router.add_get("/services/{code}", service_page)
    app.router.add_post("/services/{code}", service_save)
    app.router.add_get("/departments", departments_list)
    app.router.add_post("/departments", department_add)
    app.router.add_post("/departments/channel", department_channel)
    app.router.add_post("/departments/remove", department_remove)
