"""The `serve` process: aiohttp application, health, metrics, outbox in-process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    NotSupportedError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as SATimeoutError

from bot.admin.web import app as admin_app
from bot.db import DRIVER_CONNECTION_ERRORS
from bot.delivery.worker import OutboxWorker
from bot.hub import Hub
from bot.media_sweep import MediaSweeper
from bot.web.background import in_background
from bot.web.connections import BODY_TIMEOUT, body_deadline
from bot.web.media_routes import add_media_routes
from bot.web.requests import body_checks

log = logging.getLogger(__name__)

HUB = web.AppKey("hub", Hub)
STOPPING = web.AppKey("stopping", asyncio.Event)
MEDIA_SWEEPER = web.AppKey("media_sweeper", MediaSweeper)
ADMIN_APP = web.AppKey("admin_app", web.Application)  # the /admin/ sub-application


async def healthz(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    try:
        await asyncio.wait_for(hub.db.ping(), timeout=5)
    except Exception as exc:
        log.warning("health check failed: %s", exc)
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


# What a database that is gone, restarting or locked raises: SQLAlchemy's wrappers, and the
# driver's own errors where they surface unwrapped (asyncpg's "another operation is in
# progress" from a connection whose backend was killed).
UNAVAILABLE: tuple[type[BaseException], ...] = (
    DBAPIError,
    DisconnectionError,
    SATimeoutError,
    OSError,
    *DRIVER_CONNECTION_ERRORS,
)
MAX_READ_BODY = 12 * 1024 * 1024
DATABASE_BUSY = "The service is busy for a moment. Please try again in a few seconds."
RETRY_AFTER_S = 2


@web.middleware
async def database_unavailable(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A database that is gone, restarting or locked past its timeout is a JSON 503 with
    Retry-After, which the chat page and well-behaved clients retry, not a plain-text 500.
    The turn it interrupted was rolled back whole, so trying again is safe."""
    try:
        return await handler(request)
    except UNAVAILABLE as exc:
        if isinstance(exc, ConnectionResetError):  # the client went away: nothing to answer
            raise
        if isinstance(exc, IntegrityError | DataError | ProgrammingError | NotSupportedError):
            raise  # a constraint or a statement the database refused: a bug, not an outage
        log.warning("database unavailable during %s %s: %s", request.method, request.path, exc)
        return web.json_response(
            {"error": DATABASE_BUSY}, status=503, headers={"Retry-After": str(RETRY_AFTER_S)}
        )


def create_app(
    hub: Hub, *, deliver_outbox: bool | None = None, sweep_media: bool | None = None
) -> web.Application:
    app = web.Application(
        middlewares=[security_headers, body_checks, database_unavailable, body_deadline],
        client_max_size=MAX_READ_BODY,
    )
    app[HUB] = hub
    app[BODY_TIMEOUT] = hub.settings.HTTP_BODY_TIMEOUT_S
    app[STOPPING] = asyncio.Event()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    add_media_routes(app, hub.services.media)
    app[ADMIN_APP] = admin_app.create(hub)
    app.add_subapp("/admin/", app[ADMIN_APP])
    for plugin in hub.plugins:
        plugin.setup_web(hub, app)

    deliver = hub.settings.DELIVER_OUTBOX_IN_PROCESS if deliver_outbox is None else deliver_outbox
    if deliver:
        worker = OutboxWorker.from_settings(hub.db, hub.channels, hub.settings, wake=hub.outbox_queued)
        app.cleanup_ctx.append(in_background("outbox", worker.run_forever))
    minutes = hub.settings.MEDIA_SWEEP_MINUTES
    sweep = bool(minutes) if sweep_media is None else sweep_media
    if sweep and hub.services.media is not None:
        sweeper = MediaSweeper(hub.db, hub.services.media.directory, every=timedelta(minutes=minutes or 60))
        app[MEDIA_SWEEPER] = sweeper
        # Awaited on shutdown, so a sweep under way ends (at its next batch of files) before
        # the database is closed.
        app.cleanup_ctx.append(in_background("media-sweep", sweeper.run_forever, on_stop=sweeper.halt))

    async def _stopping(app: web.Application) -> None:
        app[STOPPING].set()

    app.on_shutdown.append(_stopping)
    return app
