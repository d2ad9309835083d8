"""The in-memory database: the default for tests, and the executable specification of the port.

It keeps committed aggregates as copies, so that what a unit of work changes is seen by others
only once it commits, and a rollback forgets it. Each commit is atomic (one lock), checks the
version of every aggregate it changes against the one it loaded, and writes the outbox and the
inbox with the changes. It passes the same contract suite as the SQL adapter; what it keeps is
gone when the process ends, so it is for tests and demos, never for data that matters.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import functools
import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from atoll.errors import (
    AlreadyExistsError,
    ConflictError,
    DuplicateMessageError,
    PersistenceError,
)
from atoll.persistence.idempotency import MemoryKeyStore, taken_over
from atoll.persistence.leases import MemoryLeaseStore
from atoll.persistence.ports import OutboxBacklog, OutboxRecord, OutboxSignal

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from atoll.messaging.envelope import Envelope
    from atoll.persistence.idempotency import KeyHold
    from atoll.persistence.options import DatabaseOptions
    from atoll.persistence.pages import Keyset
    from atoll.persistence.schema import Mapping, Schema

__all__ = ["MemoryDatabase"]


@dataclass(slots=True)
class _Stored:
    version: int
    copy: object


@dataclass(slots=True)
class _Loaded:
    mapping: Mapping
    version: int
    original: list[object]
    live: object


@dataclass
class _Tables:
    rows: dict[tuple[type, object], _Stored] = field(default_factory=dict)
    ids: dict[type, itertools.count[int]] = field(default_factory=dict)
    # The records not published yet, by position, in order; a record marked sent is dropped,
    # so that a claim reads what is left to publish, not every record ever committed.
    outbox: dict[int, OutboxRecord] = field(default_factory=dict)
    claimed: set[int] = field(default_factory=set)
    committed: dict[int, float] = field(default_factory=dict)  # an unsent record's Unix time
    inbox: set[tuple[str, str]] = field(default_factory=set)
    positions: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class MemoryDatabase:
    """A database in this process's memory.

    Args:
        options: the service's database options (``memory://``).
        schema: the aggregates it keeps.
        service: the service it belongs to, for messages.
    """

    def __init__(
        self,
        options: DatabaseOptions,
        schema: Schema,
        service: str = "",
        *,
        section: str = "db",  # noqa: ARG002 - the port's; memory has no flags to name
    ) -> None:
        self.options = options
        self.schema = schema
        self.service = service
        self.outbox_signal = OutboxSignal()
        self.keys = MemoryKeyStore()
        self.leases = MemoryLeaseStore()
        self._tables = _Tables()
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Nothing to connect to."""

    async def stop(self) -> None:
        """Nothing to close; what is kept stays until the object is dropped."""

    async def ping(self) -> None:
        """Memory always answers."""

    def describe(self) -> str:
        """``memory://``, for logs."""
        return f"memory:// ({self.service or 'no service'})"

    async def begin(self) -> MemoryTransaction:
        """A new transaction."""
        return MemoryTransaction(self)

    async def claim_outbox(self, limit: int) -> MemoryClaim:
        """Claim the first unsent records no other claim holds, each stream in order."""
        tables = self._tables
        held_streams = {
            stream
            for position in tables.claimed
            if (stream := tables.outbox[position].envelope.stream)
        }
        records: list[OutboxRecord] = []
        for record in tables.outbox.values():
            if len(records) >= limit:
                break
            if record.position in tables.claimed:
                continue
            stream = record.envelope.stream
            if stream and stream in held_streams:
                continue  # an earlier record of the stream is out with another claim
            records.append(record)
        tables.claimed.update(record.position for record in records)
        return MemoryClaim(self, records)

    async def outbox_backlog(self) -> OutboxBacklog:
        """How many records are not published yet, and when the oldest committed."""
        tables = self._tables
        oldest = min((tables.committed[p] for p in tables.outbox), default=None)
        return OutboxBacklog(len(tables.outbox), oldest)

    def pool_usage(self) -> None:
        """None: memory has no connections to pool."""

    def unsent(self) -> list[OutboxRecord]:
        """The outbox records not published yet, in order; for tests and ``atoll`` commands."""
        tables = self._tables
        return list(tables.outbox.values())

    # -- what transactions and claims use ----------------------------------------------------

    def _next_id(self, mapping: Mapping) -> int:
        counter = self._tables.ids.setdefault(mapping.aggregate, itertools.count(1))
        while True:
            identity = next(counter)
            if (mapping.aggregate, identity) not in self._tables.rows:
                return identity


