"""`GET /media/{key}`: stored photos, for the web chat, Slack and Telegram to show.

A key names one cleaned photo forever, so it may be cached for a year. The
photo is served as an image and nothing else: the browser may not guess
another type, and were it opened as a page, it could run nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bot import metrics
from bot.media import MediaStore

HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


def media_handler(store: MediaStore) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def serve_media(request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        path = store.path(key)
        if path is None:
            metrics.HTTP_REJECTED.labels("404").inc()
            return web.json_response({"error": "No such photo."}, status=404)
        return web.FileResponse(path, headers={**HEADERS, "Content-Type": store.content_type(key)})

    return serve_media


def add_media_routes(app: web.Application, store: MediaStore | None) -> None:
    if store is not None:
        app.router.add_get("/media/{key}", media_handler(store))
