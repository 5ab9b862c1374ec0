"""The admin pages under /admin/: accounts, the knowledge base, the unanswered inbox, the
test box, the service catalogue and reports, for a city's content people and admins.

Part of the core (DESIGN.md, layout: "bot/ ... admin pages"), because every page reads and
writes the core's own tables; it reaches channels only through the outbox, as staff do.
"""
