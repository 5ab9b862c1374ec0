"""`civic311 ask`: the router's verdict and reply for one message, with nothing kept.

It runs the same dialog the chat runs, inside a transaction that is rolled
back, so the reply text is exactly what a resident would see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.dialog import Context, State
from bot.hub import Hub
from bot.messages import PLAIN_TEXT, Incoming, degrade
from bot.timeutil import utcnow
from knowledge.understand import Understanding


@dataclass(frozen=True, slots=True)
class Explanation:
    """What `ask` says, with the understanding behind it: the admin's test box shows why."""

    answer: dict[str, Any]  # exactly what `ask` returns (and `ask --json` prints)
    understanding: Understanding
    replies: tuple[str, ...]  # each reply as plain text, as a resident would read it


class Asker:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.root = hub.dialogs.get("root")

    async def ask(self, text: str) -> dict[str, Any]:
        return (await self.explain(text)).answer

    async def explain(self, text: str) -> Explanation:
        # The knowledge is rebuilt (after a change) before the turn's write lock is taken:
        # a rebuild takes a second or two, and other writers need not wait for it.
        async with self.hub.db.reading() as session:
            await self.hub.services.knowledge.current(session)
        async with self.hub.db.trial() as session:
            ctx = Context(
                session=session,
                now=utcnow(),
                channel="cli",
                capabilities=PLAIN_TEXT,
                conversation_id=0,
                services=self.hub.services,
                dialogs=self.hub.dialogs,
            )
            step = await self.root(ctx, State(), Incoming("cli", "cli", "ask", text=text))
            u = await ctx.understand(text)  # what the dialog understood: not again
        answer: dict[str, Any] = {"intent": u.intent, "score": round(float(u.score), 4)}
        if u.intent == "faq" and u.entry is not None:
            answer["entry"] = u.entry.id
        if u.intent == "report" and u.service is not None:
            answer["service"] = u.service.code
        if u.suggestions and u.intent == "fallback":
            answer["suggestions"] = [h.entry.id for h in u.suggestions]
        replies = tuple(degrade(r, PLAIN_TEXT).text for r in step.replies)
        answer["text"] = "\n\n".join(replies)
        return Explanation(answer, u, replies)
