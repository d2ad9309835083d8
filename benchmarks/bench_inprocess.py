"""Two services in one process: a command commits an event that the other service handles.

A system of two services, run as ``atoll run`` runs it (``running`` on the composed app,
without its HTTP server), on ``--broker-url memory://`` (the default): ``orders`` handles
``PlaceOrder`` through its unit of work, which adds an order and commits its ``OrderPlaced``
event to the outbox; ``billing`` handles ``OrderPlaced``. The clock runs from the first
command until billing has seen every event. Each command is sent through the bus, as the
HTTP, JSON-RPC and in-process clients send it.

The scenarios: each service's database in memory (``memory://``) or in a SQLite file of its
own (a temporary directory); billing's handler without database work (it counts), or with
its unit of work, which writes an invoice and the inbox entry; the commands one at a time,
or 16 at once (in memory only: SQLite has one writer at a time, and a writer that finds the
lock taken sleeps in its busy handler, so that commands sent at once only slow it down).
Each scenario runs a warm-up round, then the rounds, each on a system started afresh on new
databases, so that no round finds what the one before left in its inbox. The table gives the
median events per second, the spread of the rounds ((max - min) / median), and the process's
CPU time per event (every thread's, aiosqlite's included), which a busy machine disturbs less
than the wall clock.

Run: ``.venv/bin/python benchmarks/bench_inprocess.py [--rounds N] [--events E]
[--sqlite-events E] [--only memory,sqlite]``, or ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

import atoll
from atoll.kernel.entrypoint import load_config, running
from atoll.messaging.bus import MessageBus
from atoll.persistence.repository import Repository  # noqa: TC001 - read at run time
from atoll.persistence.schema import Schema
from atoll.persistence.unit_of_work import UnitOfWork
from atoll.service.composition import compose_target
from bench_outbox import Seen

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

# -- the domain: orders placed, and invoiced by another service -------------------------------


@dataclass(frozen=True)
class PlaceOrder:
    """Place an order."""

    order_id: int
    cents: int


@dataclass(frozen=True)
class OrderPlaced:
    """An order was placed."""

    order_id: int
    cents: int


@dataclass
class Order:
    """The orders service's aggregate."""

    id: int
    cents: int
    events: list[object] = field(default_factory=list, compare=False, repr=False)


@dataclass
class Invoice:
    """What billing writes for each order when its handler does database work."""

    id: int
    cents: int


order_tables = sa.MetaData()
orders_table = sa.Table(
    "bench_orders",
    order_tables,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("cents", sa.Integer, nullable=False),
)
invoice_tables = sa.MetaData()
invoices_table = sa.Table(
    "bench_invoices",
    invoice_tables,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("cents", sa.Integer, nullable=False),
)


class OrderUnits(UnitOfWork):
    orders: Repository[Order]


class BillingUnits(UnitOfWork):
    invoices: Repository[Invoice]


def make_system(seen: Seen, handler: str) -> atoll.System:
    """Orders and billing; billing's handler is ``light`` (counts) or ``inbox`` (writes)."""
    orders = atoll.Service("orders")
    order_schema = Schema(order_tables)
    order_schema.map(Order, orders_table)
    orders.database(order_schema, OrderUnits)

    @orders.command(PlaceOrder)
    async def place_order(command: PlaceOrder, uow: OrderUnits) -> int:
        async with uow:
            order = await uow.orders.add(Order(command.order_id, command.cents))
            order.events.append(OrderPlaced(order.id, order.cents))
            await uow.commit()
        return order.id

    billing = atoll.Service("billing")
    billing_schema = Schema(invoice_tables)
    billing_schema.map(Invoice, invoices_table)
    billing.database(billing_schema, BillingUnits)

    if handler == "light":

        @billing.on(OrderPlaced)
        async def count(event: OrderPlaced) -> None:  # noqa: ARG001 - counts, nothing more
            seen.hit()

    else:

        @billing.on(OrderPlaced)
        async def invoice(event: OrderPlaced, uow: BillingUnits) -> None:
            async with uow:
                await uow.invoices.add(Invoice(event.order_id, event.cents))
                await uow.commit()
            seen.hit()

    return atoll.System(orders, billing, name="shop")


