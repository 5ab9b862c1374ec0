"""The contract every adapter implements to deliver messages later (outbox)."""

from __future__ import annotations

from collections.abc import Sequence
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
        """Deliver one message or raise DeliveryError. The outbox may call it for several
        addresses at once (never twice at once for one address), so a platform with a rate
        limit across addresses paces itself here or answers with `retry_after`."""


@runtime_checkable
class BatchChannel(Channel, Protocol):
    """A channel that delivers a batch at about the cost of one message (one database write
    for the channels that store what they show); the outbox uses it when a channel has it."""

    async def send_batch(self, messages: Sequence[tuple[str, Outgoing]]) -> list[DeliveryError | None]:
        """Deliver each (address, message), the addresses all different: one outcome per
        message, in order, None when it was delivered. Raising says none was."""
