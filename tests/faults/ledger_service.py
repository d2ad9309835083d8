"""A service whose handler writes one ledger row per event: the fault tests run it as processes.

    python ledger_service.py --broker-url nats://... --db-url postgresql+asyncpg://.../ledger

Each ``Tick`` event adds a row (its number, the process id) to ``ledger_entry`` in the same
transaction as the inbox entry: a tick lost leaves no row, a tick applied twice leaves two.
``LEDGER_DELAY`` seconds are spent inside the unit of work, so that a test can kill a process
in the middle of a handler; a tick whose number is in ``LEDGER_POISON`` always fails, and
one in ``LEDGER_HOLD`` is committed (``committed N`` is printed) and then held, its handler
never returning, so that a test can kill the process between the commit and the ack. The
process prints ``handling N`` and ``handled N`` around each. ``LEDGER_RUN`` names the service
(``ledger-<RUN>``) and the event type (``__main__.Tick<RUN>``), so that each test has its own.
The ``emit`` command commits a tick to the outbox, for the tests of a producer.
"""

import asyncio
import dataclasses
import os
from dataclasses import dataclass

import sqlalchemy as sa

import atoll

RUN = os.environ.get("LEDGER_RUN", "")

# A type of this run's own (``__main__.Tick<RUN>``): the topic no other test publishes to.
Tick = dataclasses.make_dataclass(f"Tick{RUN}", [("n", int)], frozen=True)
Tick.__module__ = "__main__"


@dataclass
class Entry:
    id: int | None
    n: int
    pid: int


class LedgerUnitOfWork(atoll.UnitOfWork):
    entries: atoll.Repository[Entry]


metadata = sa.MetaData()
entries = sa.Table(
    "ledger_entry",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
)
schema = atoll.Schema(metadata)
schema.map(Entry, entries)

service = atoll.Service(f"ledger-{RUN}" if RUN else "ledger")
service.database(schema, LedgerUnitOfWork)

DELAY = float(os.environ.get("LEDGER_DELAY", "0"))
POISON = {int(n) for n in os.environ.get("LEDGER_POISON", "").split(",") if n}
HOLD = {int(n) for n in os.environ.get("LEDGER_HOLD", "").split(",") if n}


@dataclass(frozen=True)
class Emit:
    n: int


@service.command(Emit)
async def emit(command: Emit, uow: LedgerUnitOfWork) -> int:
    """Commit a tick to the outbox: the relay publishes it, and ``record`` books it."""
    async with uow:
        uow.publish(Tick(command.n))
        await uow.commit()
    return command.n


@service.on(Tick)
async def record(event: Tick, uow: LedgerUnitOfWork) -> None:  # type: ignore[valid-type]
    print(f"handling {event.n}", flush=True)
    async with uow:
        await uow.entries.add(Entry(None, event.n, os.getpid()))
        if DELAY:
            await asyncio.sleep(DELAY)
        if event.n in POISON:
            raise ValueError(f"tick {event.n} is poison")
        await uow.commit()
    if event.n in HOLD:
        print(f"committed {event.n}", flush=True)
        await asyncio.Event().wait()  # never acknowledged: killed here
    print(f"handled {event.n}", flush=True)


if __name__ == "__main__":
    atoll.main(service)
