"""Greeting, help and cancel: the words that work at any point."""

from __future__ import annotations

from bot.dialog import Context, State, Step
from bot.messages import Incoming, Outgoing
from dialogs import texts
from dialogs.status import status_reply

DEEP_LINK_STATUS = "status_"  # t.me/<bot>?start=status_10234: a link to a report's status


async def start(ctx: Context, state: State, incoming: Incoming) -> Step:
    return Step(State(), [Outgoing(texts.GREETING)])


async def start_command(ctx: Context, state: State, incoming: Incoming) -> Step:
    """`/start`, as a chat app sends it when a resident opens the bot, with what a link
    carried: `/start status_10234` answers with that report's status after the greeting."""
    payload = incoming.text.strip()
    step = await start(ctx, state, incoming)
    number = payload.removeprefix(DEEP_LINK_STATUS)
    if payload.startswith(DEEP_LINK_STATUS) and number.isascii() and number.isdigit():
        step.replies += (await status_reply(ctx, number)).replies
    return step


async def help_(ctx: Context, state: State, incoming: Incoming) -> Step:
    """Help keeps the resident's place: they may be half-way through a report."""
    text = texts.CAN_DO
    if state.active:
        text += "\n\nWe were in the middle of something: carry on, or say **cancel** to stop."
    replies = [Outgoing(text)]
    return Step(state, replies)


async def cancelled(ctx: Context, state: State, incoming: Incoming) -> Step:
    return Step(State(), [Outgoing(texts.CANCELLED if state.active else texts.NOTHING_TO_CANCEL)])
