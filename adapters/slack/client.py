"""The Slack Web API client (slack_sdk's AsyncWebClient, at SLACK_API_URL) and what its
errors mean to the outbox: a 429 waits Slack's Retry-After; a wrong token is an operator's
fix, retried; a message Slack refuses is kept as failed with Slack's reason."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.api import DeliveryError, Settings, http_delivery_error, metrics

log = logging.getLogger(__name__)

NAME = "slack"
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"})
PLACE_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived"})
NAMES_KEPT = 1000
NAME_TTL_S = 3600.0


def make_client(settings: Settings) -> AsyncWebClient:
    return AsyncWebClient(token=settings.SLACK_BOT_TOKEN, base_url=settings.SLACK_API_URL, timeout=10)


def error_code(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or "unknown_error")


def delivery_error(exc: BaseException, method: str) -> DeliveryError:
    """Slack's refusal, or a failure to reach it, as the outbox understands it."""
    if isinstance(exc, SlackApiError):
        status, code = exc.response.status_code, error_code(exc)
        metrics.PLATFORM_CALLS.labels(NAME, method, code).inc()
        if status == 429 or code == "ratelimited":
            retry = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
            return http_delivery_error(429, f"{method}: ratelimited", retry_after=_seconds(retry))
        if code in AUTH_ERRORS:
            log.error(
                "slack: %s refused the bot token (%s): check SLACK_BOT_TOKEN; messages wait", method, code
            )
            return DeliveryError(f"{method}: {code}")
        if code in PLACE_ERRORS:
            log.error("slack: %s: %s (invite the app to the channel, or fix the channel id)", method, code)
            return DeliveryError(f"{method}: {code}")
        if status >= 500 or code in (
            "internal_error",
            "fatal_error",
            "service_unavailable",
            "request_timeout",
        ):
            return http_delivery_error(max(status, 500), f"{method}: {code}")
        return DeliveryError(f"{method}: {code}", permanent=True)  # the message itself was refused
    metrics.PLATFORM_CALLS.labels(NAME, method, "unreachable").inc()
    return DeliveryError(f"{method}: Slack could not be reached ({type(exc).__name__})")


def _seconds(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


UNREACHABLE = (ClientError, TimeoutError, OSError)


class StaffNames:
    """Staff members' names by Slack user id (users.info), kept for an hour: a button press
    shows who pressed it without asking Slack each time. A cache of what Slack knows, not
    state: any process may ask again."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._names: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def name(self, user_id: str, fallback: str = "") -> str:
        kept = self._names.get(user_id)
        if kept is not None and time.monotonic() - kept[0] < NAME_TTL_S:
            return kept[1]
        name = fallback or user_id
        try:
            info = await self.client.users_info(user=user_id)
            user = info.get("user") or {}
            profile = user.get("profile") or {}
            name = str(
                profile.get("real_name") or user.get("real_name") or profile.get("display_name") or name
            )
        except (SlackApiError, *UNREACHABLE) as exc:
            log.info("slack: users.info for a staff member failed (%s); using their user name", exc)
            return name
        self._names[user_id] = (time.monotonic(), name)
        while len(self._names) > NAMES_KEPT:
            self._names.popitem(last=False)
        return name
