"""A service's own questions (Open311 attributes): asking them and checking the answers.

Pure functions of the attribute and what the resident said, so the same rules can
be read, tested and reused without a conversation. A wrong answer comes back as
`Invalid` with the reason in the resident's words, and the dialog asks again.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import parser as dateparser

from bot.messages import Choice, normalise, resolve_choice
from knowledge.catalogue import Attribute, AttributeValue

SKIP = "skip"
DONE = "done"
CLEAR = "clear"  # drop the picks so far (filled in from the description, or tapped)
VALUE = "val:"  # choice ids of list values: "val:<key>"
MAX_TEXT = {"string": 200, "text": 2000}
SKIP_WORDS = frozenset(
    {
        "skip",
        "skip it",
        "skip this",
        "no",
        "none",
        "nope",
        "n a",
        "na",
        "dont know",
        "don t know",
        "idk",
        "not sure",
        "no idea",
        "pass",
        "next",
        "no thanks",
        "unknown",
        "i dont know",
        "i don t know",
    }
)
CLEAR_WORDS = frozenset({"clear", "not these", "none of these", "wrong", "undo"})
DONE_WORDS = frozenset({"done", "that s all", "thats all", "finished", "that s it", "thats it", "no more"})


class Invalid(ValueError):
    """The answer does not fit the question; `str()` says why, for the resident."""


@dataclass(frozen=True, slots=True)
class Answer:
    """`value` is what Open311 stores: a key, a list of keys, text, a number or an ISO time;
    None means skipped. `done` is False while a multi-value list is still being picked."""

    value: Any
    done: bool = True


def _phrases(value: AttributeValue) -> list[str]:
    """The words that name a value, as they would appear in a message. A one-word name
    that is a common word ("other", "both") or a reply ("yes") names nothing by itself."""
    named = [normalise(p) for p in (value.name, *value.aliases)]
    return [p for p in named if p and (" " in p or (len(p) >= 2 and p not in _COMMON))]


def _english_stop_words() -> frozenset[str]:
    """scikit-learn's English stop words, read from the one small file that holds them:
    importing them the usual way (`sklearn.feature_extraction.text`) loads most of
    scikit-learn, 70-90 MB in every `serve`, which only training uses."""
    spec = importlib.util.find_spec("sklearn")
    if spec is not None and spec.origin is not None:
        path = Path(spec.origin).parent / "feature_extraction" / "_stop_words.py"
        source = importlib.util.spec_from_file_location("civic311_sklearn_stop_words", path)
        if path.is_file() and source is not None and source.loader is not None:
            module = importlib.util.module_from_spec(source)
            source.loader.exec_module(module)
            words = getattr(module, "ENGLISH_STOP_WORDS", None)
            if isinstance(words, frozenset):
                return words
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # another layout: the slow way

    return frozenset(ENGLISH_STOP_WORDS)


_COMMON = _english_stop_words() | {"yes", "ok", "okay", "yeah", "yep"}


def mentioned(attribute: Attribute, text: str | None) -> list[str]:
    """The keys of the values a description already names ("someone dumped a couch":
    furniture), in the catalogue's order, to fill in for the resident to confirm."""
    if not text or not attribute.datatype.endswith("valuelist"):
        return []
    said = f" {normalise(text)} "
    found = []
    for value in attribute.values:
        for phrase in _phrases(value):
            # Whole words, with a plural: "couches", "mattresses", "bags".
            if re.search(rf"\s{re.escape(phrase)}(?:s|es)?\s", said):
                found.append(value.key)
                break
    return found


def prompt(
    attribute: Attribute, picked: list[str] | None = None, *, described: str | None = None
) -> tuple[str, tuple[Choice, ...]]:
    """The question's text and its buttons. With the resident's `described` text, a value
    it names is offered first as the answer to confirm (one of a list), or picked
    already (several)."""
    text = attribute.description.strip()
    choices: list[Choice] = []
    guessed = mentioned(attribute, described)
    if attribute.datatype == "singlevaluelist":
        choices = [Choice(VALUE + v.key, v.name) for v in attribute.values]
        if len(guessed) == 1:  # one value named: the answer, to confirm with a tap
            (value,) = (v for v in attribute.values if v.key == guessed[0])
            text += f"\n\nFrom what you said: **{value.name}**?"
            choices = [Choice(VALUE + value.key, f"Yes, {value.name}")] + [
                c for c in choices if c.id != VALUE + value.key
            ]
    elif attribute.datatype == "multivaluelist":
        picked = picked or []
        names = [v.name for v in attribute.values if v.key in picked]
        if names and picked == guessed:
            text += (
                "\n\nFrom what you said: **" + ", ".join(names) + "**. Tap **Done** if that's all, "
                "or pick more."
            )
        elif names:
            # The question is just above, with what is left to pick: asking it again in
            # full after every tap fills a phone's screen with copies of it.
            text = "So far: " + ", ".join(names) + ". Pick more, or tap **Done**."
        else:
            text += "\n\nPick all that apply, one at a time, or type them separated by commas."
        choices = [Choice(VALUE + v.key, v.name) for v in attribute.values if v.key not in picked]
        if picked:
            choices += [Choice(DONE, "Done"), Choice(CLEAR, "Clear")]
    elif attribute.datatype == "number":
        text += "\n\n(A number, e.g. 3.)"
    elif attribute.datatype == "datetime":
        text += '\n\n(A date and time, e.g. "today 8am" or "Nov 3 6pm".)'
    if not attribute.required and not (attribute.datatype == "multivaluelist" and picked):
        text += "" if "optional" in text.lower() else " (optional)"
        choices.append(Choice(SKIP, "Skip"))
    return text, tuple(choices)


