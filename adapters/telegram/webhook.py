"""`POST /telegram/webhook`: Telegram's updates, answered 200 once they are on record.

Telegram sends the secret it was given with setWebhook in a header; anything without
it is refused before its body is read. It redelivers an update after any answer that
is not 2xx, so 200 comes only after the turn committed (the engine records the
update's id: a redelivery is answered from the record). A body that is not an update
is a 400, which Telegram does not retry, since it would only be refused again.
"""

from __future__ import annotations

import hmac
import json
import logging

from aiohttp import web
from telegram.error import TelegramError

from adapters.telegram.client import redact
from adapters.telegram.updates import UpdateHandler, parse_update

log = logging.getLogger(__name__)

PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES = 1024 * 1024  # an update is a few kilobytes; photos come by file id
HANDLER = web.AppKey("telegram_updates", UpdateHandler)
SECRET = web.AppKey("telegram_webhook_secret", str)


def problem(status: int, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)


async def webhook(request: web.Request) -> web.Response:
    given = request.headers.get(SECRET_HEADER, "").encode()
    if not hmac.compare_digest(given, request.app[SECRET].encode()):
        return problem(403, "wrong or missing secret token")
    if request.content_length is not None and request.content_length > MAX_UPDATE_BYTES:
        return problem(413, "an update is never this large")
    body = await request.content.read(MAX_UPDATE_BYTES + 1)
    if len(body) > MAX_UPDATE_BYTES:
        return problem(413, "an update is never this large")
    handler = request.app[HANDLER]
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return problem(400, "the body is not JSON")
    update = parse_update(data, handler.bots.bot)
    if update is None:
        return problem(400, "the body is not a Telegram update")
    try:
        await handler.handle(update)
    except TelegramError as exc:  # the bot's own identity (getMe) could not be had: later
        said = redact(exc.message, handler.bots.bot.token)
        log.warning("telegram: update %s not handled yet: %s", update.update_id, said)
        return web.json_response(
            {"ok": False, "error": "try again"}, status=503, headers={"Retry-After": "5"}
        )
    return web.json_response({"ok": True})
