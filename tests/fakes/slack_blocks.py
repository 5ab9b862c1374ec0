"""What Slack refuses in Block Kit, so a message or modal our code builds fails here as it would there.

Slack checks blocks against a schema and answers `invalid_blocks` (messages) or `invalid_arguments`
(views) with one line per problem, each ending in a JSON pointer:

    {"ok": false, "error": "invalid_blocks",
     "errors": ["must be less than 3001 characters [json-pointer:/blocks/0/text/text]"],
     "response_metadata": {"messages": ["[ERROR] must be less than 3001 characters [json-pointer:...]"]}}

Only the limits our code can plausibly cross are checked (lengths, counts, required fields, known
types); the wording follows Slack's where it is known. `with_ids` then does what Slack does to
accepted blocks: every block gets a block_id and every interactive element an action_id.
"""

from __future__ import annotations

import copy
import secrets
import string
from typing import Any

__all__ = ["MESSAGE_BLOCKS", "VIEW_BLOCKS", "Invalid", "check_blocks", "check_view", "with_ids"]

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
BLOCK_TYPES = frozenset(
    ("section", "actions", "context", "divider", "header", "image", "input", "rich_text", "markdown")
)
_SELECTS = frozenset(
    (
        *("static_select", "external_select", "users_select", "conversations_select", "channels_select"),
        *("multi_static_select", "multi_external_select", "multi_users_select"),
        *("multi_conversations_select", "multi_channels_select"),
    )
)
_PICKERS = frozenset(("datepicker", "timepicker", "datetimepicker", "checkboxes", "radio_buttons"))
_TEXT_INPUTS = frozenset(
    ("plain_text_input", "email_text_input", "url_text_input", "number_input", "rich_text_input")
)
ACTION_ELEMENTS = _SELECTS | _PICKERS | {"button", "overflow", "workflow_button"}
ACCESSORY_ELEMENTS = _SELECTS | _PICKERS | {"button", "overflow", "image"}
INPUT_ELEMENTS = _SELECTS | _PICKERS | _TEXT_INPUTS | {"file_input"}
_ID_CHARS = string.ascii_letters + string.digits


