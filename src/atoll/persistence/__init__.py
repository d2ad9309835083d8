"""Persistence: repositories and units of work over a database port, with an outbox and an inbox."""
