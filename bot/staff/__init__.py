"""The staff side: what city staff are told (new reports, changes, handoffs) and what they
do back (status changes, replies to residents, taking a conversation over).

A channel-neutral core: a staff desk (Slack is the one we ship) receives staff events
through the outbox and calls these functions for what staff do.
"""
