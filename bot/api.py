"""What adapters may use of the core: everything a channel needs, and nothing of its
tables or internals, so the core can change behind it (DESIGN.md: adapters -> bot).

A channel turns a platform's payload into an `Incoming`, hands it to `hub.engine`,
renders the `TurnResult`'s `Outgoing` replies with what it `Capabilities` allow, and
delivers later messages as a `Channel` (raising `DeliveryError`), or a `BatchChannel`
when it can deliver several at about the cost of one. It plugs in as an
`AdapterPlugin`. Reading reports (Open311, the admin pages) goes through `reports`
and `report_queries`.
"""

from __future__ import annotations

from bot import metrics
from bot.cli import UserError, open_hub
from bot.content import staff_answers
from bot.delivery import recipients
from bot.delivery.channel import BatchChannel, Channel, DeliveryError, PayloadChannel, http_delivery_error
from bot.delivery.pacing import Pacer
from bot.delivery.transcript import TranscriptChannel, TranscriptEntry, latest_messages, messages_after
from bot.engine import TurnResult
from bot.geocoding import Geocoder, GeocodingUnavailable, Place
from bot.hub import Hub
from bot.media import MediaError, over_limit, too_large, valid_key
from bot.messages import (
    Capabilities,
    Choice,
    Incoming,
    Link,
    Location,
    Outgoing,
    Photo,
    clean_text,
    degrade,
)
from bot.models import Report, ReportEvent
from bot.plugin import AdapterPlugin
from bot.pollers import PollerLease
from bot.reporting import queries as report_queries
from bot.reporting import reports
from bot.settings import Settings
from bot.staff import cards as staff_cards
from bot.staff import events as staff_events
from bot.staff import handoffs
from bot.staff import threads as staff_threads
from bot.staff.cards import HandoffCard, ReportCard
from bot.staff.handoffs import StaffError, StaffMember
from bot.timeutil import utcnow
from bot.waiting import first_of
from bot.web import ratelimit, sessions
from bot.web.background import in_background
from bot.web.requests import client_address
from bot.web.server import HUB, MAX_READ_BODY, STOPPING, UNAVAILABLE

__all__ = [
    "HUB",
    "MAX_READ_BODY",
    "STOPPING",
    "UNAVAILABLE",
    "AdapterPlugin",
    "BatchChannel",
    "Capabilities",
    "Channel",
    "Choice",
    "DeliveryError",
    "Geocoder",
    "GeocodingUnavailable",
    "HandoffCard",
    "Hub",
    "Incoming",
    "Link",
    "Location",
    "MediaError",
    "Outgoing",
    "Pacer",
    "PayloadChannel",
    "Photo",
    "Place",
    "PollerLease",
    "Report",  # read-only: as `report_queries` returns them; changes go through `reports`
    "ReportCard",
    "ReportEvent",
    "Settings",
    "StaffError",
    "StaffMember",
    "TranscriptChannel",
    "TranscriptEntry",
    "TurnResult",
    "UserError",
    "clean_text",
    "client_address",
    "degrade",
    "first_of",
    "handoffs",
    "http_delivery_error",
    "in_background",
    "latest_messages",
    "messages_after",
    "metrics",
    "open_hub",
    "over_limit",
    "ratelimit",
    "recipients",
    "report_queries",
    "reports",
    "sessions",
    "staff_answers",
    "staff_cards",
    "staff_events",
    "staff_threads",
    "too_large",
    "utcnow",
    "valid_key",
]
