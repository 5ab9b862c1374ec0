"""The contract every adapter implements to deliver messages later (outbox)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.messages import Capabilities, Outgoing


class DeliveryError(Exception):
    """Sending failed. `retry_after` (seconds) is the platform's own wish, if it
    said one; `permanent` means trying again cannot help (blocked bot, deleted chat)."""

    def __init__(self, reason: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.permanent = permanent


@runtime_checkable
class Channel(Protocol):
    name: str
    capabilities: Capabilities

    async def send(self, address: str, message: Outgoing) -> None:
        """Deliver one message or raise DeliveryError."""