@contextlib.asynccontextmanager
async def running_system(
    seen: Seen, handler: str, urls: tuple[str, str]
) -> AsyncIterator[MessageBus]:
    app = compose_target(make_system(seen, handler), serve=False)
    argv = ["--orders-db-url", urls[0], "--billing-db-url", urls[1]]
    async with running(app, load_config(app, argv, {})) as container:
        yield container.get(MessageBus)


# -- measuring -----------------------------------------------------------------------------------


@dataclass
class Sample:
    """The rounds of one scenario: seconds and CPU seconds for ``events`` events each."""

    events: int
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.events / statistics.median(self.seconds)

    @property
    def spread(self) -> float:
        median = statistics.median(self.seconds)
        return (max(self.seconds) - min(self.seconds)) / median

    @property
    def cpu_micros(self) -> float:
        return statistics.median(self.cpu) / self.events * 1e6


async def scenario(
    urls: Callable[[], tuple[str, str]], handler: str, at_once: int, args: argparse.Namespace
) -> Sample:
    """One scenario: a warm-up round, then ``args.rounds`` rounds of ``args.events`` events.

    Each round starts the system afresh on new databases, so that no round finds the outbox
    or the inbox of the one before it.
    """
    sample = Sample(args.events)
    for round_ in range(args.rounds + 1):  # the first is a warm-up
        events = args.events if round_ else min(args.events, 100)
        seen = Seen()
        async with running_system(seen, handler, urls()) as bus:
            seen.expect(events)
            start, cpu = time.perf_counter(), time.process_time()
            for first in range(0, events, at_once):
                size = min(at_once, events - first)
                await asyncio.gather(
                    *(bus.handle(PlaceOrder(first + k, 1250)) for k in range(size))
                )
            await asyncio.wait_for(seen.done.wait(), timeout=300)
            if round_:
                sample.seconds.append(time.perf_counter() - start)
                sample.cpu.append(time.process_time() - cpu)
    return sample


SCENARIOS = [
    ("light", 1, "no database work, commands one at a time"),
    ("light", 16, "no database work, 16 commands at once"),
    ("inbox", 1, "unit of work + inbox + one row, one at a time"),
    ("inbox", 16, "unit of work + inbox + one row, 16 at once"),
]


async def measure(
    database: str,
    urls: Callable[[], tuple[str, str]],
    args: argparse.Namespace,
    *,
    most_at_once: int,
) -> None:
    print(f"\n{database}: {args.events:,} events a round, median of {args.rounds} rounds")
    print(f"{'billing handler, commands':<48}{'events/s':>9}{'spread':>8}{'CPU us/event':>13}")
    for handler, at_once, label in SCENARIOS:
        if at_once > most_at_once:
            continue
        sample = await scenario(urls, handler, at_once, args)
        print(f"{label:<48}{sample.rate:>9,.0f}{sample.spread:>8.0%}{sample.cpu_micros:>13,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=1000, help="events a round, in memory")
    parser.add_argument("--sqlite-events", type=int, default=400, help="events a round, SQLite")
    parser.add_argument("--only", default="memory,sqlite", help="memory, sqlite or both")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small and 1 round")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.events, args.sqlite_events = 1, 200, 100
        print("--quick: a smoke run, too short for its figures to mean much")
    only = set(args.only.split(","))
    started = time.perf_counter()
    python, sqlite = sys.version.split()[0], sqlite3.sqlite_version
    print(f"{os.cpu_count()} cores, Python {python}, SQLite {sqlite}")
    if "memory" in only:

        def in_memory() -> tuple[str, str]:
            return ("memory://", "memory://")

        asyncio.run(measure("memory databases (memory://)", in_memory, args, most_at_once=16))
    if "sqlite" in only:
        # One writer at a time: commands sent at once only wait in SQLite's busy handler.
        args.events = args.sqlite_events
        with tempfile.TemporaryDirectory() as directory:
            made = itertools.count()

            def files() -> tuple[str, str]:
                n = next(made)
                return (
                    f"sqlite+aiosqlite:///{Path(directory) / f'orders-{n}.db'}",
                    f"sqlite+aiosqlite:///{Path(directory) / f'billing-{n}.db'}",
                )

            title = "SQLite (a temporary file per service, WAL)"
            asyncio.run(measure(title, files, args, most_at_once=1))
    print(f"\n({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
