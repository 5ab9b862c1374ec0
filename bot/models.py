"""The database tables. Everything that must outlive one request lives here.

Rows, not process memory, hold conversation state, processed message ids, the
transcript and the outbox, so several `serve` processes can share one bot and
a restart loses nothing (docs/ARCHITECTURE.md, "Rules for state").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.timeutil import utcnow


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always hands back aware datetimes, on SQLite as on PostgreSQL.

    SQLite has no time zones; without this, comparisons between a loaded value
    and `utcnow()` raise TypeError at the worst moment.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
        datetime: UTCDateTime,
    }


class Conversation(Base):
    """One resident's thread on one channel; its `state` is the dialog's memory."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_conversation_address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(200))
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Turn(Base):
    """A processed incoming message. The unique key makes a redelivery a no-op:
    the stored replies are handed back instead of running the dialog again."""

    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("channel", "message_id", name="uq_turn_message"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[str] = mapped_column(String(200))
    replies: Mapped[list[Any]] = mapped_column(default=list)
    transcript_ids: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TranscriptMessage(Base):
    """What was said in a conversation, both ways; web chat history and live updates read it."""

    __tablename__ = "transcript"
    __table_args__ = (Index("ix_transcript_conversation", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(8))  # "in" | "out"
    payload: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# The WHERE of the partial indexes (migration 0006). Queries that should use them say the
# same words, literally: SQLite uses a partial index only for the very same expression.
OUTBOX_WAITING = "status IN ('pending', 'sending')"
OUTBOX_WAITING_STATUSES = ("pending", "sending")
REPORT_OPEN = "status != 'closed'"
REPORT_TIMED = "days_to_close IS NOT NULL"  # closed, with a time to close (migration 0007)


class OutboxMessage(Base):
    """A message to send later (status updates, staff replies); never dropped silently."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_address", "channel", "address", "id"),
        # The rows still waiting, for the "no earlier row to this address waits" check of a
        # claim: as small as the queue, however much history there is (migration 0006).
        Index(
            "ix_outbox_waiting",
            "channel",
            "address",
            "id",
            sqlite_where=text(OUTBOX_WAITING),
            postgresql_where=text(OUTBOX_WAITING),
        ),
        Index(
            "ix_outbox_queue",
            "id",
            sqlite_where=text(OUTBOX_WAITING),
            postgresql_where=text(OUTBOX_WAITING),
        ),
        Index("ix_outbox_sent_at", "sent_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending|sending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebSession(Base):
    """A web chat session. Only a hash of the bearer token is stored."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RateCounter(Base):
    """Fixed-window counters shared by every process (a flood hits all of them)."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(Integer, default=0)


class KnowledgeEntry(Base):
    """One answer of the knowledge base, editable by admins."""

    __tablename__ = "kb_entries"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    alternatives: Mapped[list[Any]] = mapped_column(default=list)
    answer: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    links: Mapped[list[Any]] = mapped_column(default=list)
    service_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    author: Mapped[str | None] = mapped_column(String(200), nullable=True)


class KnowledgeRevision(Base):
    """A single counter bumped by every knowledge edit, so each process can tell
    cheaply, once per message, whether its search index is stale."""

    __tablename__ = "kb_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)


class SynonymGroup(Base):
    """Words residents use for the same thing ("garbage" = "trash"); first is canonical."""

    __tablename__ = "kb_synonyms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    terms: Mapped[list[Any]] = mapped_column()


class PhrasingVector(Base):
    """A cached sentence embedding, keyed by a hash of the model and the text, so an
    edit re-embeds only what changed and a restart embeds nothing."""

    __tablename__ = "kb_vectors"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class TrainingExample(Base):
    """One labelled resident message the assistant learns from (knowledge/training.py
    names the labels); edited like the knowledge base and counted in its revision."""

    __tablename__ = "kb_training"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(120), index=True)
    text: Mapped[str] = mapped_column(Text)


class EmergencyAdvice(Base):
    """What to do, per kind of emergency, shown after "Call 911 now"."""

    __tablename__ = "kb_emergency_advice"

    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    advice: Mapped[str] = mapped_column(Text)


class TrainedModel(Base):
    """The understanding models trained on one set of examples, as arrays (knowledge/learned.py),
    keyed by a digest of those examples: every process loads what one process trained."""

    __tablename__ = "kb_models"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UnansweredQuestion(Base):
    """A question the bot could not answer, grouped by its normalised text, for the admins."""

    __tablename__ = "unanswered_questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    normalised: Mapped[str] = mapped_column(String(500), unique=True)
    text: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(32))
    best_guesses: Mapped[list[Any]] = mapped_column(default=list)
    times_asked: Mapped[int] = mapped_column(Integer, default=1)
    first_asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|answered|dismissed


class Report(Base):
    """A service request (an Open311 request), filed from a chat or through the API."""

    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_service_status", "service_code", "status"),
        Index("ix_reports_created_at", "created_at"),
        # "Already reported nearby?": by position, and by the same address typed another way.
        Index("ix_reports_service_lat", "service_code", "lat"),
        Index("ix_reports_address_key", "address_key", "service_code"),
        # Open reports by service and place: the already-reported check reads these alone
        # (migration 0006).
        Index(
            "ix_reports_open_place",
            "service_code",
            "lat",
            "lon",
            sqlite_where=text(REPORT_OPEN),
            postgresql_where=text(REPORT_OPEN),
        ),
        # Open311's list of one service, newest first: read in order, not sorted (migration 0007).
        Index("ix_reports_service_created", "service_code", "created_at", "id"),
        # `civic311 stats` (migration 0007): the counts per service, status and reason, and per
        # place and status, each read from one index alone, `--since` included ...
        Index(
            "ix_reports_stats_service",
            "service_code",
            "status",
            "close_reason",
            "created_at",
            "days_to_close",
        ),
        Index("ix_reports_stats_place", "place_key", "status", "created_at", "days_to_close"),
        # ... and the medians: the closed reports of each group in order of their time to close,
        # so the middle one is found by counting along an index rather than by sorting.
        Index(
            "ix_reports_days",
            "days_to_close",
            "created_at",
            sqlite_where=text(REPORT_TIMED),
            postgresql_where=text(REPORT_TIMED),
        ),
        Index(
            "ix_reports_days_service",
            "service_code",
            "days_to_close",
            "created_at",
            sqlite_where=text(REPORT_TIMED),
            postgresql_where=text(REPORT_TIMED),
        ),
        Index(
            "ix_reports_days_reason",
            "close_reason",
            "days_to_close",
            "created_at",
            sqlite_where=text(REPORT_TIMED),
            postgresql_where=text(REPORT_TIMED),
        ),
        Index(
            "ix_reports_days_place",
            "place_key",
            "days_to_close",
            "created_at",
            sqlite_where=text(REPORT_TIMED),
            postgresql_where=text(REPORT_TIMED),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True, nullable=True)
    service_code: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    close_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lat: Mapped[float | None] = mapped_column(nullable=True)
    lon: Mapped[float | None] = mapped_column(nullable=True)
    address: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The address folded for comparison ("5th and Market" == "Market St & 5th St"),
    # so a duplicate is found even without coordinates.
    address_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # Where the report counts in the statistics (bot/reporting/places.py), kept when it is
    # filed: 'street:main', 'area:37.781,-122.409', NULL for no place (300 characters
    # of folded address at most, and the kind).
    place_key: Mapped[str | None] = mapped_column(String(320), nullable=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Media keys of stored photos (served at /media/{key}) or external http(s) URLs (Open311).
    media: Mapped[list[Any]] = mapped_column(default=list)
    # Personal data (name, email, phone given through Open311): never in public responses.
    contact: Mapped[dict[str, Any]] = mapped_column(default=dict)
    department: Mapped[str | None] = mapped_column(String(200), nullable=True)
    assignee: Mapped[str | None] = mapped_column(String(200), nullable=True)  # a staff member's name
    source: Mapped[str] = mapped_column(String(32), default="chat")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Days from filing to closing while closed, else NULL; written with `closed_at`
    # (`reports.set_status`), so the statistics' medians are read from an index.
    days_to_close: Mapped[float | None] = mapped_column(Float, nullable=True)


class ReportEvent(Base):
    """One step of a report's history: filed, a status change, a note."""

    __tablename__ = "report_events"
    __table_args__ = (
        Index("ix_report_events_report", "report_id", "id"),
        Index("ix_report_events_created_at", "created_at"),
        # Another system's id for an update it sent (Open311 `update_id`): a retry is recognised.
        Index("uq_report_events_external", "actor", "external_id", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    close_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    actor: Mapped[str] = mapped_column(String(100), default="system")
    external_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subscription(Base):
    """Someone to tell when a report changes: its filer, or a resident who follows it."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("report_id", "channel", "address", name="uq_subscription"),
        Index("ix_subscriptions_address", "channel", "address"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="filer")  # filer | follower
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ServiceRow(Base):
    """One kind of problem residents can report (an Open311 service), editable like the
    knowledge base; `attributes` holds the service's own questions as Open311 describes them."""

    __tablename__ = "services"

    code: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    group_name: Mapped[str] = mapped_column(String(200), default="")
    department: Mapped[str] = mapped_column(String(200), default="")
    keywords: Mapped[list[Any]] = mapped_column(default=list)
    typical_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attributes: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DepartmentRow(Base):
    """A city department that works reports; `slack_channel` is where its new reports go."""

    __tablename__ = "departments"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    slack_channel: Mapped[str | None] = mapped_column(String(100), nullable=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Poller(Base):
    """A platform's update feed that one process at a time may read (Telegram's getUpdates
    refuses a second reader): who holds it, until when, and where reading stopped, so a
    restart or another process goes on from there and neither loses nor repeats updates."""

    __tablename__ = "pollers"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Handoff(Base):
    """A resident's conversation passed to city staff. While `open`, what the resident says
    is shown to staff too; while `held`, staff talk and the bot keeps quiet (except to say
    911). A row, not process memory, so any process sees who holds a conversation."""

    __tablename__ = "handoffs"
    __table_args__ = (Index("ix_handoffs_conversation", "conversation_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    report_id: Mapped[int | None] = mapped_column(
        ForeignKey("reports.id", ondelete="SET NULL"), nullable=True
    )
    question: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | held | closed
    held_by: Mapped[str | None] = mapped_column(String(200), nullable=True)  # the desk's id of them
    held_by_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)  # staff's last reply, for "Save as FAQ"
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # An open handoff nobody answers or holds ends by itself, so a resident is not mirrored
    # to staff for ever after one question.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StaffThread(Base):
    """Where a staff desk shows a subject ("report:12", "handoff:3"): the Slack channel and
    message of its thread, so later events update that message and reply in its thread."""

    __tablename__ = "staff_threads"
    __table_args__ = (
        UniqueConstraint("desk", "subject", name="uq_staff_thread_subject"),
        Index("ix_staff_threads_message", "desk", "place", "ts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    desk: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64))
    place: Mapped[str] = mapped_column(String(64))  # the platform's channel id
    ts: Mapped[str] = mapped_column(String(32))  # the platform's message id
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffNote(Base):
    """What staff wrote in a subject's thread: internal, never sent to a resident."""

    __tablename__ = "staff_notes"
    __table_args__ = (Index("ix_staff_notes_subject", "subject", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SeenDelivery(Base):
    """A platform's id of something already applied (a Slack event_id, an action): a retry
    of it is acknowledged and not applied twice."""

    __tablename__ = "seen_deliveries"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AdminUser(Base):
    """An account of the admin pages. Only an argon2id hash of the password is kept."""

    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # admin | editor
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AdminSession(Base):
    """A signed-in browser. The cookie holds a random token; only its hash is stored, so a
    copy of the database signs nobody in. A row, so "log out everywhere" and expiry hold
    for every process."""

    __tablename__ = "admin_sessions"
    __table_args__ = (Index("ix_admin_sessions_user", "user_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("admin_users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    address: Mapped[str] = mapped_column(String(64), default="")


class AuditEntry(Base):
    """Who changed what, when: every change made through the admin pages or `civic311
    admin`, kept for the city's records."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class EntryRevision(Base):
    """One saved state of a knowledge-base entry, so an edit can be compared and undone."""

    __tablename__ = "kb_entry_revisions"
    __table_args__ = (UniqueConstraint("entry_id", "number", name="uq_entry_revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(100))
    number: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))  # created | edited | restored | ...
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    author: Mapped[str] = mapped_column(String(254), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RegressionQuestion(Base):
    """A question admins want answered the same way after every change, with what the bot
    made of it at the last run and the run before, so a page can show what changed."""

    __tablename__ = "kb_regression"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String(500), unique=True)
    expected: Mapped[str] = mapped_column(String(200), default="")  # "faq:ID", "report:CODE", an intent
    last_result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    previous_result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
