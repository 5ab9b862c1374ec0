"""The contract every adapter implements to deliver messages later (outbox)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

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


@runtime_checkable
class PayloadChannel(Channel, Protocol):
    """A channel whose rows are not messages to a resident but events it renders itself
    (the staff desk: a new report, a status change); the outbox hands it the stored payload."""

    async def send_payload(self, address: str, payload: dict[str, Any]) -> None:
        """Deliver one event or raise DeliveryError, as `send` does."""


# Refusals that sending the same message again cannot change. 401 is not one: a wrong
# token is fixed by the operator, and the messages should then go, not be lost.
PERMANENT_STATUSES = frozenset({400, 403, 404, 410, 413, 414, 415, 422})


def http_delivery_error(status: int, detail: str, *, retry_after: float | None = None) -> DeliveryError:
    """A platform's HTTP refusal as the outbox understands it: 429 waits the platform's
    `retry_after` (a second if it named none), a refusal of the message itself is
    permanent, and anything else (5xx, 408, 401, a proxy's answer) is tried again with
    backoff. Every channel maps its platform's answers through this."""
    reason = f"HTTP {status}: {detail[:300]}" if detail else f"HTTP {status}"
    if status == 429:
        return DeliveryError(reason, retry_after=max(0.0, retry_after) if retry_after is not None else 1.0)
    if status in PERMANENT_STATUSES:
        return DeliveryError(reason, permanent=True)
    return DeliveryError(reason, retry_after=retry_after)
