"""The dialog contract and registry: how the engine calls dialogs it does not know.

A dialog is an async function of (context, state, incoming) returning a
`Step`: the new state, the replies, and messages for later. It never does
HTTP and never sees a platform payload; domain calls go through the context's
database session so they commit or roll back with the turn.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import metrics
from bot.delivery.outbox import Later
from bot.geocoding import GeocodingUnavailable, Place
from bot.messages import Capabilities, Choice, Incoming, Outgoing

if TYPE_CHECKING:
    from bot.services import Services
    from knowledge.understand import Understander, Understanding


@dataclass(slots=True)
class State:
    """A conversation's memory, stored as JSON in its row.

    `dialog` names the dialog that owns the next message (None: the router
    decides afresh); `data` is that dialog's own; `choices` are the choices
    last offered, so "2" or the label's words can be resolved on any channel;
    `prompt` is the question they came with, so an interruption (a 911 warning,
    a question answered on the way) can ask it again; `misses` counts the
    messages in a row the bot did not understand.
    """

    dialog: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    choices: list[Choice] = field(default_factory=list)
    prompt: dict[str, Any] | None = None  # the question, as Outgoing.to_json()
    misses: int = 0

    @property
    def active(self) -> bool:
        return self.dialog is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "dialog": self.dialog,
            "step": self.step,
            "data": self.data,
            "choices": [c.to_json() for c in self.choices],
            "prompt": self.prompt,
            "misses": self.misses,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> State:
        raw = raw or {}
        return cls(
            dialog=raw.get("dialog"),
            step=raw.get("step"),
            data=dict(raw.get("data") or {}),
            choices=[Choice.from_json(c) for c in raw.get("choices") or []],
            prompt=raw.get("prompt"),
            misses=int(raw.get("misses") or 0),
        )


@dataclass(slots=True)
class Step:
    state: State
    replies: list[Outgoing] = field(default_factory=list)
    later: list[Later] = field(default_factory=list)


class LookupNeeded(Exception):
    """A dialog needs a place looked up on the network. The engine looks it up outside the
    turn's transaction and runs the turn again with the answer, so no turn holds the write
    lock (SQLite) or a conversation's row lock (PostgreSQL) while it waits on HTTP."""

    def __init__(self, query: str) -> None:
        super().__init__(query)
        self.query = query


@dataclass(slots=True)
class Prepared:
    """What a message needs from outside the database, kept across the attempts of one turn:
    its understanding (worked out before the transaction opens) and places looked up."""

    understander: Understander | None = None
    understood: dict[str, Understanding] = field(default_factory=dict)
    places: dict[str, Place | GeocodingUnavailable | None] = field(default_factory=dict)
    counted: set[str] = field(default_factory=set)  # intents already in the metrics


@dataclass(slots=True)
class Context:
    """What a dialog may use during one turn."""

    session: AsyncSession
    now: datetime
    channel: str
    capabilities: Capabilities
    conversation_id: int
    services: Services
    dialogs: DialogRegistry
    address: str = ""  # the channel's address of this conversation: where updates are sent later
    expired: bool = False  # the previous state had expired before this message
    misses: int = 0  # messages in a row before this one that the bot did not understand
    prepared: Prepared = field(default_factory=Prepared)  # this turn's, never stored
    # The engine's turns look places up outside their transaction (LookupNeeded);
    # `civic311 ask`, which holds no lock anyone waits for, looks them up in place.
    defer_lookups: bool = False

    async def knowledge(self) -> Understander:
        """The knowledge base, services and models of this moment, looked up once per turn
        so that every step of one turn sees the same revision."""
        if self.prepared.understander is None:
            self.prepared.understander = await self.services.knowledge.current(self.session)
        return self.prepared.understander

    async def understand(self, text: str) -> Understanding:
        """The message understood once per turn: the triage guard, the router and
        `civic311 ask` all ask for the same text."""
        result = self.prepared.understood.get(text)
        if result is None:
            result = (await self.knowledge()).understand(text)
            self.prepared.understood[text] = result
        if text not in self.prepared.counted:
            self.prepared.counted.add(text)
            metrics.INTENTS.labels(result.intent).inc()
        return result

    async def geocode(self, query: str) -> Place | None:
        """A typed place on the city map (None: not found). Raises GeocodingUnavailable."""
        if query in self.prepared.places:
            found = self.prepared.places[query]
            if isinstance(found, GeocodingUnavailable):
                raise found
            return found
        if self.defer_lookups:
            raise LookupNeeded(query)
        return await self.services.geocoder.geocode(query)

    async def dispatch(self, name: str, state: State, incoming: Incoming) -> Step:
        """Hand the message to another dialog by its registered name, so dialogs that pass
        residents between them ("not this one: ask me afresh") need not import each other."""
        return await self.dialogs.get(name)(self, state, incoming)


DialogFn = Callable[[Context, State, Incoming], Awaitable[Step]]


class UnknownDialog(KeyError):
    pass


class DialogRegistry:
    """Name -> dialog. `root` handles messages when no dialog is active;
    `help` answers "help" wherever the resident is."""

    def __init__(self) -> None:
        self._dialogs: dict[str, DialogFn] = {}

    def register(self, name: str, fn: DialogFn) -> None:
        if name in self._dialogs:
            raise ValueError(f"dialog {name!r} registered twice")
        self._dialogs[name] = fn

    def get(self, name: str) -> DialogFn:
        try:
            return self._dialogs[name]
        except KeyError:
            raise UnknownDialog(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._dialogs

    def names(self) -> Iterable[str]:
        return self._dialogs.keys()