class Invalid(Exception):
    """Slack's refusal: `error` is the API error, `problems` its per-field lines."""

    def __init__(self, error: str, problems: list[str]) -> None:
        super().__init__(f"{error}: {'; '.join(problems)}")
        self.error = error
        self.problems = problems


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, pointer: str, message: str) -> None:
        self.problems.append(f"{message} [json-pointer:{pointer}]")

    def string(self, value: Any, pointer: str, limit: int, *, required: bool = False) -> None:
        if value is None:
            if required:
                self.fail(pointer, "must provide a string")
        elif not isinstance(value, str):
            self.fail(pointer, "must be a string")
        elif len(value) > limit:
            self.fail(pointer, f"must be less than {limit + 1} characters")
        elif required and not value:
            self.fail(pointer, "must be more than 0 characters")

    def text(
        self, value: Any, pointer: str, limit: int, *, plain: bool = False, required: bool = True
    ) -> None:
        """A text object: {"type": "plain_text" | "mrkdwn", "text": ...}."""
        if value is None:
            if required:
                self.fail(pointer, "must provide an object")
            return
        if not isinstance(value, dict):
            self.fail(pointer, "must provide an object")
            return
        kinds = ("plain_text",) if plain else ("plain_text", "mrkdwn")
        if value.get("type") not in kinds:
            self.fail(f"{pointer}/type", f"must be one of the following: {', '.join(kinds)}")
        self.string(value.get("text"), f"{pointer}/text", limit, required=True)

    def items(self, value: Any, pointer: str, limit: int, *, least: int = 1) -> list[Any]:
        if not isinstance(value, list):
            self.fail(pointer, "must provide an array")
            return []
        if len(value) > limit:
            self.fail(pointer, f"no more than {limit} items allowed")
        elif len(value) < least:
            self.fail(pointer, f"must provide at least {least} items")
        return value

    def options(self, value: Any, pointer: str, limit: int, *, plain: bool = True) -> None:
        for i, option in enumerate(self.items(value, pointer, limit)):
            if not isinstance(option, dict):
                self.fail(f"{pointer}/{i}", "must provide an object")
                continue
            self.text(option.get("text"), f"{pointer}/{i}/text", 75, plain=plain)
            self.string(option.get("value"), f"{pointer}/{i}/value", 150, required=True)

    def element(self, el: Any, pointer: str, allowed: frozenset[str] | set[str]) -> None:
        if not isinstance(el, dict):
            self.fail(pointer, "must provide an object")
            return
        kind = el.get("type")
        if kind not in allowed:
            self.fail(f"{pointer}/type", f"invalid element type: {kind}")
            return
        self.string(el.get("action_id"), f"{pointer}/action_id", 255)
        if kind == "button":
            self.text(el.get("text"), f"{pointer}/text", 75, plain=True)
            self.string(el.get("value"), f"{pointer}/value", 2000)
            self.string(el.get("url"), f"{pointer}/url", 3000)
            if el.get("style") not in (None, "primary", "danger"):
                self.fail(f"{pointer}/style", "must be one of the following: primary, danger")
        elif kind == "image":
            self.string(el.get("image_url"), f"{pointer}/image_url", 3000, required="slack_file" not in el)
            self.string(el.get("alt_text"), f"{pointer}/alt_text", 2000, required=True)
        elif kind == "overflow":
            self.options(el.get("options"), f"{pointer}/options", 5)
        elif kind in ("checkboxes", "radio_buttons"):
            self.options(el.get("options"), f"{pointer}/options", 10, plain=False)
        elif kind in _SELECTS:
            self.text(el.get("placeholder"), f"{pointer}/placeholder", 150, plain=True, required=False)
            if kind in ("static_select", "multi_static_select") and "option_groups" not in el:
                self.options(el.get("options"), f"{pointer}/options", 100)
        elif kind in _TEXT_INPUTS:
            self.text(el.get("placeholder"), f"{pointer}/placeholder", 150, plain=True, required=False)
            for bound in ("min_length", "max_length"):
                if isinstance(el.get(bound), int) and not 0 <= el[bound] <= 3000:
                    self.fail(f"{pointer}/{bound}", "must be between 0 and 3000")
            self.string(el.get("initial_value"), f"{pointer}/initial_value", 3000)

    def block(self, block: Any, pointer: str, seen: set[str]) -> None:  # noqa: C901 - one branch a type
        if not isinstance(block, dict):
            self.fail(pointer, "must provide an object")
            return
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            self.fail(f"{pointer}/type", f"unsupported type: {kind}")
            return
        block_id = block.get("block_id")
        self.string(block_id, f"{pointer}/block_id", 255)
        if isinstance(block_id, str):
            if block_id in seen:
                self.fail(f"{pointer}/block_id", f"duplicate block_id: {block_id}")
            seen.add(block_id)
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self.fail(pointer, "must provide either text or fields")
            self.text(block.get("text"), f"{pointer}/text", 3000, required=False)
            if "fields" in block:
                for i, field in enumerate(self.items(block["fields"], f"{pointer}/fields", 10)):
                    self.text(field, f"{pointer}/fields/{i}", 2000)
            if "accessory" in block:
                self.element(block["accessory"], f"{pointer}/accessory", ACCESSORY_ELEMENTS)
        elif kind == "actions":
            for i, el in enumerate(self.items(block.get("elements"), f"{pointer}/elements", 25)):
                self.element(el, f"{pointer}/elements/{i}", ACTION_ELEMENTS)
        elif kind == "context":
            for i, el in enumerate(self.items(block.get("elements"), f"{pointer}/elements", 10)):
                if isinstance(el, dict) and el.get("type") == "image":
                    self.element(el, f"{pointer}/elements/{i}", {"image"})
                else:
                    self.text(el, f"{pointer}/elements/{i}", 3000)
        elif kind == "header":
            self.text(block.get("text"), f"{pointer}/text", 150, plain=True)
        elif kind == "image":
            self.string(
                block.get("image_url"), f"{pointer}/image_url", 3000, required="slack_file" not in block
            )
            self.string(block.get("alt_text"), f"{pointer}/alt_text", 2000, required=True)
            self.text(block.get("title"), f"{pointer}/title", 2000, plain=True, required=False)
        elif kind == "input":
            self.text(block.get("label"), f"{pointer}/label", 2000, plain=True)
            self.text(block.get("hint"), f"{pointer}/hint", 2000, plain=True, required=False)
            if "element" not in block:
                self.fail(pointer, "missing required field: element")
            else:
                self.element(block["element"], f"{pointer}/element", INPUT_ELEMENTS)
        elif kind == "rich_text":
            self.items(block.get("elements"), f"{pointer}/elements", 100, least=0)
        elif kind == "markdown":
            self.string(block.get("text"), f"{pointer}/text", 12000, required=True)

    def blocks(self, blocks: Any, pointer: str, limit: int) -> None:
        seen: set[str] = set()
        for i, block in enumerate(self.items(blocks, pointer, limit, least=0)):
            self.block(block, f"{pointer}/{i}", seen)


