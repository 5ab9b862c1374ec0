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
DONT_KNOW_NOTE = (
    "I'm sorry, I don't know the answer to that. To talk to a person, call **311** any time, 24/7. "
    "Shall I note your question, so the city can teach me the answer?"
)
ASK_STAFF = "Yes, ask city staff"
NOTE_IT = "Yes, note it"
NO_THANKS = "No, thanks"
NONE_OF_THESE = "None of these"
PASSED_ON = (
    "Thanks, I've passed your question to city staff. A staff member will answer here, in this chat; "
    "you can keep asking me things meanwhile. For a quicker answer you can call **311** any time, 24/7."
)
PASSED_ON_LATER = (
    "Thanks, I've passed your question to city staff. They are not at work right now "
    "(they work {hours}), so a person will see it {back} and answer here, in this chat. "
    "For a quicker answer you can call **311** any time, 24/7."
)
CALL_FOR_PERSON = (
    "To talk to a person, call **311** any time, 24/7: city staff can't be reached from this chat. "
    "I can still answer questions and file reports here."
)
NOTED = (
    "Thanks, I've noted your question for the city, so they can teach me the answer. Nobody will "
    "reply to you here: to talk to a person, call **311** any time, 24/7."
)
NOT_PASSED = "OK. Ask me something else any time."
DID_YOU_MEAN = "I'm not sure I understood. Did you mean one of these?"
WHICH_ONE = "A few answers could fit. Which one do you mean?"
EMERGENCY = "**This sounds like an emergency. Call 911 now.**"
SOFT_911 = "If anyone is in danger right now, call **911**."
WHEN_SAFE = "When you're safe, we can carry on where we were, or say **cancel** to stop."
BACK_TO_IT = "Now, back to where we were."
PICK_A_NUMBER = "Please pick a number from 1 to {count}, or tap one of the choices."
PERSON_AFTER = (
    "To talk to city staff, say **cancel** to stop this first, then ask for a person. "
    "Or carry on where we were:"
)
WAY_OUT = (
    "Sorry, I'm not understanding you. You can try saying it another way, say **help** to see what "
    "I can do, or I can pass your message to city staff."
)
WAY_OUT_NOTE = (
    "Sorry, I'm not understanding you. You can try saying it another way, say **help** to see what "
    "I can do, or call **311** to talk to a person. I can also note your message for the city."
)
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
REPORT_DISCARDED = "OK, I've discarded that report. Nothing was sent."
FOLLOWING = (
    "Done: you're following report **{number}** ({count} following). I'll tell you here when its status "
    "changes. Say **stop updates** to stop."
)
FILE_ONE = "Report one now"
REPORT_ONE = "Report a problem: {name}"

# A message clearly in another language: what the bot can do, in that language where we can.
OTHER_LANGUAGE = {  # the danger sentence first: we cannot read the message, so it may be one
    "es": "Si alguien está en peligro, llame al **911**. Lo siento, por ahora solo puedo responder en "
    "inglés. Para recibir ayuda, llame al **311**.",
    "zh": "如有人身处危险，请拨打 **911**。抱歉，我目前只能用英文回答。如需帮助，请拨打 **311**。",
    "vi": "Nếu có ai đang gặp nguy hiểm, hãy gọi **911**. Xin lỗi, hiện tôi chỉ trả lời được bằng tiếng "
    "Anh. Để được giúp đỡ, hãy gọi **311**.",
    "tl": "Kung may nasa panganib, tumawag sa **911**. Paumanhin, sa Ingles lang ako nakakasagot sa "
    "ngayon. Para sa tulong, tumawag sa **311**.",
    "ru": "Если кому-то угрожает опасность, звоните **911**. Извините, пока я отвечаю только "
    "по-английски. За помощью звоните **311**.",
    "ko": "위험한 상황이면 **911**에 전화하세요. 죄송합니다. 지금은 영어로만 답할 수 있습니다. "
    "도움이 필요하면 **311**에 전화하세요.",
    "fr": "Si quelqu'un est en danger, appelez le **911**. Désolé, je ne réponds qu'en anglais pour "
    "l'instant. Pour obtenir de l'aide, appelez le **311**.",
    "pt": "Se alguém estiver em perigo, ligue para o **911**. Desculpe, por enquanto só respondo em "
    "inglês. Para obter ajuda, ligue para o **311**.",
}
OTHER_LANGUAGE_DEFAULT = (
    "If anyone is in danger, call **911**. Sorry, I can only answer in English for now. "
    "For help, call **311**."
)
