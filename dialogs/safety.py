"""911 first, wherever the resident is in a conversation."""

from __future__ import annotations

from bot.dialog import Context, DialogFn, State, Step
from bot.messages import Incoming, Outgoing
from dialogs import texts
from dialogs.understanding import understand


def emergency_reply(advice: str) -> Outgoing:
    return Outgoing(f"{texts.EMERGENCY}\n{advice}")


def with_triage(dialog: DialogFn) -> DialogFn:
    """Run triage before the dialog; an emergency interrupts, the dialog's state is kept
    so the resident can carry on afterwards."""

    async def guarded(ctx: Context, state: State, incoming: Incoming) -> Step:
        if incoming.text and not incoming.choice:
            understanding = await understand(ctx, incoming.text)
            if understanding.intent == "emergency":
                return Step(state, [emergency_reply(understanding.triage.advice)])
        return await dialog(ctx, state, incoming)

    guarded.__name__ = getattr(dialog, "__name__", "dialog")
    return guarded
