"""Behind a reverse proxy: per-address limits count residents, not the proxy (issue 10)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.webchat.api import SESSIONS_PER_IP_PER_MINUTE
from bot.settings import ConfigError, Settings, load_settings
from bot.web.server import create_app
from tests.hubs import prepared_hub


@asynccontextmanager
async def client_with(settings: Settings, **changes: str) -> AsyncIterator[TestClient]:
    async with (
        prepared_hub(settings.model_copy(update=changes)) as hub,
        TestClient(TestServer(create_app(hub, deliver_outbox=False))) as client,
    ):
        yield client


async def open_sessions(client: TestClient, forwarded_for: str, count: int) -> list[int]:
    statuses = []
    for _ in range(count):
        response = await client.post("/api/chat/session", json={}, headers={"X-Forwarded-For": forwarded_for})
        statuses.append(response.status)
    return statuses


async def test_a_trusted_proxy_s_forwarded_address_is_the_resident_s(settings: Settings) -> None:
    async with client_with(settings, TRUSTED_PROXIES="127.0.0.1, 10.0.0.0/8") as client:
        full = await open_sessions(client, "203.0.113.7", SESSIONS_PER_IP_PER_MINUTE + 1)
        assert full[:-1] == [201] * SESSIONS_PER_IP_PER_MINUTE and full[-1] == 429
        # Another resident behind the same proxy (and a second proxy hop) is not limited.
        assert await open_sessions(client, "198.51.100.9, 10.1.2.3", 1) == [201]


async def test_without_trusted_proxies_a_forwarded_address_is_ignored(settings: Settings) -> None:
    async with client_with(settings) as client:
        statuses = []
        for n in range(SESSIONS_PER_IP_PER_MINUTE + 1):  # a client cannot dodge the limit by lying
            statuses += await open_sessions(client, f"192.0.2.{n}", 1)
        assert statuses[-1] == 429


def test_a_bad_trusted_proxy_setting_is_one_clear_line() -> None:
    with pytest.raises(ConfigError, match="'not-an-ip' is not an IP address or network"):
        load_settings(TRUSTED_PROXIES="10.0.0.1,not-an-ip", _env_file=None)