def check_blocks(blocks: Any, *, limit: int = MESSAGE_BLOCKS) -> None:
    """Raise Invalid("invalid_blocks", ...) for blocks a message may not carry."""
    checker = _Checker()
    checker.blocks(blocks, "/blocks", limit)
    if checker.problems:
        raise Invalid("invalid_blocks", checker.problems)


def check_view(view: Any) -> None:
    """Raise Invalid("invalid_arguments", ...) for a modal Slack would not open (views.open/update/push)."""
    checker = _Checker()
    if not isinstance(view, dict):
        raise Invalid("invalid_arguments", ["must provide an object [json-pointer:/view]"])
    if view.get("type") != "modal":
        checker.fail("/view/type", "must be one of the following: modal")
    checker.text(view.get("title"), "/view/title", 24, plain=True)
    checker.text(view.get("submit"), "/view/submit", 24, plain=True, required=False)
    checker.text(view.get("close"), "/view/close", 24, plain=True, required=False)
    checker.string(view.get("private_metadata"), "/view/private_metadata", 3000)
    checker.string(view.get("callback_id"), "/view/callback_id", 255)
    checker.string(view.get("external_id"), "/view/external_id", 255)
    checker.blocks(view.get("blocks"), "/view/blocks", VIEW_BLOCKS)
    blocks: list[Any] = view["blocks"] if isinstance(view.get("blocks"), list) else []
    has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
    if has_input and "submit" not in view:
        checker.fail("/view", "submit is required when an input block is within the blocks array")
    if checker.problems:
        raise Invalid("invalid_arguments", checker.problems)


def _new_id(length: int) -> str:
    return "".join(secrets.choice(_ID_CHARS) for _ in range(length))


def _fill_element(el: Any) -> None:
    if isinstance(el, dict) and el.get("type") in ACTION_ELEMENTS | INPUT_ELEMENTS:
        el.setdefault("action_id", _new_id(5))
    if isinstance(el, dict) and el.get("type") == "plain_text":
        el.setdefault("emoji", True)
    if isinstance(el, dict):
        for value in el.values():
            if isinstance(value, dict):
                _fill_element(value)


def with_ids(blocks: list[Any]) -> list[dict[str, Any]]:
    """A copy of accepted blocks as Slack stores them: block_ids and action_ids filled in."""
    filled: list[dict[str, Any]] = copy.deepcopy(blocks)
    for block in filled:
        block.setdefault("block_id", _new_id(4))
        for el in [block.get("accessory"), block.get("element"), *block.get("elements", [])]:
            _fill_element(el)
        for value in block.values():
            if isinstance(value, dict) and value.get("type") == "plain_text":
                value.setdefault("emoji", True)
    return filled
