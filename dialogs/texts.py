"""What the bot says, in one place, so the voice stays consistent."""

from __future__ import annotations

CAN_DO = (
    "I'm the city's 311 assistant. I can:\n"
    '- **answer questions** about city services (try "when is trash day?")\n'
    "- **file a report** about a problem like a pothole or graffiti\n"
    '- **check a report\'s status** ("status" and your report number)\n'
    "In an emergency, call **911**."
)
GREETING = "Hi! " + CAN_DO
THANKS = "You're welcome! Anything else I can help with?"
GOODBYE = "Goodbye! Message me any time; I'm here 24/7."
ABOUT = (
    "I'm an automated assistant for the city's 311 service, not a person. "
    "I can pass your question to city staff if I can't answer it."
)
CANCELLED = "OK, I've stopped that. What can I help you with?"
NOTHING_TO_CANCEL = "There's nothing to cancel. What can I help you with?"
DONT_KNOW = (
    "I'm sorry, I don't know the answer to that. Would you like me to pass your question to city staff?"
)
ASK_STAFF = "Yes, ask city staff"
NO_THANKS = "No, thanks"
NONE_OF_THESE = "None of these"
PASSED_ON = (
    "Thanks, I've passed your question to city staff. "
    "For a quicker answer you can call **311** any time, 24/7."
)
NOT_PASSED = "OK. Ask me something else any time."
DID_YOU_MEAN = "I'm not sure I understood. Did you mean one of these?"
WHICH_ONE = "A few answers could fit. Which one do you mean?"
EMERGENCY = "**This sounds like an emergency. Call 911 now.**"
SOFT_911 = "If anyone is in danger right now, call **911**."
EXPIRED = "(Our earlier conversation timed out, so I've started fresh.)"

# Reports
REPORT_START = (
    "I can file this with the city for you; it takes about a minute. Say **cancel** at any time to stop."
)
ASK_DESCRIPTION = (
    "Please describe the problem in a sentence or two: what it is, and anything that helps the crew."
)
ASK_PHOTO = "A photo helps the crew find and fix it. Attach up to {max}, or tap **Skip**."
ASK_PLACE = "Tap **Share my location**, or type the address, the nearest cross streets or a landmark."
ASK_PLACE_TYPED = 'Type the address, the nearest cross streets (like "5th and Market") or a landmark.'
BACK_TO_REPORT = "Now, back to your report."
REPORT_DISCARDED = "OK, I've discarded that report. Nothing was sent."
FOLLOWING = (
    "Done: you're following report **{number}** ({count} following). I'll tell you here when its status "
    "changes. Say **stop updates** to stop."
)
FILE_ONE = "Report one now"
