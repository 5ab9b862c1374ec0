"""civic311 core: messages, engine, storage, domain, server, CLI. Knows no channel."""
