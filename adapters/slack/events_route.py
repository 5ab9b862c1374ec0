"""`POST /slack/events`: events, interactivity and slash commands, in HTTP mode.

bolt checks the signature (v0, five minutes; 401 otherwise), answers url_verification
and dispatches to the listeners, which finish before the answer (adapters.slack.listeners).
"""

from __future__ import annotations

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from adapters.slack.constants import PATH

__all__ = ["APP", "PATH", "slack_events"]
MAX_BODY = 1024 * 1024  # Slack's payloads are a few kilobytes; a modal's state a few more
APP = web.AppKey("slack_app", AsyncApp)


async def slack_events(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > MAX_BODY:
        return web.json_response({"ok": False, "error": "a Slack request is never this large"}, status=413)
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        return web.json_response({"ok": False, "error": "a Slack request is never this large"}, status=413)
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        return web.json_response({"ok": False, "error": "the body is not UTF-8"}, status=400)
    bolt_request = AsyncBoltRequest(body=body, query=request.query_string, headers=dict(request.headers))
    response = await request.app[APP].async_dispatch(bolt_request)
    return await to_aiohttp_response(response)
