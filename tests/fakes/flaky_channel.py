"""A real `Channel` that delivers over HTTP to the fake platform of `flaky_platform.py`.

It maps the platform's answers the way a real adapter must: 429 is a rate limit with the
platform's own `retry_after` (body or header), any other 5xx or a connection failure is
worth retrying later, a refusal of the message itself is permanent (the core's
`http_delivery_error`, which every channel maps through). It is what the outbox worker processes
of the multi-process delivery tests send with.
"""

from __future__ import annotations

import hashlib

import aiohttp

from bot.delivery.channel import DeliveryError, http_delivery_error
from bot.messages import PLAIN_TEXT, Capabilities, Outgoing

CHANNEL_NAME = "flaky"


def message_key(address: str, text: str) -> str:
    """The same message to the same address always has the same key, whoever sends it,
    so the platform can tell a retry from a new message."""
    return hashlib.sha256(f"{address}\n{text}".encode()).hexdigest()[:24]


class FlakyHttpChannel:
    name = CHANNEL_NAME
    capabilities: Capabilities = PLAIN_TEXT

    def __init__(self, base_url: str, *, sender: str = "", timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.sender = sender
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._http: aiohttp.ClientSession | None = None

    async def send(self, address: str, message: Outgoing) -> None:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self.timeout)
        body = {"address": address, "text": message.text, "id": message_key(address, message.text)}
        try:
            async with self._http.post(
                f"{self.base_url}/send", json=body, headers={"X-Sender": self.sender}
            ) as response:
                if response.status < 300:
                    return
                detail = await response.text()
                wish = await _retry_after(response) if response.status == 429 else None
                raise http_delivery_error(response.status, detail, retry_after=wish)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"cannot reach the platform: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


async def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    """The platform's wish in seconds: the JSON body's `retry_after`, else the header."""
    try:
        data = await response.json(content_type=None)
        if isinstance(data, dict) and isinstance(data.get("retry_after"), int | float):
            return max(0.0, float(data["retry_after"]))
    except ValueError:
        pass
    header = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(header))
    except ValueError:
        return None
