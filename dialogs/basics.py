"""Greeting, help and cancel: the words that work at any point."""

from __future__ import annotations

from bot.dialog import Context, State, Step
from bot.messages import Incoming, Outgoing
from dialogs import texts


async def start(ctx: Context, state: State, incoming: Incoming) -> Step:
    return Step(State(), [Outgoing(texts.GREETING)])


async def help_(ctx: Context, state: State, incoming: Incoming) -> Step:
    """Help keeps the resident's place: they may be half-way through a report."""
    text = texts.CAN_DO
    if state.active:
        text += "\n\nWe were in the middle of something: carry on, or say **cancel** to stop."
    replies = [Outgoing(text)]
    return Step(state, replies)


async def cancelled(ctx: Context, state: State, incoming: Incoming) -> Step:
    return Step(State(), [Outgoing(texts.CANCELLED if state.active else texts.NOTHING_TO_CANCEL)])
