"""The persistence reference's example: a counter kept through a unit of work, with its events.

``tests/docs/test_persistence.py`` runs it; ``docs/reference/persistence.md`` shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

import atoll


@dataclass
class Counter:
    """An aggregate: a plain dataclass, which imports nothing."""

    id: int | None
    value: int = 0
    version: int = 0
    events: list[object] = field(default_factory=list, compare=False, repr=False)

    def count(self) -> None:
        """Count once, and raise the event saying so."""
        self.value += 1
        self.events.append(Counted(self.id or 0, self.value))


@dataclass(frozen=True)
class Count:
    """A command: count once."""

    counter_id: int


@dataclass(frozen=True)
class Counted:
    """An event: a counter counted."""

    counter_id: int
    value: int


@dataclass
class Tally:
    """A read model's row, kept by an event handler."""

    id: int | None
    counter_id: int
    value: int


class CountingUnitOfWork(atoll.UnitOfWork):
    """The service's unit of work: its repositories, by annotation."""

    counters: atoll.Repository[Counter]
    tallies: atoll.Repository[Tally]


metadata = sa.MetaData()  # the infrastructure: the tables the SQL adapter keeps them in
counters = sa.Table(
    "counters",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("value", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)
tallies = sa.Table(
    "tallies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("counter_id", sa.Integer, nullable=False),
    sa.Column("value", sa.Integer, nullable=False),
)

schema = atoll.Schema(metadata)
schema.map(Counter, counters, version="version")
schema.map(Tally, tallies)

service = atoll.Service("counting")
service.database(schema, CountingUnitOfWork)


@service.command(Count)
async def count(command: Count, uow: CountingUnitOfWork) -> int:
    """Count once; a new counter is made on its first count."""
    async with uow:
        counter = await uow.counters.get(command.counter_id)
        if counter is None:
            counter = await uow.counters.add(Counter(None))
        counter.count()  # raises Counted, written to the outbox by the commit
        await uow.commit()
    return counter.value


@service.on(Counted)
async def keep_tally(event: Counted, uow: CountingUnitOfWork) -> None:
    """Keep the latest value of each counter; a redelivered event is skipped by the inbox."""
    async with uow:
        await uow.tallies.add(Tally(None, event.counter_id, event.value))
        await uow.commit()
