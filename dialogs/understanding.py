"""Understanding a message once per turn, with the knowledge base of this moment."""

from __future__ import annotations

from bot import metrics
from bot.dialog import UNDERSTANDING, Context
from knowledge.understand import Understanding


async def understand(ctx: Context, text: str) -> Understanding:
    cached = ctx.memo.get((UNDERSTANDING, text))
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    understander = await ctx.services.knowledge.current(ctx.session)
    result: Understanding = understander.understand(text)
    ctx.memo[(UNDERSTANDING, text)] = result
    metrics.INTENTS.labels(result.intent).inc()
    return result
