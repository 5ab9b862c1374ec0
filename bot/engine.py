"""The engine: one incoming message, one database transaction.

Record the platform's message id (a redelivery is answered once, with the
same replies), lock the conversation, run the dialog, save the new state, the
transcript and the outbox rows, commit. Conversations are serialised by their
row lock (PostgreSQL) or the single writer (SQLite), so the messages of one
conversation are handled in order while different conversations run in
parallel.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot import metrics
from bot.db import Database, connection_lost
from bot.delivery.outbox import Later, enqueue
from bot.delivery.transcript import TranscriptEntry
from bot.dialog import Context, DialogRegistry, LookupNeeded, Prepared, State, Step
from bot.geocoding import GeocodingUnavailable, Place
from bot.messages import PLAIN_TEXT, Capabilities, Incoming, Outgoing, Photo, normalise, resolve_choice
from bot.models import Conversation, TranscriptMessage, Turn
from bot.services import Services
from bot.staff import handoffs
from bot.timeutil import utcnow

log = logging.getLogger(__name__)

CANCEL_WORDS = frozenset(
    {
        "cancel",
        "stop",
        "start over",
        "restart",
        "reset",
        "quit",
        "exit",
        "abort",
        "nevermind",
        "never mind",
        "forget it",
        "cancel that",
        "cancel please",
        "please cancel",
    }
)
HELP_WORDS = frozenset({"help", "help me", "menu", "options", "what can you do", "commands"})
START_COMMANDS = frozenset({"start", "/start"})
# A turn whose PostgreSQL connection died is run again on a new one this many times in all.
# (On SQLite a failure is a lock held past the busy timeout: waiting again would only double
# the resident's wait, so it is a 503 at once.)
TURN_ATTEMPTS = 3
MAX_LOOKUPS = 3  # place lookups one turn may ask for (one is usual)
COMMAND_PREFIX = "command:"  # a dialog registered as "command:status" answers "/status ..."


def global_command(text: str) -> str | None:
    """'cancel' / 'help' / 'start', recognised at any point of any dialog."""
    raw = text.strip().lower()
    if raw in START_COMMANDS:
        return "start"
    if raw in ("/cancel", "/reset"):
        return "cancel"
    if raw in ("/help", "?"):
        return "help"
    said = normalise(text)
    if said in CANCEL_WORDS:
        return "cancel"
    if said in HELP_WORDS:
        return "help"
    return None


def slash_command(text: str) -> tuple[str, str] | None:
    """A command as chat apps send it ("/status 10234", "/start status_10234"): its name,
    lower case, and the rest. The names the dialogs registered as `COMMAND_PREFIX + name`
    are run at any point of any dialog; "/start" with a deep link's payload is one."""
    raw = text.strip()
    if not raw.startswith("/") or len(raw) < 2:
        return None
    name, _, rest = raw[1:].partition(" ")
    name = name.split("@", 1)[0].lower()  # "/status@civic311_bot" in a group
    if not name.isascii() or not name.replace("_", "").isalnum():
        return None
    return name, rest.strip()


@dataclass(slots=True)
class TurnResult:
    replies: list[Outgoing]
    transcript: list[TranscriptEntry] = field(default_factory=list)
    duplicate: bool = False
    queued: int = 0  # outbox rows the turn wrote (later messages, replies sent later)


