"""The registered names of dialogs, for handing a message from one to another with
`Context.dispatch` instead of importing each other (which made import cycles)."""

from __future__ import annotations

ROOT = "root"  # the router: a message no dialog is waiting for
REPORT = "report"  # filing a service request
ANSWER = "answer"  # "did you mean", and the offer to report after an answer
HANDOFF = "handoff"  # the offer to pass a question to staff

NEW_REPORT = "report:"  # a choice id prefix: start a report of the service after it
