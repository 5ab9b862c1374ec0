"""The knowledge base: its model, search and triage, and the sample city's content.

Pure: no database, no HTTP, no conversation state. Given entries and a
message, it says what the message is.
"""
