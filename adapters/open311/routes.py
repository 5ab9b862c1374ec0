"""The Open311 GeoReport v2 routes under /open311/v2/, plus mySociety's
servicerequestupdates extension.

Requests filed here are the same reports residents file in the chat, and an
update posted here goes through `bot.reporting.reports.set_status`, so every subscriber
hears of it through the outbox like any other status change.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDict
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.open311 import present
from adapters.open311.params import (
    MAX_RESULTS,
    ApiError,
    parse_new_request,
    parse_new_update,
    parse_request_query,
    parse_update_query,
)
from adapters.open311.render import FORMATS, respond
from bot.api import HUB, MAX_READ_BODY, Hub, Report, clean_text, metrics, report_queries, reports, utcnow
from knowledge.catalogue import Catalogue

log = logging.getLogger(__name__)

BASE = "/open311/v2"
MAX_RESULTS_KEY = web.AppKey("open311_max_results", int)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RESOURCES = (
    "discovery",
    "services",
    "services/{service_code}",
    "requests",
    "requests/{service_request_id}",
    "servicerequestupdates",
)

Handler = Callable[[web.Request, str], Awaitable[web.Response]]
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_FORM_BYTES = MAX_READ_BODY  # what aiohttp would read of it anyway, refused before reading
_READ_ONLY = re.compile(rf"^{BASE}/(discovery|services|services/[^/]+|requests/[^/]+)\.[^/]+$")


def _errors(fmt: str, exc: ApiError, *, cors: bool) -> web.Response:
    metrics.HTTP_REJECTED.labels(str(exc.status)).inc()
    body = [{"code": exc.status, "description": problem} for problem in exc.problems]
    return respond(fmt, "errors", body, status=exc.status, cors=cors)


def open311(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Resolve the format extension and answer any refusal as the spec's error list."""

    async def wrapped(request: web.Request) -> web.Response:
        fmt = request.match_info.get("fmt", "").lower()
        cors = request.method in ("GET", "HEAD")
        if fmt not in FORMATS:
            unknown = ApiError(404, f"Unknown format '.{fmt[:20]}': use .json or .xml.")
            return _errors("json", unknown, cors=cors)
        try:
            return await handler(request, fmt)
        except ApiError as exc:
            return _errors(fmt, exc, cors=cors)

    return wrapped


async def _current_catalogue(hub: Hub, session: AsyncSession) -> Catalogue:
    return (await hub.services.knowledge.current(session)).catalogue


def _media_url_for(hub: Hub) -> Callable[[str], str]:
    """Stored photos' URLs: the media service's, when the process has one."""
    media = getattr(hub.services, "media", None)
    if media is not None and callable(getattr(media, "url", None)):
        return lambda key: str(media.url(key))
    base = hub.settings.PUBLIC_URL
    return lambda key: f"{base}/media/{key}"


async def _params(request: web.Request) -> MultiDict[str]:
    """The POST form, with `api_key` and `jurisdiction_id` also taken from the query
    string, where some clients put them."""
    if request.body_exists and request.content_type not in FORM_TYPES:
        raise ApiError(
            400, f"Send the fields as application/x-www-form-urlencoded (got {request.content_type[:100]})."
        )
    if (request.content_length or 0) > MAX_FORM_BYTES:  # said before a byte is read
        most = MAX_FORM_BYTES // 2**20
        raise ApiError(413, f"The request is too large: a service request takes at most {most} MB.")
    params: MultiDict[str] = MultiDict()
    try:
        form = await request.post()
    except (ValueError, UnicodeDecodeError, LookupError, HttpProcessingError):
        # HttpProcessingError: a multipart part's header line is broken (no colon).
        raise ApiError(400, "The form could not be read: send it as UTF-8, URL-encoded.") from None
    for key, value in form.items():
        if isinstance(value, str):
            name = clean_text(key)
            # The key as sent: cleaned, "probe\0key" would pass as "probekey".
            params.add(name, value if name == "api_key" else clean_text(value))
    query = _query(request)
    for key in ("api_key", "jurisdiction_id"):
        if key not in params and key in query:
            # The key as sent, as in the form: cleaned, "probe\0key" would pass as "probekey".
            params[key] = request.query.get(key, "") if key == "api_key" else query[key]
    return params