class MemoryClaim:
    """Records one relay holds, until it settles them."""

    def __init__(self, database: MemoryDatabase, records: list[OutboxRecord]) -> None:
        self._database = database
        self._records = records

    @property
    def records(self) -> Sequence[OutboxRecord]:
        """What to publish, in order."""
        return self._records

    async def settle(self, sent: Sequence[int]) -> None:
        """Mark ``sent`` as published, and give back the rest."""
        tables = self._database._tables  # noqa: SLF001 - the claim is part of the database
        tables.claimed.difference_update(record.position for record in self._records)
        for position in sent:
            tables.outbox.pop(position, None)
            tables.committed.pop(position, None)
        self._records = []


class MemoryTransaction:
    """One unit of work's view: committed copies, and what it changed since."""

    def __init__(self, database: MemoryDatabase) -> None:
        self._database = database
        self._loaded: dict[tuple[type, object], _Loaded] = {}
        self._added: dict[int, tuple[Mapping, object]] = {}
        self._removed: dict[tuple[type, object], Mapping] = {}
        self._over = False

    async def get(self, mapping: Mapping, identity: object) -> object | None:
        """The aggregate with this id, as committed when this transaction first read it."""
        self._check_open()
        key = (mapping.aggregate, identity)
        if key in self._removed:
            return None
        if key in self._loaded:
            return self._loaded[key].live
        for added_mapping, aggregate in self._added.values():
            if added_mapping is mapping and getattr(aggregate, mapping.id) == identity:
                return aggregate
        stored = self._database._tables.rows.get(key)  # noqa: SLF001 - same adapter
        if stored is None:
            return None
        live = copy.deepcopy(stored.copy)
        self._loaded[key] = _Loaded(mapping, stored.version, _state(live), live)
        return live

    async def add(self, mapping: Mapping, aggregate: object) -> None:
        """Keep ``aggregate``; assign its id if it is ``None``."""
        self._check_open()
        if getattr(aggregate, mapping.id) is None:
            _set(aggregate, mapping.id, self._database._next_id(mapping))  # noqa: SLF001
        if mapping.version is not None and getattr(aggregate, mapping.version) is None:
            _set(aggregate, mapping.version, 0)
        self._added[id(aggregate)] = (mapping, aggregate)

    async def remove(self, mapping: Mapping, aggregate: object) -> None:
        """Delete ``aggregate``, which this transaction got or added."""
        self._check_open()
        if self._added.pop(id(aggregate), None) is not None:
            return
        key = (mapping.aggregate, getattr(aggregate, mapping.id))
        if key not in self._loaded or self._loaded[key].live is not aggregate:
            raise PersistenceError(
                f"cannot remove {mapping.aggregate.__qualname__} "
                f"{getattr(aggregate, mapping.id)!r}: this unit of work did not get it; "
                "get it from the repository first"
            )
        self._removed[key] = mapping

    async def find(self, mapping: Mapping, criteria: dict[str, object]) -> list[object]:
        """Every aggregate of ``mapping``'s type whose attributes equal ``criteria``, by id."""
        matching = await self._matching(mapping, criteria)
        return sorted(matching, key=lambda aggregate: getattr(aggregate, mapping.id))

    async def find_in(
        self,
        mapping: Mapping,
        attribute: str,
        values: Sequence[object],
        criteria: dict[str, object],
    ) -> list[object]:
        """What :meth:`find` finds for ``criteria`` whose ``attribute`` is one of ``values``."""
        self._check_open()
        _check_names(mapping, [attribute, *criteria])
        if not values:
            return []
        wanted = set(values)
        return [a for a in await self.find(mapping, criteria) if getattr(a, attribute) in wanted]

    async def page(
        self, mapping: Mapping, criteria: dict[str, object], keyset: Keyset
    ) -> list[object]:
        """The first (or last) ``keyset.limit`` of those equal to ``criteria`` in its bounds."""
        after, before = keyset.after, keyset.before
        inside = [
            aggregate
            for aggregate in await self._matching(mapping, criteria)
            if (after is None or keyset.compare(keyset.key(aggregate), after) > 0)
            and (before is None or keyset.compare(keyset.key(aggregate), before) < 0)
        ]
        ordered = sorted(inside, key=functools.cmp_to_key(keyset.compare_aggregates))
        if keyset.backward:
            return ordered[max(len(ordered) - keyset.limit, 0) :]
        return ordered[: keyset.limit]

    async def _matching(self, mapping: Mapping, criteria: dict[str, object]) -> list[object]:
        """The aggregates of ``mapping``'s type this transaction sees equal to ``criteria``."""
        self._check_open()
        _check_names(mapping, criteria)
        identities = {
            identity
            for (kind, identity) in self._database._tables.rows  # noqa: SLF001
            if kind is mapping.aggregate
        }
        found = [await self.get(mapping, identity) for identity in identities]
        found.extend(a for m, a in self._added.values() if m is mapping)
        return [
            aggregate
            for aggregate in found
            if aggregate is not None
            and all(getattr(aggregate, name) == value for name, value in criteria.items())
        ]

    async def seen(self, consumer: str, message_id: str) -> bool:
        """Whether the inbox holds the message for the consumer."""
        self._check_open()
        return (consumer, message_id) in self._database._tables.inbox  # noqa: SLF001

    async def commit(
        self,
        outbox: Sequence[Envelope],
        inbox: tuple[str, str] | None,
        key: KeyHold | None = None,
    ) -> None:
        """Check every version, then write the changes, outbox, inbox and key at once."""
        self._check_open()
        database = self._database
        tables = database._tables  # noqa: SLF001 - same adapter
        async with database._lock:  # noqa: SLF001
            self._over = True
            changed = self._changed()
            self._check(tables, changed, inbox)
            if key is not None and not database.keys.commit(key.scope, key.key, key.owner):
                raise taken_over(key)
            for row, loaded in changed:
                if row in self._removed:
                    del tables.rows[row]
                    continue
                version = loaded.version + 1
                if loaded.mapping.version is not None:
                    _set(loaded.live, loaded.mapping.version, version)
                tables.rows[row] = _Stored(version, copy.deepcopy(loaded.live))
            for mapping, aggregate in self._added.values():
                row = (mapping.aggregate, getattr(aggregate, mapping.id))
                version = getattr(aggregate, mapping.version) if mapping.version else 0
                tables.rows[row] = _Stored(version, copy.deepcopy(aggregate))
            now = time.time()
            for envelope in outbox:
                position = next(tables.positions)
                tables.outbox[position] = OutboxRecord(position, envelope)
                tables.committed[position] = now
            if inbox is not None:
                tables.inbox.add(inbox)

    def _check(
        self,
        tables: _Tables,
        changed: list[tuple[tuple[type, object], _Loaded]],
        inbox: tuple[str, str] | None,
    ) -> None:
        """Refuse the commit if a twin delivery or a concurrent change came first."""
        if inbox is not None and inbox in tables.inbox:
            raise DuplicateMessageError(
                f"{inbox[0]} committed message {inbox[1]} meanwhile; nothing is written"
            )
        for key, loaded in changed:
            stored = tables.rows.get(key)
            # Only a versioned aggregate's change is checked; of an unversioned one, the last
            # commit's change stays, as in SQL. One removed meanwhile is gone either way.
            unchecked = loaded.mapping.version is None
            if stored is not None and (unchecked or stored.version == loaded.version):
                continue
            raise ConflictError(
                f"{loaded.mapping.aggregate.__qualname__} {key[1]!r} was changed or "
                "removed by another unit of work since this one read it"
            )
        for mapping, aggregate in self._added.values():
            key = (mapping.aggregate, getattr(aggregate, mapping.id))
            if key in tables.rows:
                raise AlreadyExistsError(
                    f"{mapping.aggregate.__qualname__} {key[1]!r} exists already: another "
                    "unit of work added one with this id",
                    constraint=f"{mapping.aggregate.__qualname__}.{mapping.id}",
                )

    async def rollback(self) -> None:
        """Forget every change."""
        self._over = True

    def _changed(self) -> list[tuple[tuple[type, object], _Loaded]]:
        changed = []
        for key, loaded in self._loaded.items():
            if key in self._removed or _state(loaded.live) != loaded.original:
                changed.append((key, loaded))
        return changed

    def _check_open(self) -> None:
        if self._over:
            raise PersistenceError("this transaction is over: it has committed or rolled back")


def _state(aggregate: object) -> list[object]:
    """What a change is seen in: every field's value, copied, but the events it raised."""
    return [
        copy.deepcopy(getattr(aggregate, f.name))
        for f in dataclasses.fields(aggregate)  # type: ignore[arg-type]
        if f.name != "events"
    ]


def _set(aggregate: Any, name: str, value: object) -> None:
    # object.__setattr__, so that frozen dataclasses, which are only ever added, get their id.
    object.__setattr__(aggregate, name, value)


def _check_names(mapping: Mapping, asked: Iterable[str]) -> None:
    """Refuse to find by what is no attribute of ``mapping``'s aggregate."""
    names = {f.name for f in dataclasses.fields(mapping.aggregate)}
    unknown = sorted(set(asked) - names)
    if unknown:
        raise PersistenceError(
            f"{mapping.aggregate.__qualname__} has no attribute {', '.join(unknown)} "
            f"to find by; its attributes are {', '.join(sorted(names))}"
        )
