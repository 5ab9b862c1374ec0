"""The python-telegram-bot client, built from the settings, and what its errors mean to us.

The token is part of every Bot API URL (file URLs too), so it must never reach a log
line, an error shown to anyone or a metric: PTB's own InvalidToken message quotes it,
and httpx logs each request's URL. `redact` removes it from text, and `TokenFilter`
from every log record that passes the handlers of the root logger.
"""

from __future__ import annotations

import logging
import warnings
from datetime import timedelta

from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.api import DeliveryError, Settings, http_delivery_error

LONG_POLL_S = 50  # Telegram holds a getUpdates this long when there is nothing to say
ALLOWED_UPDATES = ("message", "callback_query", "my_chat_member")
MASK = "<telegram-token>"


def make_bot(settings: Settings) -> Bot:
    """A Bot on the configured API (Telegram's, a local Bot API server, or a test fake).
    Sends time out well within the outbox's lease; the long poll has its own connection,
    so it never holds up a send."""
    token = settings.TELEGRAM_BOT_TOKEN or ""
    sends = HTTPXRequest(
        connection_pool_size=16,
        connect_timeout=5.0,
        read_timeout=15.0,
        write_timeout=15.0,
        pool_timeout=10.0,
        media_write_timeout=30.0,
        httpx_kwargs={"trust_env": False},  # no proxy from the environment: only the URL we were given
    )
    polls = HTTPXRequest(
        connection_pool_size=1,
        connect_timeout=5.0,
        read_timeout=LONG_POLL_S + 10.0,
        write_timeout=10.0,
        pool_timeout=5.0,
        httpx_kwargs={"trust_env": False},
    )
    return Bot(
        token,
        base_url=settings.TELEGRAM_API_BASE_URL,
        base_file_url=settings.TELEGRAM_FILE_BASE_URL,
        request=sends,
        get_updates_request=polls,
    )


def redact(text: str, token: str | None) -> str:
    if not token:
        return text
    text = text.replace(token, MASK)
    secret = token.partition(":")[2]  # the part after the bot's id is the secret part
    return text.replace(secret, MASK) if len(secret) >= 8 else text


class TokenFilter(logging.Filter):
    """Rewrites each record's message and traceback without the token."""

    def __init__(self, token: str) -> None:
        super().__init__("civic311.telegram.redact")
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message or self.token.partition(":")[2] in message:
            record.msg, record.args = redact(message, self.token), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.token)
        return True


def install_token_filter(token: str) -> TokenFilter:
    """On every handler of the root logger (records of all loggers pass them), and the
    request log of httpx quietened to warnings."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    flt = TokenFilter(token)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, TokenFilter) for f in handler.filters):
            handler.addFilter(flt)
    return flt


def retry_after_s(exc: RetryAfter) -> float:
    """The wait Telegram asked for. PTB 22 gives it as int seconds with a deprecation
    warning, and as a timedelta once PTB_TIMEDELTA is set: either is read the same."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def delivery_error(exc: TelegramError, token: str | None) -> DeliveryError:
    """A Bot API refusal in the outbox's terms (ChatMigrated is the caller's: the message
    goes to the new chat). PTB has already read the HTTP status into its exception type."""
    detail = redact(exc.message, token)
    if isinstance(exc, RetryAfter):
        return http_delivery_error(429, detail, retry_after=retry_after_s(exc))
    if isinstance(exc, Forbidden):  # blocked by the user, kicked from the group, user deactivated
        return http_delivery_error(403, detail)
    if isinstance(exc, InvalidToken):
        return http_delivery_error(401, "the bot token was refused (TELEGRAM_BOT_TOKEN)")
    if isinstance(exc, EndPointNotFound):
        return http_delivery_error(404, detail)
    if isinstance(exc, BadRequest | ChatMigrated):  # the message itself (chat not found, bad HTML)
        return http_delivery_error(400, detail)
    if isinstance(exc, Conflict):
        return http_delivery_error(409, detail)
    if isinstance(exc, TimedOut):
        return http_delivery_error(504, f"timed out: {detail}")
    if isinstance(exc, NetworkError):  # 5xx, a connection refused or reset
        return http_delivery_error(502, detail)
    return http_delivery_error(500, detail)
