"""Names shared by the Slack modules, apart so the command line can use them without
loading slack_bolt."""

PATH = "/slack/events"  # events, interactivity and slash commands, in HTTP mode
COMMAND = "/civic311"
