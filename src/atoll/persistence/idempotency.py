"""Idempotency keys in a service's database: the records, the store port, and the key held.

A call that carries an idempotency key (REST's ``Idempotency-Key`` header, JSON-RPC's
``idempotency_key`` member) is run at most once per key and caller: see
:mod:`atoll.security.idempotency`, which decides. What it decides on is kept here, in one
record per key:

- *reserved*: a request holds the key (``owner``) until ``locked_until``, and runs;
- *committed*: the unit of work of that request committed its effect, and marked the record
  in the same transaction (:class:`KeyHold`, read by the unit of work on commit), so that a
  crash between the effect and the stored answer cannot run the effect twice;
- *answered*: the answer is stored (``response``), to be replayed until ``expires_at``.

Each database keeps its records: the in-memory one (:class:`MemoryKeyStore`) and the SQL one
(``atoll_idempotency``) pass the same contract suite.
"""

from __future__ import annotations

import contextvars
import dataclasses
from dataclasses import dataclass
from typing import Protocol

from atoll.errors import IdempotencyKeyInUseError

__all__ = [
    "HOLD",
    "KeyHold",
    "KeyRecord",
    "KeyStore",
    "MemoryKeyStore",
    "taken_over",
]


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What is known of one key of one caller.

    Attributes:
        scope: whose key it is: the caller's identity, and the service's operation.
        key: the key the client sent.
        fingerprint: the SHA-256 of the request it came with (operation and arguments).
        owner: the request holding it: a random id, new for each request that reserves it.
        locked_until: until when the owner holds it (epoch seconds); 0 once answered.
        committed: whether the owner's effect is committed.
        response: the answer to replay, once answered.
        expires_at: when the record is forgotten (epoch seconds).
    """

    scope: str
    key: str
    fingerprint: str
    owner: str
    locked_until: float
    expires_at: float
    committed: bool = False
    response: bytes | None = None


class KeyStore(Protocol):
    """The records of one database; each method is a short transaction of its own.

    Writes are conditional on the owner, so that of two requests racing for one key one wins,
    and a request whose hold was taken over (it ran past its lock) changes nothing.
    """

    async def get(self, scope: str, key: str) -> KeyRecord | None:
        """The record of ``key`` in ``scope``, expired or not."""
        ...

    async def put(self, record: KeyRecord, replacing: KeyRecord | None) -> bool:
        """Keep ``record`` if the record is still ``replacing`` as read, or absent if None.

        "Still as read": the same owner, committed or not, answered or not. A holder that
        committed or answered meanwhile keeps its record, so that its effect is not run again.

        Returns:
            False when another request changed or added the record first: nothing is written.
        """
        ...

    async def answer(self, scope: str, key: str, owner: str, response: bytes) -> bool:
        """Store ``response`` as the answer, if ``owner`` still holds the key.

        Returns:
            False when it does not: nothing is written.
        """
        ...

    async def release(self, scope: str, key: str, owner: str) -> None:
        """Forget the record, if ``owner`` holds it and its effect is not committed."""
        ...

    async def purge(self, now: float) -> int:
        """Forget every record that expired before ``now``; how many there were."""
        ...


class KeyHold:
    """A key the call in progress holds: what a unit of work's commit marks as committed.

    Attributes:
        store: the store of the database the key is kept in; a unit of work on another
            database leaves it alone.
        scope: the record's scope.
        key: the record's key.
        owner: the call's hold on it.
        committed: set by the unit of work once its commit marked the record.
    """

    __slots__ = ("committed", "key", "owner", "scope", "store")

    def __init__(self, store: KeyStore, scope: str, key: str, owner: str) -> None:
        self.store = store
        self.scope = scope
        self.key = key
        self.owner = owner
        self.committed = False

    def __repr__(self) -> str:
        return f"KeyHold({self.scope!r}, {self.key!r}, committed={self.committed})"


def taken_over(key: KeyHold) -> IdempotencyKeyInUseError:
    """What a commit raises when its call no longer holds ``key``: nothing is written."""
    return IdempotencyKeyInUseError(
        f"the idempotency key {key.key!r} was taken over by a retry of its request while "
        "this call held it past its lock (--idempotency-lock-timeout); nothing of this call "
        "is written"
    )


HOLD: contextvars.ContextVar[KeyHold | None] = contextvars.ContextVar(
    "atoll_idempotency_hold", default=None
)
"""The key the call in progress holds, if it carries one."""


class MemoryKeyStore:
    """The records of an in-memory database, or of a service with no database.

    Kept in the process: a record is gone when it ends, and another process does not see it.
    """

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], KeyRecord] = {}

    async def get(self, scope: str, key: str) -> KeyRecord | None:
        """The record, expired or not."""
        return self.records.get((scope, key))

    async def put(self, record: KeyRecord, replacing: KeyRecord | None) -> bool:
        """Keep ``record`` if the one there is still ``replacing`` as read (or none is)."""
        if self.records.get((record.scope, record.key)) != replacing:
            return False
        self.records[record.scope, record.key] = record
        return True

    async def answer(self, scope: str, key: str, owner: str, response: bytes) -> bool:
        """Store the answer, if ``owner`` holds the key."""
        there = self.records.get((scope, key))
        if there is None or there.owner != owner:
            return False
        self.records[scope, key] = dataclasses.replace(there, locked_until=0, response=response)
        return True

    async def release(self, scope: str, key: str, owner: str) -> None:
        """Forget the record, if ``owner`` holds it and nothing is committed."""
        there = self.records.get((scope, key))
        if there is not None and there.owner == owner and not there.committed:
            del self.records[scope, key]

    async def purge(self, now: float) -> int:
        """Forget what expired before ``now``."""
        expired = [name for name, record in self.records.items() if record.expires_at < now]
        for name in expired:
            del self.records[name]
        return len(expired)

    def commit(self, scope: str, key: str, owner: str) -> bool:
        """Mark the record committed, if ``owner`` holds it: a memory transaction's commit."""
        there = self.records.get((scope, key))
        if there is None or there.owner != owner:
            return False
        self.records[scope, key] = dataclasses.replace(there, committed=True)
        return True
