"""What every channel promises the outbox, run for each channel: the web chat, the terminal
and Telegram (Slack will join). A message arrives as written, whole however long, in order;
its choices can be answered, by a short token where there are buttons; its links can be
opened; an address that does not exist is refused for good, not retried forever."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from bot.delivery.channel import Channel, DeliveryError
from bot.delivery.transcript import messages_after
from bot.hub import Hub
from bot.messages import MAX_TOKEN_BYTES, Choice, Incoming, Link, Outgoing, degrade
from tests.fakes.telegram_state import Photo as SentPhoto
from tests.hubs import prepared_hub
from tests.telegram_city import City, telegram_city


@dataclass(frozen=True, slots=True)
class Seen:
    """A message as the resident sees it: its words, the tokens its buttons send back,
    and the links it lets them open."""

    text: str
    tokens: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()


class Harness(Protocol):
    hub: Hub
    channel: Channel

    async def address(self) -> str: ...

    async def seen(self, address: str) -> list[Seen]: ...

    def missing(self) -> str: ...


@dataclass
class TranscriptHarness:
    """Web chat and terminal: delivering is writing the transcript, which the page or the
    terminal shows."""

    hub: Hub
    channel: Channel

    async def address(self) -> str:
        address = uuid.uuid4().hex
        # A conversation exists once the resident has said something.
        await self.hub.engine.handle(Incoming(self.channel.name, address, uuid.uuid4().hex, text="hello"))
        return address

    async def seen(self, address: str) -> list[Seen]:
        out = []
        for entry in await messages_after(self.hub.db, self.channel.name, address):
            if entry.direction == "out" and entry.payload.get("later"):
                shown = degrade(Outgoing.from_json(entry.payload), self.channel.capabilities)
                tokens = tuple(c.token for c in shown.choices)
                urls = tuple(link.url for link in shown.links)
                out.append(Seen(shown.text, tokens, urls))
        return out

    def missing(self) -> str:
        return "nobody-" + uuid.uuid4().hex


@dataclass
class TelegramHarness:
    city: City
    hub: Hub
    channel: Channel

    async def address(self) -> str:
        return str(self.city.chat(user_id=7000 + len(self.city.fake.calls()) % 900).id)

    async def seen(self, address: str) -> list[Seen]:
        out: list[Seen] = []
        sends = [
            c for c in self.city.fake.calls() if c.method in ("sendMessage", "sendPhoto") and c.status == 200
        ]
        mine = [c for c in sends if str(c.params.get("chat_id")) == address]
        texts = [x for x in self.city.fake.sent_to(int(address)) if not isinstance(x, SentPhoto)]
        for call, text in zip(mine, texts, strict=True):
            markup = call.params.get("reply_markup") or {}
            buttons = [b for row in markup.get("inline_keyboard", []) for b in row]
            tokens = tuple(str(b["callback_data"]) for b in buttons if "callback_data" in b)
            urls = tuple(str(b["url"]) for b in buttons if "url" in b)
            out.append(Seen(str(text), tokens, urls))
        return out

    def missing(self) -> str:
        return "987654321"  # no such chat: Telegram says "chat not found"


CHANNELS = ["webchat", "console", "telegram"]


@pytest.fixture(params=CHANNELS)
async def harness(
    request: pytest.FixtureRequest, sqlite_prepared: str, tmp_path: Path
) -> AsyncIterator[Harness]:
    if request.param == "telegram":
        async with telegram_city(sqlite_prepared, tmp_path) as city:
            yield TelegramHarness(city, city.hub, city.hub.channels["telegram"])
        return
    from bot.settings import load_settings

    settings = load_settings(DATABASE_URL=sqlite_prepared, MEDIA_DIR=tmp_path / "media", _env_file=None)
    async with prepared_hub(settings) as hub:
        yield TranscriptHarness(hub, hub.channels[request.param])


async def deliver(h: Harness, address: str, message: Outgoing) -> None:
    """As the outbox worker sends: degraded to what the channel can show."""
    await h.channel.send(address, degrade(message, h.channel.capabilities))


def words(seen: list[Seen]) -> list[str]:
    return " ".join(s.text for s in seen).split()


async def test_a_message_arrives_as_written(harness: Harness) -> None:
    address = await harness.address()
    text = 'Tom & Jerry\'s <b>not bold</b>: 5 > 3, "quoted"\nsecond line ✓ ñ 中文'
    await deliver(harness, address, Outgoing(text))
    (seen,) = await harness.seen(address)
    assert seen.text == text


async def test_a_long_message_arrives_whole_and_in_order(harness: Harness) -> None:
    address = await harness.address()
    text = " ".join(f"w{n}&<{n}>" for n in range(2500))  # 20,000 characters, escaped on the way
    await deliver(harness, address, Outgoing(text))
    await deliver(harness, address, Outgoing("after it"))
    seen = await harness.seen(address)
    assert words(seen) == [*text.split(), "after", "it"]


async def test_choices_can_be_answered_and_tokens_are_short(harness: Harness) -> None:
    address = await harness.address()
    long_id = "svc:" + "a-city-s-very-long-service-code-" * 4
    choices = (Choice("yes", "Yes"), Choice(long_id, "Something else"))
    await deliver(harness, address, Outgoing("Is it a pothole?", choices=choices))
    (seen,) = await harness.seen(address)
    if harness.channel.capabilities.buttons:
        assert seen.tokens == tuple(c.token for c in choices)
        assert all(len(t.encode()) <= MAX_TOKEN_BYTES for t in seen.tokens)
    else:  # numbered, answered by typing the number or the words
        assert "1. Yes" in seen.text and "2. Something else" in seen.text


async def test_links_can_be_opened(harness: Harness) -> None:
    address = await harness.address()
    link = Link("Pay a parking ticket", "https://city.example/parking?ticket=1&x=2")
    await deliver(harness, address, Outgoing("Here:", links=(link,)))
    (seen,) = await harness.seen(address)
    assert link.url in seen.urls or link.url in seen.text


async def test_an_address_that_does_not_exist_is_refused_for_good(harness: Harness) -> None:
    with pytest.raises(DeliveryError) as refused:
        await deliver(harness, harness.missing(), Outgoing("hello?"))
    assert refused.value.permanent
