"""The database port: what a unit of work and an outbox relay ask of any database adapter.

A :class:`Database` is an app-scoped component (started and stopped by the lifecycle). Each
unit of work begins a :class:`Transaction` on it and ends it with ``commit`` or ``rollback``;
the relay claims batches of the outbox with :meth:`Database.claim_outbox`. The in-memory
adapter (:mod:`atoll.persistence.memory`) and the SQL one (:mod:`atoll.adapters.sqlalchemy`)
pass the same contract suite (:mod:`atoll.testing.database_contract`).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    from atoll.messaging.envelope import Envelope
    from atoll.persistence.idempotency import KeyHold, KeyStore
    from atoll.persistence.leases import LeaseStore
    from atoll.persistence.options import DatabaseOptions
    from atoll.persistence.pages import Keyset
    from atoll.persistence.schema import Mapping, Schema

__all__ = [
    "Database",
    "OutboxBacklog",
    "OutboxClaim",
    "OutboxRecord",
    "OutboxSignal",
    "PoolUsage",
    "Transaction",
]


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """An envelope in the outbox, at the position it was committed in."""

    position: int
    envelope: Envelope


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    """What the outbox holds that is not published yet.

    Attributes:
        pending: the records not published.
        oldest: when the oldest of them committed, as a Unix time; None when there is none.
    """

    pending: int
    oldest: float | None


@dataclass(frozen=True, slots=True)
class PoolUsage:
    """A database's pool of connections, now.

    Attributes:
        used: the connections checked out (a transaction holds each).
        idle: the connections open and free.
        max: the most the pool opens (its size and its overflow).
        pending: the transactions waiting for a connection.
    """

    used: int
    idle: int
    max: int
    pending: int


class OutboxClaim(Protocol):
    """Outbox records one relay holds, so that no other relay publishes them meanwhile."""

    @property
    def records(self) -> Sequence[OutboxRecord]:
        """What to publish, in order: every stream's records in the order they committed."""
        ...

    async def settle(self, sent: Sequence[int]) -> None:
        """Mark the records at positions ``sent`` as published, and release the claim."""
        ...


class Transaction(Protocol):
    """One unit of work's hold on the database, from its beginning to its commit or rollback.

    Each method may raise :class:`~atoll.errors.ConflictError` for a concurrent change that
    won, and :class:`~atoll.errors.DatabaseUnavailableError` when the database is out of reach.
    """

    async def get(self, mapping: Mapping, identity: object) -> object | None:
        """The aggregate with this identity, the same object each time in this transaction."""
        ...

    async def add(self, mapping: Mapping, aggregate: object) -> None:
        """Keep a new aggregate; its id is assigned by now if it was ``None``."""
        ...

    async def remove(self, mapping: Mapping, aggregate: object) -> None:
        """Delete an aggregate this transaction loaded or added."""
        ...

    async def find(self, mapping: Mapping, criteria: dict[str, object]) -> list[object]:
        """The aggregates whose attributes equal ``criteria``, in the order of their ids."""
        ...

    async def find_in(
        self,
        mapping: Mapping,
        attribute: str,
        values: Sequence[object],
        criteria: dict[str, object],
    ) -> list[object]:
        """The aggregates whose ``attribute`` is one of ``values`` and equal ``criteria``, by id.

        ``values`` holds each value once. None of them is no query at all; an adapter whose
        statements take a bounded number of parameters splits ``values`` into several
        queries, and returns what they found together, in the order of the ids. ``None``
        among ``values`` finds the aggregates whose ``attribute`` is ``None``, as
        :meth:`find` does.

        Raises:
            PersistenceError: ``attribute`` or ``criteria`` names an attribute the aggregate
                does not map (checked even when ``values`` is empty).
        """
        ...

    async def page(
        self, mapping: Mapping, criteria: dict[str, object], keyset: Keyset
    ) -> list[object]:
        """The aggregates equal to ``criteria`` between ``keyset``'s bounds, in its order.

        Of those whose key comes after ``keyset.after`` and before ``keyset.before`` (each
        bound left out; ``None`` is none), the first ``keyset.limit`` in the order, or the
        last ``keyset.limit`` when ``keyset.backward``; returned in the order either way. A
        query by key, never by offset: what was added or removed before the bound does not
        move the page.
        """
        ...

    async def seen(self, consumer: str, message_id: str) -> bool:
        """Whether the inbox holds ``message_id`` for ``consumer``."""
        ...

    async def commit(
        self,
        outbox: Sequence[Envelope],
        inbox: tuple[str, str] | None,
        key: KeyHold | None = None,
    ) -> None:
        """Write the changes, ``outbox`` and the ``(consumer, message_id)`` inbox entry at once.

        An aggregate changed since it was loaded by another transaction is a conflict; its
        version attribute is one more afterwards. ``key``, the idempotency key the call holds
        (in this database's :attr:`Database.keys`), is marked committed with them.

        Raises:
            ConflictError: a concurrent change won; nothing was written.
            DuplicateMessageError: the inbox got ``inbox`` from a twin delivery meanwhile;
                nothing was written.
            IdempotencyKeyInUseError: the call no longer holds ``key``; nothing was written.
        """
        ...

    async def rollback(self) -> None:
        """Forget every change; never raises for a transaction already over."""
        ...


class OutboxSignal:
    """Wakes the relays of this process when a unit of work has committed outbox records."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """There is something new in the outbox."""
        self._event.set()

    async def wait(self, seconds: float) -> None:
        """Return on the next notification, or after ``seconds``; then re-arm."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
        self._event.clear()


class Database(Protocol):
    """A database for one service's aggregates, outbox and inbox.

    Attributes:
        options: the service's database options.
        schema: what it keeps.
        service: the service it belongs to: what its events name as their sender.
        outbox_signal: notified by each commit that wrote to the outbox.
        keys: the idempotency keys of the service's calls.
        leases: the leases of the service's instances, which share the database: which one
            runs what only one may run at a time (:mod:`atoll.persistence.leases`).
    """

    options: DatabaseOptions
    service: str
    schema: Schema
    outbox_signal: OutboxSignal
    keys: KeyStore
    leases: LeaseStore

    async def start(self) -> None:
        """Connect (and check the connection).

        Raises:
            DatabaseUnavailableError: it cannot be reached; the message names the host.
        """
        ...

    async def stop(self) -> None:
        """Close every connection."""
        ...

    async def begin(self) -> Transaction:
        """A new transaction, at the configured isolation level."""
        ...

    async def ping(self) -> None:
        """Check that the database answers now.

        Raises:
            DatabaseUnavailableError: it does not; the message says what to check.
        """
        ...

    async def claim_outbox(self, limit: int) -> OutboxClaim:
        """Claim up to ``limit`` records that no other relay holds and none precedes unsent.

        A record is left out while an earlier record of its stream is unsent and held by
        another relay, so that each stream is published in order.
        """
        ...

    async def outbox_backlog(self) -> OutboxBacklog:
        """How many outbox records are not published yet, and since when the oldest waits.

        Raises:
            DatabaseUnavailableError: the database cannot be reached.
        """
        ...

    def pool_usage(self) -> PoolUsage | None:
        """Its pool of connections now; None for a database without one (memory)."""
        ...

    def describe(self) -> str:
        """Where the database is, for logs and errors: its URL with no password."""
        ...