def answer(
    attribute: Attribute,
    *,
    text: str = "",
    choice: str | None = None,
    picked: list[str] | None = None,
    now: datetime,
    tz: ZoneInfo,
) -> Answer:
    """Check one reply to `attribute`; raise Invalid with the reason."""
    said = normalise(text)
    if choice == SKIP or (choice is None and said in SKIP_WORDS):
        if attribute.required:
            raise Invalid("This one is needed to deal with the report, so I can't skip it.")
        if attribute.datatype == "multivaluelist" and picked:
            return Answer(list(picked))
        return Answer(None)
    datatype = attribute.datatype
    if datatype == "singlevaluelist":
        return Answer(_one_value(attribute, text, choice))
    if datatype == "multivaluelist":
        return _more_values(attribute, text, choice, list(picked or []))
    if choice is not None:
        raise Invalid("Please type your answer.")
    raw = text.strip()
    if not raw:
        raise Invalid("Please type your answer.")
    if datatype in MAX_TEXT:
        if len(raw) > MAX_TEXT[datatype]:
            raise Invalid(f"That's {len(raw)} characters; please keep it under {MAX_TEXT[datatype]}.")
        return Answer(raw)
    if datatype == "number":
        return Answer(_number(raw))
    if datatype == "datetime":
        return Answer(_datetime(raw, now, tz))
    raise Invalid(f"I can't take answers of type {datatype}.")  # the loader allows no other


def _value_names(attribute: Attribute) -> str:
    return ", ".join(v.name for v in attribute.values)


def _find_value(attribute: Attribute, text: str) -> str | None:
    choices = [Choice(v.key, v.name) for v in attribute.values]
    found = resolve_choice(text, choices)
    if found is not None:
        return found
    said = normalise(text)
    for value in attribute.values:  # "yes" for key yes, a key typed exactly
        if said in (normalise(value.key), normalise(value.name)):
            return value.key
    return None


def _one_value(attribute: Attribute, text: str, choice: str | None) -> str:
    if choice is not None:
        key = choice.removeprefix(VALUE)
        if key in {v.key for v in attribute.values}:
            return key
    elif found := _find_value(attribute, text):
        return found
    raise Invalid(f"Please pick one of: {_value_names(attribute)}.")


def _more_values(attribute: Attribute, text: str, choice: str | None, picked: list[str]) -> Answer:
    if choice == CLEAR or (choice is None and normalise(text) in CLEAR_WORDS):
        return Answer([], done=False)
    if choice == DONE or (choice is None and normalise(text) in DONE_WORDS):
        if not picked:
            raise Invalid(f"Please pick at least one of: {_value_names(attribute)}.")
        return Answer(picked)
    if choice is not None:
        keys = [choice.removeprefix(VALUE)]
    else:
        parts = [p for p in re.split(r",|;|\band\b|\n|/|\+", text) if p.strip()]
        keys = [k for k in (_find_value(attribute, p) for p in parts) if k is not None]
        if len(keys) != len(parts):
            raise Invalid(f"Please pick from: {_value_names(attribute)}.")
    known = {v.key for v in attribute.values}
    if not keys or not set(keys) <= known:
        raise Invalid(f"Please pick from: {_value_names(attribute)}.")
    for key in keys:
        if key not in picked:
            picked.append(key)
    # Typing several at once is a complete answer; tapping one at a time goes on until Done.
    everything = len(picked) == len(attribute.values)
    return Answer(picked, done=choice is None or everything)


_NUMBER = re.compile(r"^[~≈]?\s*(?:about|around|roughly|approx\.?|maybe)?\s*(-?\d+(?:[.,]\d+)?)\s*[a-z%]*$")
_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "a dozen": 12,
    "dozen": 12,
    "twenty": 20,
}


def _number(raw: str) -> float | int:
    folded = raw.strip().lower()
    if folded in _WORDS:
        return _WORDS[folded]
    match = _NUMBER.match(folded)
    if not match:
        raise Invalid("Please answer with a number, like 3.")
    value = float(match.group(1).replace(",", "."))
    return int(value) if value.is_integer() else value


_RELATIVE_DAYS = {"today": 0, "tonight": 0, "this morning": 0, "now": 0, "yesterday": 1, "last night": 1}


def _datetime(raw: str, now: datetime, tz: ZoneInfo) -> str:
    """An ISO 8601 time with the city's offset, as Open311 wants it. Only the past
    and the near future make sense for a problem someone saw, so far-off dates are refused."""
    local_now = now.astimezone(tz)
    folded = normalise(raw)
    base = local_now
    for word, days in _RELATIVE_DAYS.items():
        if folded.startswith(word):
            base = local_now - timedelta(days=days)
            folded = folded[len(word) :].strip(" ,at")
            break
    else:
        folded = raw.strip()
    if not folded:
        moment = base.replace(second=0, microsecond=0)
    else:
        try:
            default = base.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
            parsed = dateparser.parse(folded, default=default, fuzzy=False)
        except (ValueError, OverflowError):
            raise Invalid('Please give a date and time, like "today 8am" or "Nov 3 6pm".') from None
        moment = parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed.astimezone(tz)
    if moment - local_now > timedelta(days=1) or local_now - moment > timedelta(days=3650):
        raise Invalid("That date looks wrong: please give when it happened or when you saw it.")
    return moment.isoformat(timespec="minutes")


def describe(attribute: Attribute, value: Any) -> str:
    """An answer in words, for the summary."""
    if value is None:
        return "skipped"
    names = {v.key: v.name for v in attribute.values}
    if isinstance(value, list):
        return ", ".join(names.get(str(k), str(k)) for k in value)
    return str(names.get(value, value)) if isinstance(value, str) else str(value)