class Engine:
    def __init__(
        self,
        db: Database,
        dialogs: DialogRegistry,
        services: Services,
        *,
        timeout: timedelta = timedelta(minutes=30),
        max_chars: int = 2000,
        capabilities: dict[str, Capabilities] | None = None,
    ) -> None:
        self.db = db
        self.dialogs = dialogs
        self.services = services
        self.timeout = timeout
        self.max_chars = max_chars
        self.capabilities = capabilities if capabilities is not None else {}
        # Called after a turn that wrote outbox rows commits: the hub wakes this process's
        # outbox worker with it, so a reply sent later goes out now rather than at its poll.
        self.queued: Callable[[], None] | None = None

    async def handle(self, incoming: Incoming, *, replies_later: bool = False) -> TurnResult:
        """Run one turn. `replies_later`: the replies are also written to the outbox in the
        turn's transaction, for channels that deliver them by calling the platform (which no
        turn may wait on); a redelivered message's replies are not queued again.

        The message's photos, stored by the channel before the turn, are removed again when
        they end on no record: the turn failed, or it was a redelivery answered from the
        first delivery, whose photos are the ones on record."""
        try:
            result = await self._handle(incoming, replies_later)
        except BaseException:
            self._discard(incoming.photos)
            raise
        if result.duplicate and incoming.photos:
            shown = {p.get("key") for e in result.transcript for p in e.payload.get("photos") or ()}
            self._discard(tuple(p for p in incoming.photos if p.key not in shown))
        return result

    def _discard(self, photos: tuple[Photo, ...]) -> None:
        media = self.services.media
        if media is not None:
            for photo in photos:
                media.discard(photo.key)

    async def _handle(self, incoming: Incoming, replies_later: bool) -> TurnResult:
        started = time.perf_counter()
        incoming = incoming.cleaned()  # whatever the channel let through, stored and read safely
        prepared = await self._prepare(incoming)
        attempt, lookups = 1, 0
        while True:
            try:
                async with self.db.transaction() as session:
                    result = await self._turn(session, incoming, prepared, replies_later)
                break
            except LookupNeeded as need:  # rolled back: look it up unlocked, then run the turn again
                lookups += 1
                if lookups > MAX_LOOKUPS:
                    raise RuntimeError(f"a turn asked for more than {MAX_LOOKUPS} place lookups") from None
                prepared.places[need.query] = await self._look_up(need.query)
            except Exception as exc:
                if attempt < TURN_ATTEMPTS and not self.db.is_sqlite and connection_lost(exc):
                    # The turn went with its connection; doing it again is safe: if the commit
                    # did land, the message id is on record and the turn is replayed, not redone.
                    log.info("turn %s lost its connection, trying again: %s", incoming.message_id, exc)
                    metrics.TURN_RETRIES.inc()
                    attempt += 1
                    continue
                metrics.TURNS.labels(incoming.channel, "error").inc()
                raise
        if result.queued and self.queued is not None:
            self.queued()  # committed: the outbox may send them now, not at its next poll
        outcome = "duplicate" if result.duplicate else "ok"
        metrics.TURNS.labels(incoming.channel, outcome).inc()
        metrics.TURN_SECONDS.observe(time.perf_counter() - started)
        return result

    async def _prepare(self, incoming: Incoming) -> Prepared:
        """Understand the text before the turn's transaction opens: the model's few
        milliseconds of CPU are then not spent holding SQLite's write lock, or a conversation's
        row lock. Wasted only when the text turns out to answer a choice ("2")."""
        prepared = Prepared()
        text = incoming.text
        if not text.strip() or incoming.choice or len(text) > self.max_chars or global_command(text):
            return prepared
        async with self.db.reading() as session:
            prepared.understander = await self.services.knowledge.current(session)
        prepared.understood[text] = prepared.understander.understand(text)
        return prepared

    async def _look_up(self, query: str) -> Place | GeocodingUnavailable | None:
        try:
            return await self.services.geocoder.geocode(query)
        except GeocodingUnavailable as exc:
            return exc

    async def _turn(
        self, session: Any, incoming: Incoming, prepared: Prepared, replies_later: bool
    ) -> TurnResult:
        now = utcnow()
        conversation = await self._lock_conversation(session, incoming, now)

        seen = await session.scalar(
            select(Turn).where(Turn.channel == incoming.channel, Turn.message_id == incoming.message_id)
        )
        if seen is not None:
            return await self._replay(session, seen)

        state = State.from_json(conversation.state)
        expired = bool(state.active and conversation.expires_at and conversation.expires_at <= now)
        if expired:
            state = State()

        slash = self._command_of(incoming)
        incoming, label = self._resolve_choice(incoming, state, slash is not None)
        handoff = await handoffs.current(session, conversation.id, now) if self.services.staff_desk else None
        if handoff is not None and handoff.status == "held" and not self._emergency(incoming, prepared):
            step = Step(state, [])  # staff hold the conversation: the bot keeps quiet
        else:
            step = await self._run(session, conversation, state, incoming, now, expired, prepared, slash)

        asked = next((r for r in reversed(step.replies) if r.choices), None)
        # An interruption (help, a 911 warning) hands the same state back: the choices
        # offered before it still stand, so "1" afterwards still means the first of them,
        # and the question they came with can be asked again.
        if asked is not None or step.state is not state:
            step.state.choices = list(asked.choices) if asked else []
            if step.state.active and step.replies:
                step.state.prompt = (asked or step.replies[-1]).to_json()
        conversation.state = step.state.to_json()
        conversation.expires_at = now + self.timeout if step.state.active else None
        conversation.updated_at = now

        said = incoming.to_json()
        if label:
            said["text"] = label
        rows = [
            TranscriptMessage(
                conversation_id=conversation.id,
                direction="in",
                payload={"from": "resident", **said},
                created_at=now,
            )
        ]
        rows += [
            TranscriptMessage(
                conversation_id=conversation.id,
                direction="out",
                payload={"from": "bot", **r.to_json()},
                created_at=now,
            )
            for r in step.replies
        ]
        session.add_all(rows)
        if handoff is not None:
            handoffs.mirror(session, handoff, said, step.replies, now)
        queued = (
            [Later(incoming.channel, incoming.conversation, r) for r in step.replies] if replies_later else []
        )
        queued += step.later
        for later in queued:
            enqueue(session, later, now)
        await session.flush()
        session.add(
            Turn(
                conversation_id=conversation.id,
                channel=incoming.channel,
                message_id=incoming.message_id,
                replies=[r.to_json() for r in step.replies],
                transcript_ids=[r.id for r in rows],
                created_at=now,
            )
        )
        return TurnResult(
            replies=step.replies, transcript=[TranscriptEntry.of(r) for r in rows], queued=len(queued)
        )

    async def _lock_conversation(self, session: Any, incoming: Incoming, now: datetime) -> Conversation:
        await session.execute(
            self.db.insert(Conversation)
            .values(
                channel=incoming.channel,
                address=incoming.conversation,
                state={},
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["channel", "address"])
        )
        query = select(Conversation).where(
            Conversation.channel == incoming.channel, Conversation.address == incoming.conversation
        )
        if self.db.supports_row_locks:
            query = query.with_for_update()
        conversation: Conversation = (await session.execute(query)).scalar_one()
        return conversation

    async def _replay(self, session: Any, turn: Turn) -> TurnResult:
        rows = (
            await session.scalars(
                select(TranscriptMessage)
                .where(TranscriptMessage.id.in_(turn.transcript_ids))
                .order_by(TranscriptMessage.id)
            )
        ).all()
        return TurnResult(
            replies=[Outgoing.from_json(r) for r in turn.replies],
            transcript=[TranscriptEntry.of(r) for r in rows],
            duplicate=True,
        )

    @staticmethod
    def _emergency(incoming: Incoming, prepared: Prepared) -> bool:
        """Whether a message to a conversation staff hold still needs the bot: an emergency
        is told to call 911 at once, whoever holds the conversation."""
        understood = prepared.understood.get(incoming.text)
        return understood is not None and (understood.intent == "emergency" or understood.triage.soft)

    def _command_of(self, incoming: Incoming) -> tuple[str, str] | None:
        """The registered slash command the message is, if it is one."""
        slash = None if incoming.choice else slash_command(incoming.text)
        return slash if slash is not None and COMMAND_PREFIX + slash[0] in self.dialogs else None

    @staticmethod
    def _resolve_choice(incoming: Incoming, state: State, is_command: bool) -> tuple[Incoming, str | None]:
        """Turn a typed "2" or label into the choice, and find the label of a tapped one."""
        labels = {c.id: c.label for c in state.choices}
        if incoming.choice is not None and incoming.choice not in labels:
            by_token = {c.token: c.id for c in state.choices}
            if incoming.choice in by_token:  # as a channel carried it back
                incoming = replace(incoming, choice=by_token[incoming.choice])
        if incoming.choice is not None:
            if incoming.choice in labels:
                return incoming, labels[incoming.choice]
            # A button from an earlier question: keep the words, drop the stale id.
            return replace(incoming, choice=None), None
        if incoming.text and state.choices and not is_command and global_command(incoming.text) is None:
            chosen = resolve_choice(incoming.text, state.choices)
            if chosen is not None:
                return replace(incoming, choice=chosen), None
        return incoming, None

    async def _run(
        self,
        session: Any,
        conversation: Conversation,
        state: State,
        incoming: Incoming,
        now: datetime,
        expired: bool,
        prepared: Prepared,
        slash: tuple[str, str] | None,
    ) -> Step:
        ctx = Context(
            session=session,
            now=now,
            channel=incoming.channel,
            capabilities=self.capabilities.get(incoming.channel, PLAIN_TEXT),
            conversation_id=conversation.id,
            services=self.services,
            dialogs=self.dialogs,
            address=incoming.conversation,
            expired=expired,
            misses=state.misses,
            prepared=prepared,
            defer_lookups=True,
        )
        if len(incoming.text) > self.max_chars:
            return Step(
                state,
                [
                    Outgoing(
                        f"That message is too long ({len(incoming.text):,} characters). "
                        f"Please keep it under {self.max_chars:,} characters, or split it up. "
                        # Not read, so not triaged: the reminder costs nothing and may matter.
                        "If anyone is in danger right now, call **911**."
                    )
                ],
            )
        if incoming.is_empty:
            said = (
                f"I can't open {incoming.unreadable} here. Please type your message; "
                "you can also send a photo or a location."
                if incoming.unreadable
                else "I didn't get any text. Type your question, or say **help** to see what I can do."
            )
            return Step(state, [Outgoing(said)])
        if slash is not None:
            name, rest = slash
            return await self.dialogs.get(COMMAND_PREFIX + name)(ctx, state, replace(incoming, text=rest))
        command = None if incoming.choice else global_command(incoming.text)
        if command == "cancel":
            return await self.dialogs.get("cancelled")(ctx, state, incoming)
        if command == "start":
            return await self.dialogs.get("start")(ctx, State(), incoming)
        if command == "help":
            return await self.dialogs.get("help")(ctx, state, incoming)
        return await self.dialogs.get(state.dialog or "root")(ctx, state, incoming)