def _query(request: web.Request) -> MultiDict[str]:
    """The query string with text every database can compare: a NUL in a filter would be
    a database error, not "no such service"."""
    return MultiDict((clean_text(k), clean_text(v)) for k, v in request.query.items())


def _check_key(hub: Hub, params: MultiDict[str]) -> None:
    keys = hub.settings.open311_keys
    if not keys:
        raise ApiError(403, "Posting is closed on this server: it accepts no API keys (OPEN311_API_KEYS).")
    given = params.get("api_key", "")
    if not given:
        raise ApiError(403, "api_key: required to post.")
    if not any(hmac.compare_digest(given.encode(), key.encode()) for key in keys):
        raise ApiError(403, "api_key: not accepted.")


async def discovery(request: web.Request, fmt: str) -> web.Response:
    hub = request.app[HUB]
    async with hub.db.reading() as session:
        changed = await report_queries.catalogue_changed_at(session) or EPOCH
    body = present.discovery(
        f"{hub.settings.PUBLIC_URL}{BASE}", changed, hub.settings.time_zone, hub.settings.CITY_NAME
    )
    return respond(fmt, "discovery", body)


async def services(request: web.Request, fmt: str) -> web.Response:
    hub = request.app[HUB]
    async with hub.db.reading() as session:
        catalogue = await _current_catalogue(hub, session)
    return respond(fmt, "services", [present.service_entry(s) for s in catalogue.services if s.active])


async def service_definition(request: web.Request, fmt: str) -> web.Response:
    hub = request.app[HUB]
    code = request.match_info["code"]
    async with hub.db.reading() as session:
        service = (await _current_catalogue(hub, session)).get(code)
    if service is None or not service.active:
        raise ApiError(404, f"service_code: there is no service '{code[:100]}'.")
    return respond(fmt, "service_definition", present.service_definition(service))


async def _request_entries(hub: Hub, session: AsyncSession, found: list[Report]) -> list[dict[str, object]]:
    catalogue = await _current_catalogue(hub, session)
    notes = await report_queries.latest_notes(session, [r.id for r in found])
    zone, url_for_key = hub.settings.time_zone, _media_url_for(hub)
    return [
        present.request_entry(r, catalogue, latest_note=notes.get(r.id), zone=zone, url_for_key=url_for_key)
        for r in found
    ]


async def list_requests(request: web.Request, fmt: str) -> web.Response:
    hub = request.app[HUB]
    query = parse_request_query(
        _query(request), now=utcnow(), zone=hub.settings.time_zone, max_results=request.app[MAX_RESULTS_KEY]
    )
    async with hub.db.reading() as session:
        found = list(await report_queries.find_requests(session, query))
        entries = await _request_entries(hub, session, found)
    return respond(fmt, "service_requests", entries)


async def get_request(request: web.Request, fmt: str) -> web.Response:
    hub = request.app[HUB]
    number = request.match_info["id"]
    if not (number.isascii() and number.isdigit()) or len(number) > 18:
        raise ApiError(404, f"service_request_id: there is no request '{number[:40]}'.")
    async with hub.db.reading() as session:
        report = await reports.find(session, number)
        if report is None:
            raise ApiError(404, f"service_request_id: there is no request '{number}'.")
        entries = await _request_entries(hub, session, [report])
    return respond(fmt, "service_requests", entries)


async def post_request(request: web.Request, fmt: str) -> web.Response:
    hub = request.app[HUB]
    params = await _params(request)
    _check_key(hub, params)
    code = params.get("service_code", "").strip()
    if not code:
        raise ApiError(400, "service_code: required (see services.json).")
    async with hub.db.reading() as session:
        service = (await _current_catalogue(hub, session)).get(code)
    if service is None or not service.active:
        raise ApiError(404, f"service_code: there is no service '{code[:100]}'.")
    new = parse_new_request(params, service, boundary=hub.services.boundary, zone=hub.settings.time_zone)
    async with hub.db.transaction() as session:
        report = await reports.file_report(
            session,
            service_code=new.service_code,
            description=new.description,
            now=utcnow(),
            lat=new.lat,
            lon=new.lon,
            place=new.place,
            attributes=new.attributes,
            media=new.media,
            contact=new.contact,
            department=service.department or None,
            source="open311",
            tell_staff=hub.services.staff_desk,
        )
        created = present.created_entry(report, service)
    log.info("open311: request %s filed for %s", created["service_request_id"], service.code)
    return respond(fmt, "service_requests", [created], cors=False)


