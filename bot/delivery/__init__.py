"""Getting messages to residents after the turn: the channel contract, the outbox rows a
turn writes in its own transaction, the worker that sends them, and the transcript that
pages and terminals read their replies from."""
