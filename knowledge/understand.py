"""One pipeline that says what a resident's message is.

Order matters and is fixed: emergency triage first (safety over
everything), then report status, asking for a person, small talk, reporting
a problem, a question for the knowledge base, and otherwise fallback.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from knowledge.catalogue import Catalogue, Service
from knowledge.embeddings import Embedder
from knowledge.model import Entry, KnowledgeBase
from knowledge.search import Hit, SearchIndex
from knowledge.text import Synonyms, fold, terms
from knowledge.triage import Triage, TriageExamples, Triager

Intent = Literal["faq", "report", "emergency", "status", "smalltalk", "human", "fallback"]

ANSWER_AT = 0.45  # confident: answer directly
AMBIGUOUS_GAP = 0.1  # short messages: the first answer must stand out by this much
SUGGEST_AT = 0.30  # middle band: "did you mean"

_STATUS = re.compile(
    r"\b(status|update|news|progress|any word|what happened|follow(ing)? up)\b.{0,40}"
    r"\b(report|request|case|ticket|complaint|#?\d{4,})|"
    r"\bmy (reports|requests|cases|tickets)\b|"
    r"^\s*(status|check|track)\s*#?\s*[a-z0-9-]{3,}\s*$|"
    r"\b(report|request|case|ticket)\s*(number|no\.?|#)?\s*#?\d{4,}\b|"
    r"\b(i|we) (reported|filed|submitted|called in)\b.{0,60}\b(news|update|status|happened|"
    r"fixed yet|done yet|anything|progress|still waiting)\b|"
    r"\b(happened|news|update)\b.{0,40}\b(i|we) (reported|filed|submitted)\b"
)
# "How do I check on a report?" asks how status works (a knowledge-base answer);
# it is a status lookup only with a number or about a report of theirs.
_HOW_TO = re.compile(r"^\s*(how (do|can|would|should) (i|we|you)|is there a way|can i|where (do|can) i)\b")
_STOP_UPDATES = re.compile(
    r"^\s*(please\s+)?((stop|no more|cancel|turn off|mute|end)\s+(the\s+)?(updates?|notifications?|"
    r"alerts?|messages? about|following)|unfollow|unsubscribe|don'?t (send|message) me)\b"
)
_MINE = re.compile(
    r"\bmy (reports|requests|cases|tickets|complaints)\b|\b(what|which) (did|have) i (report|file)|"
    r"\breports? i (made|filed|sent|submitted)\b"
)
_NUMBER = re.compile(r"#?\b([a-z]{0,3}-?\d{4,}[a-z0-9-]*)\b")
_HUMAN = re.compile(
    r"\b(talk|speak|chat|connect me)\b.{0,20}\b(human|person|someone|somebody|agent|"
    r"representative|operator|staff|real|live)\b|\b(real|live|actual) (person|human|agent)\b|"
    r"^\s*(human|agent|operator|representative|a person)\s*$"
)
_GREETING = re.compile(
    r"^\s*(hi+|hello+|hey+|hiya|howdy|yo|good (morning|afternoon|evening)|greetings|sup|"
    r"hola|start)\b[\s!.,]*(there|friend|bot|311)?[\s!.,]*$"
)
_THANKS = re.compile(
    r"^\s*((thanks?|thank you|thx|ty|cheers|great|awesome|perfect|ok(ay)?|cool|"
    r"got it|bye|goodbye|see you)\b[\s!.,]*)+(so much|a lot|very much)?[\s!.,]*$"
)
_ABOUT_BOT = re.compile(
    r"^\s*(who|what) are you\b|\bare you (a )?(bot|robot|human|real)\b|"
    r"^\s*how are you\b"
)
_HELP = re.compile(
    r"^\s*(help|help me|menu|options|commands|start over)\s*[?!.]*$|"
    r"^\s*what (can|do) you (do|help with)\b|^\s*how (does this|do you) work\b|"
    r"^\s*what (are|is) (your|the) (options|commands)\b"
)
_THANKS_LEAD = re.compile(r"^\s*(thanks?|thank you|thx|ty|cheers|much appreciated)\b")
_REPORT_VERB = re.compile(
    r"\b(report|file|submit|log|make|open|request)\b.{0,30}"
    r"\b(report|complaint|request|problem|issue)?\b"
)
_QUESTION = re.compile(
    r"^\s*(how|what|when|where|who|why|which|can|could|do|does|is|are|should|"
    r"would|will|may)\b|\?\s*$"
)
_PROBLEM_CUES = re.compile(
    r"\b(there'?s|there is|there are|broken|busted|out|not working|doesn'?t work|stopped|"
    r"leak(ing|s)?|flood(ed|ing)?|block(ed|ing)|dumped|overflowing|damaged|missing|fell|fallen|"
    r"knocked|dead|clogged|backed up|spray ?painted|tagged|huge|big|deep|giant|"
    r"on (the )?(corner|\d+(st|nd|rd|th)|[a-z]+ (st|street|ave|avenue|blvd|road|rd))|"
    r"outside (my|our|the)|in front of|near|at the|across from|for (days|weeks|a week)|"
    r"again|still|keeps|won'?t|been sitting|abandoned|left (on|in|at)|someone left|"
    r"smells?|stink|rats?|mice|needles?)\b"
)


@dataclass(frozen=True, slots=True)
class ServiceHit:
    service: Service
    score: float


@dataclass(frozen=True, slots=True)
class Understanding:
    intent: Intent
    score: float
    text: str
    entry: Entry | None = None
    service: Service | None = None
    hits: tuple[Hit, ...] = ()
    services: tuple[ServiceHit, ...] = ()
    triage: Triage = field(default_factory=lambda: Triage(False))
    report_number: str | None = None
    smalltalk: str | None = None  # greeting | thanks | about
    status_action: str | None = None  # "mine" (list my reports) | "stop" (stop updates) | None (look up)

    @property
    def suggestions(self) -> tuple[Hit, ...]:
        """Entries worth offering as "Did you mean…" when not confident."""
        return tuple(h for h in self.hits if h.score >= SUGGEST_AT)[:3]


class Understander:
    """Built once per knowledge base revision; cheap to call per message."""

    def __init__(
        self,
        kb: KnowledgeBase,
        catalogue: Catalogue | None = None,
        *,
        embedder: Embedder | None = None,
        vectors: MutableMapping[str, np.ndarray] | None = None,
        triage_examples: TriageExamples | None = None,
    ) -> None:
        self.kb = kb
        self.triager = Triager(triage_examples, embedder, vectors)
        self.catalogue = catalogue or Catalogue()
        self.synonyms = Synonyms(kb.synonyms)
        self.index = SearchIndex(kb.active(), self.synonyms, embedder=embedder, vectors=vectors)
        self._service_terms = [
            (
                s,
                frozenset(terms(s.search_text(), self.synonyms)),
                [tuple(terms(k, self.synonyms)) for k in s.keywords],
            )
            for s in self.catalogue.services
            if s.active
        ]

    _service_vectors: np.ndarray | None = None

    def understand(self, text: str) -> Understanding:
        folded = fold(text).strip()
        tri = self.triager(text)
        if tri.emergency:
            return Understanding("emergency", tri.score, text, triage=tri)
        number = _NUMBER.search(folded)
        found = number.group(1).upper() if number else None
        if _STOP_UPDATES.search(folded):
            return Understanding("status", 0.9, text, triage=tri, report_number=found, status_action="stop")
        if _STATUS.search(folded) and (number or not _HOW_TO.search(folded)):
            mine = "mine" if not number and _MINE.search(folded) else None
            return Understanding("status", 0.9, text, triage=tri, report_number=found, status_action=mine)
        if _HUMAN.search(folded):
            return Understanding("human", 0.9, text, triage=tri)
        small = self._smalltalk(folded)
        if small:
            return Understanding("smalltalk", 0.9, text, triage=tri, smalltalk=small)

        hits = tuple(self.index.search(text, limit=3))
        services = tuple(self.match_services(text))
        best = hits[0] if hits else None
        best_service = services[0] if services else None
        if best_service and self._is_report(folded, best_service, best):
            return Understanding(
                "report",
                best_service.score,
                text,
                service=best_service.service,
                hits=hits,
                services=services,
                triage=tri,
            )
        if best and best.score >= ANSWER_AT and not self._ambiguous(text, hits):
            return Understanding(
                "faq", best.score, text, entry=best.entry, hits=hits, services=services, triage=tri
            )
        return Understanding(
            "fallback", best.score if best else 0.0, text, hits=hits, services=services, triage=tri
        )

    def _ambiguous(self, text: str, hits: tuple[Hit, ...]) -> bool:
        """A one- or two-word message ("parking", "trash bins") that fits several entries
        about equally: better to ask which one than to guess."""
        if len(hits) < 2 or len(self.index.query_terms(text)) > 2:
            return False
        return hits[0].score - hits[1].score < AMBIGUOUS_GAP

    def _smalltalk(self, folded: str) -> str | None:
        if _GREETING.match(folded):
            return "greeting"
        if _THANKS.match(folded) or (_THANKS_LEAD.match(folded) and len(folded.split()) <= 7):
            return "thanks"
        if _HELP.search(folded):
            return "help"
        if _ABOUT_BOT.search(folded):
            return "about"
        return None

    def match_services(self, text: str, limit: int = 3) -> list[ServiceHit]:
        """Services whose words the message uses, best first; score is keyword coverage."""
        sequence = self.index.query_terms(text)
        query = set(sequence)
        if not query:
            return []
        semantic = self._service_similarity(text)
        scored: list[ServiceHit] = []
        for n, (service, all_terms, phrases) in enumerate(self._service_terms):
            # A keyword phrase counts only when its words stand together, in order:
            # "broken glass on the sidewalk" is not a "broken sidewalk".
            phrase_hit = max((len(p) for p in phrases if p and _contains(sequence, p)), default=0)
            overlap = len(query & all_terms)
            if not phrase_hit and not overlap:
                continue
            score = 0.45 * min(phrase_hit, 2) + 0.12 * overlap
            if semantic is not None:
                score += 0.3 * max(0.0, float(semantic[n]) - 0.2)
            scored.append(ServiceHit(service, round(min(1.0, score), 4)))
        scored.sort(key=lambda h: h.score, reverse=True)
        return scored[:limit]

    def _service_similarity(self, text: str) -> np.ndarray | None:
        embedder = self.index.embedder
        if embedder is None or not self._service_terms:
            return None
        if self._service_vectors is None:
            self._service_vectors = embedder.encode(
                [f"{s.name}. {s.description}" for s, _, _ in self._service_terms]
            )
        return self._service_vectors @ embedder.encode_one(text)

    @staticmethod
    def _is_report(folded: str, service: ServiceHit, faq: Hit | None) -> bool:
        wants_to_report = bool(re.search(r"\breport(ing)?\b|\bfile\b|\bcomplain", folded))
        asks = bool(_QUESTION.search(folded))
        describes = bool(_PROBLEM_CUES.search(folded))
        if service.score < 0.45:
            return False
        if wants_to_report:
            return True
        if asks and faq is not None and faq.score >= ANSWER_AT:
            return False
        return describes or not asks


def _contains(sequence: list[str], phrase: tuple[str, ...]) -> bool:
    size = len(phrase)
    return any(tuple(sequence[i : i + size]) == phrase for i in range(len(sequence) - size + 1))
