"""The inboxes of an application's services, asked whether a message's effect is committed.

A consumer asks it of a message delivered more often than allowed (its consumers stopped while
handling it, as a crash or a kill does): if each of its handlers committed it already, the
message is acknowledged, not dead-lettered, since the work is done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from atoll.messaging.envelope import Envelope
    from atoll.persistence.ports import Database

__all__ = ["Inboxes"]


class Inboxes:
    """The database of each service that keeps an inbox; app-scoped, filled as they are made.

    Idempotency keys are kept in the same databases (:mod:`atoll.security.idempotency`).
    """

    def __init__(self) -> None:
        self._databases: dict[str, Database] = {}

    def add(self, service: str, database: Database) -> None:
        """``service`` keeps its inbox in ``database``."""
        self._databases[service] = database

    def database(self, service: str) -> Database | None:
        """The database of ``service``, if it has one."""
        return self._databases.get(service)

    def databases(self) -> list[Database]:
        """Every database known, one per service that has one."""
        return list(self._databases.values())

    async def committed(self, envelope: Envelope, consumers: tuple[str, ...]) -> bool:
        """Whether each of ``consumers`` (``service.handler``) has ``envelope`` in its inbox.

        False when one of them belongs to a service with no database: it keeps no inbox.

        Raises:
            DatabaseUnavailableError: a database could not be asked.
        """
        if not consumers:
            return False
        for consumer in consumers:
            database = self._databases.get(consumer.partition(".")[0])
            if database is None:
                return False
            transaction = await database.begin()
            try:
                if not await transaction.seen(consumer, envelope.id):
                    return False
            finally:
                await transaction.rollback()
        return True

    def __repr__(self) -> str:
        return f"Inboxes({sorted(self._databases)})"
