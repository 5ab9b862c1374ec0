"""`civic311 slack manifest`: the Slack app a city creates in one paste (api.slack.com/apps,
"Create New App", "From a manifest"). What it asks for is what the desk uses, no more."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from adapters.slack.constants import COMMAND, PATH
from bot.api import Settings

BOT_SCOPES = (
    "chat:write",  # post reports and thread lines, update them
    "commands",  # /civic311 NUMBER
    "users:read",  # staff names, to show who did what
    "channels:history",  # staff messages in our threads, kept as internal notes
    "groups:history",  # the same in private channels
)
BOT_EVENTS = ("message.channels", "message.groups")


def manifest(settings: Settings, *, socket_mode: bool) -> dict[str, Any]:
    url = f"{settings.PUBLIC_URL}{PATH}"
    slash: dict[str, Any] = {
        "command": COMMAND,
        "description": "Look up a 311 report by its number",
        "usage_hint": "NUMBER",
        "should_escape": True,
    }
    interactivity: dict[str, Any] = {"is_enabled": True}
    events: dict[str, Any] = {"bot_events": list(BOT_EVENTS)}
    if not socket_mode:
        slash["url"] = url
        interactivity["request_url"] = url
        events["request_url"] = url
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": f"{settings.CITY_NAME} 311"[:35],
            "description": "Residents' 311 reports and questions, for city staff",
        },
        "features": {
            "bot_user": {"display_name": "civic311", "always_online": True},
            "slash_commands": [slash],
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }


async def print_manifest(args: argparse.Namespace, settings: Settings) -> int:
    socket_mode = bool(args.socket_mode or settings.SLACK_APP_TOKEN)
    if not socket_mode and not settings.PUBLIC_URL.startswith("https://"):
        print(
            "note: Slack sends requests only to a public https URL, and PUBLIC_URL is "
            f"{settings.PUBLIC_URL}; "
            "set PUBLIC_URL, or use --socket-mode (no public URL needed)",
            file=sys.stderr,
        )
    print(json.dumps(manifest(settings, socket_mode=socket_mode), indent=2))
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    slack = commands.add_parser("slack", help="the Slack app for city staff")
    actions = slack.add_subparsers(dest="slack_command", metavar="ACTION")
    shown = actions.add_parser("manifest", help="print the Slack app manifest to paste at api.slack.com/apps")
    shown.add_argument(
        "--socket-mode", action="store_true", help="for Socket Mode (SLACK_APP_TOKEN): no public URL needed"
    )
    shown.set_defaults(handler=print_manifest)
