"""Prometheus metrics, served at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

TURNS = Counter("civic311_turns_total", "Incoming messages handled", ["channel", "outcome"])
TURN_RETRIES = Counter("civic311_turn_retries_total", "Turns run again after their database connection died")
TURN_SECONDS = Histogram("civic311_turn_seconds", "Time to handle one incoming message")
INTENTS = Counter("civic311_intents_total", "What residents' messages were understood as", ["intent"])
OUTBOX = Counter("civic311_outbox_total", "Outbox delivery attempts", ["channel", "outcome"])
OUTBOX_PENDING = Gauge("civic311_outbox_pending", "Outbox messages waiting to be sent")
HTTP_REJECTED = Counter("civic311_http_rejected_total", "Requests refused", ["reason"])
PLATFORM_CALLS = Counter(
    "civic311_platform_calls_total", "Calls to chat platforms' APIs", ["channel", "kind", "outcome"]
)
PLATFORM_UPDATES = Counter(
    "civic311_platform_updates_total", "Updates received from chat platforms", ["channel", "kind"]
)