async def list_updates(request: web.Request, fmt: str) -> web.Response:
    hub = request.app[HUB]
    query = parse_update_query(
        _query(request), now=utcnow(), zone=hub.settings.time_zone, max_results=request.app[MAX_RESULTS_KEY]
    )
    async with hub.db.reading() as session:
        found = await report_queries.find_updates(session, query)
    zone = hub.settings.time_zone
    entries = [
        present.update_entry(e, number, zone=zone, personal=present.personal_terms(contact))
        for e, number, contact in found
    ]
    return respond(fmt, "service_request_updates", entries)


async def post_update(request: web.Request, fmt: str) -> web.Response:
    hub = request.app[HUB]
    params = await _params(request)
    _check_key(hub, params)
    now = utcnow()
    update = parse_new_update(params, now=now, zone=hub.settings.time_zone)
    async with hub.db.transaction() as session:
        report = await reports.find(session, update.number, lock=True)
        if report is None:
            raise ApiError(404, f"service_request_id: there is no request '{update.number}'.")
        retried = await reports.find_event(session, "open311", update.update_id) if update.update_id else None
        if retried is not None and retried.report_id != report.id:
            raise ApiError(400, f"update_id: '{update.update_id}' was already used for another request.")
        if retried is not None:
            event, notified = retried, 0  # a retry: answered as before, applied once
        else:
            at = update.at or now
            if at < report.created_at:
                raise ApiError(400, "updated_datetime: is before the request was made.")
            try:
                change = await reports.set_status(
                    session,
                    update.number,
                    update.status,
                    now=at,
                    note=update.note,
                    reason=update.reason,
                    actor="open311",
                    external_id=update.update_id,
                    tell_staff=hub.services.staff_desk,
                )
            except reports.ReportError as exc:
                raise ApiError(400, str(exc)) from None
            if update.media_url:
                report.media = [*report.media, update.media_url]
            event, notified = change.event, change.notified
        entry = present.update_entry(
            event,
            str(report.number),
            zone=hub.settings.time_zone,
            personal=present.personal_terms(report.contact),
        )
    if notified:
        hub.outbox_queued.set()  # committed: this process's outbox tells them now
    log.info("open311: request %s now %s, %d subscribers told", update.number, update.status, notified)
    return respond(fmt, "service_request_updates", [entry], cors=False)


async def not_found(request: web.Request) -> web.Response:
    """Anything else under /open311/v2/, answered in the spec's error format."""
    cors = request.method in ("GET", "HEAD")
    if not cors and _READ_ONLY.match(request.path):
        exc = ApiError(405, f"{request.path[:200]} can only be read (GET).")
        response = _errors("json", exc, cors=False)
        response.headers["Allow"] = "GET, HEAD"
        return response
    known = ", ".join(f"{BASE}/{r}.json|.xml" for r in RESOURCES)
    return _errors(
        "json", ApiError(404, f"No Open311 resource at {request.path[:200]}; there are {known}."), cors=cors
    )


def add_routes(hub: Hub, app: web.Application) -> None:
    app[MAX_RESULTS_KEY] = MAX_RESULTS
    router = app.router
    router.add_get(BASE + "/discovery.{fmt}", open311(discovery))
    router.add_get(BASE + "/services.{fmt}", open311(services))
    router.add_get(BASE + "/services/{code}.{fmt}", open311(service_definition))
    router.add_get(BASE + "/requests.{fmt}", open311(list_requests))
    router.add_post(BASE + "/requests.{fmt}", open311(post_request))
    router.add_get(BASE + "/requests/{id}.{fmt}", open311(get_request))
    router.add_get(BASE + "/servicerequestupdates.{fmt}", open311(list_updates))
    router.add_post(BASE + "/servicerequestupdates.{fmt}", open311(post_update))
    router.add_route("*", BASE + "/{tail:.*}", not_found)
