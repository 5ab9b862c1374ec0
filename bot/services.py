"""What dialogs may use besides the turn's session: settings and shared caches."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.kb_store import KnowledgeCache
from bot.settings import Settings


@dataclass(slots=True)
class Services:
    settings: Settings
    knowledge: KnowledgeCache = field(default_factory=KnowledgeCache)
