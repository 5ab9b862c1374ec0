"""The conversations civic311 has with residents.

`register` is the entry point the engine's registry is filled from
(pyproject `civic311.dialogs`); the engine never imports this package by name.
"""

from __future__ import annotations

from bot.dialog import DialogRegistry
from dialogs import answer, basics, names, report, root, status
from dialogs.safety import with_interruptions


def register(registry: DialogRegistry) -> None:
    registry.register(names.ROOT, with_interruptions(root.root))
    registry.register("start", basics.start)
    # "HELP!!!" is a command, but it may be a cry for help: triage sees it first.
    registry.register("help", with_interruptions(basics.help_, resumable=False))
    registry.register("cancelled", basics.cancelled)
    # Slash commands, as chat apps offer them in their menus (the engine's COMMAND_PREFIX).
    registry.register("command:start", basics.start_command)
    registry.register("command:status", status.status_command)
    registry.register("command:myreports", status.my_reports_command)
    registry.register(names.ANSWER, with_interruptions(answer.did_you_mean, resumable=False))
    registry.register(names.HANDOFF, with_interruptions(answer.offer_staff, resumable=False))
    registry.register(names.REPORT, with_interruptions(report.report))
