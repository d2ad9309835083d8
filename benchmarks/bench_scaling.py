"""Scaling out on one machine: outbox relays and event consumers, 1, 2 and 4 instances of each.

Each instance is a process of its own, as instances of a service are, on this machine's
PostgreSQL and NATS JetStream (``--broker-url`` for another broker). Two measures:

1. **Relays on one database.** A producer service's outbox on PostgreSQL is filled with E
   events (streams of 5, as an aggregate's: each command counts five times in one unit of
   work), with its relay off. Then N processes of the producer, each composed as ``atoll run``
   composes it (its NATS broker, its database), are told to go at once; each runs its
   :class:`~atoll.persistence.relay.OutboxRelay`, claiming batches of 100
   (``FOR UPDATE SKIP LOCKED``: each record is claimed by one relay, and a stream is
   published in order whichever relay holds its head), until the outbox has nothing unsent.
   The clock runs from the go to the last record published and marked sent. Each relay says
   how many records it published: their sum must be E.
2. **Consumers of one event, end to end.** N processes of a consumer service (one consumer
   group: its instances compete for the events) each handle the event with a unit of work
   on the consumer's PostgreSQL database that writes a row, and keeps the message id in the
   inbox. A fresh outbox of E events, one relay (a process of the producer) publishing them;
   the clock runs from the relay's go until the consumer's database holds E rows.

Every round's events are new (NATS keeps a message id two minutes, and drops a publish of
one it has: a record published again would not be delivered). What the run made is removed
at its end: its databases, its durable consumers, its stored messages.

Run: ``.venv/bin/python benchmarks/bench_scaling.py [--events E] [--rounds N]
[--instances 1,2,4] [--broker-url URL]``. Takes about four minutes with the defaults. The
machine's cores are shared by the instances, the broker, the database and this process:
past the number of cores, an instance more adds work, not capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

import asyncpg

import atoll
from atoll.kernel.entrypoint import load_config, running
from atoll.messaging.bus import MessageBus
from atoll.persistence.relay import OutboxRelay
from atoll.service.composition import compose_target
from bench_outbox import BenchUnitOfWork, Counted, CountMany, Tally, count_many, schema

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from atoll.kernel.container import Container

PG = "postgresql://postgres@127.0.0.1:5432"
NATS = "nats://127.0.0.1:4222"
PER_STREAM = 5
"""Events per command: a stream (an aggregate) of five, committed together."""
AT_ONCE = 4
"""Commands sent at once while the outbox is filled."""


# -- the services: a producer whose commands commit events, a consumer that keeps them ---------
# The domain is bench_outbox.py's: a counter that raises Counted each time it counts, and the
# tally a handler keeps of each event.


def name_event(run: str) -> None:
    """Give ``Counted`` this run's name, so that no other run's consumer takes it."""
    Counted.__atoll_message__ = f"BenchTicked{run}"  # type: ignore[attr-defined]


def producer(run: str) -> atoll.Service:
    """The producer: ``CountMany`` commits ``times`` events of one counter to its outbox."""
    service = atoll.Service(f"ticks{run}")
    service.database(schema, BenchUnitOfWork)
    service.publishes(Counted)

    service.command(CountMany)(count_many)
    return service


def consumer(run: str) -> atoll.Service:
    """The consumer: each ``Ticked`` writes a row, in a unit of work that keeps the inbox."""
    service = atoll.Service(f"tally{run}")
    service.database(schema, BenchUnitOfWork)

    @service.on(Counted)
    async def keep(event: Counted, uow: BenchUnitOfWork) -> None:
        async with uow:
            await uow.tallies.add(Tally(None, event.counter_id, event.value))
            await uow.commit()

    return service


@contextlib.asynccontextmanager
async def started(
    service: atoll.Service, db: str, broker: str, *extra: str
) -> AsyncIterator[Container]:
    """``service`` composed and started as ``atoll run`` starts it, without its HTTP server."""
    app = compose_target(service, serve=False)
    argv = ["--db-url", db, "--broker-url", broker, "--log-level", "warning", *extra]
    async with running(app, load_config(app, argv, {})) as container:
        yield container


# -- the instances: this script again, in a process of its own ---------------------------------


async def relay_instance(args: argparse.Namespace) -> None:
    """A producer's relay: ready, then on ``go`` relays until nothing is left unsent."""
    service = producer(args.run)
    async with started(service, args.db, args.broker_url, "--no-db-relay") as container:
        relay = container.get(OutboxRelay, service.name)
        counter = await asyncpg.connect(args.db)
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        cpu = time.process_time()
        relayed = 0
        while True:
            done = await relay.relay_once(due_only=False)
            relayed += done
            if done:
                continue
            unsent = await counter.fetchval(
                "SELECT count(*) FROM atoll_outbox WHERE sent_at IS NULL"
            )
            if not unsent:
                break
            await asyncio.sleep(0.002)  # the rest is another relay's, until it settles
        await counter.close()
        print(json.dumps({"relayed": relayed, "cpu": time.process_time() - cpu}), flush=True)


async def consumer_instance(args: argparse.Namespace) -> None:
    """A consumer: subscribed and ready, then handles what comes until its input ends."""
    async with started(consumer(args.run), args.db, args.broker_url):
        print("ready", flush=True)
        cpu = time.process_time()  # from ready on: not its start, nor its imports
        await asyncio.to_thread(sys.stdin.read)
        print(json.dumps({"cpu": time.process_time() - cpu}), flush=True)


class Instance:
    """An instance (this script with ``--instance``), told when to go and to stop."""

    def __init__(self, kind: str, run: str, db: str, broker: str) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--instance",
                kind,
                "--run",
                run,
                "--db",
                db,
                "--broker-url",
                broker,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.input: IO[str] = self.process.stdin  # type: ignore[assignment] # piped
        self.output: IO[str] = self.process.stdout  # type: ignore[assignment] # piped

    async def ready(self) -> None:
        line = await asyncio.wait_for(asyncio.to_thread(self.readline), 120)
        if line.strip() != "ready":
            sys.exit(f"an instance did not start: {line!r}")

    def readline(self) -> str:
        return self.output.readline()

    def go(self) -> None:
        self.input.write("go\n")
        self.input.flush()

    async def result(self) -> dict[str, float]:
        line = await asyncio.wait_for(asyncio.to_thread(self.readline), 600)
        return dict(json.loads(line))

    async def finish(self) -> dict[str, float]:
        """Tell it to stop, and what it says as it does."""
        self.input.close()
        said = await self.result()
        await self.stop()
        return said

    async def stop(self) -> None:
        self.input.close()
        code = await asyncio.wait_for(asyncio.to_thread(self.process.wait), 60)
        if code:
            sys.exit(f"an instance ended with status {code}")


# -- measuring -----------------------------------------------------------------------------------


@dataclass
class Rates:
    """Events a second of each round."""

    rates: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.rates)

    @property
    def spread(self) -> float:
        return (max(self.rates) - min(self.rates)) / self.median


class Bench:
    """The run's databases, filled and reset between rounds."""

    def __init__(self, run: str, broker: str, events: int) -> None:
        self.run = run
        self.broker = broker
        self.events = events
        self.produced = f"bench_scaling_ticks_{run}"
        self.consumed = f"bench_scaling_tally_{run}"

    def url(self, database: str) -> str:
        return f"{PG}/{database}"

    async def create(self) -> None:
        admin = await asyncpg.connect(f"{PG}/postgres")
        try:
            for database in (self.produced, self.consumed):
                await admin.execute(f'CREATE DATABASE "{database}"')
        finally:
            await admin.close()
        name_event(self.run)
        for service, database in (
            (producer(self.run), self.produced),
            (consumer(self.run), self.consumed),
        ):
            async with started(service, self.url(database), self.broker, "--db-migrate", "always"):
                pass

    async def drop(self) -> None:
        admin = await asyncpg.connect(f"{PG}/postgres")
        try:
            for database in (self.produced, self.consumed):
                await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await admin.close()

    async def fill(self) -> None:
        """A fresh outbox of E new events, streams of :data:`PER_STREAM`; the relay off."""
        producing = await asyncpg.connect(self.url(self.produced))
        try:
            await producing.execute("DELETE FROM atoll_outbox")
            await producing.execute("VACUUM ANALYZE atoll_outbox")
        finally:
            await producing.close()
        async with started(
            producer(self.run), self.url(self.produced), self.broker, "--no-db-relay"
        ) as container:
            bus = container.get(MessageBus)
            commands = [
                CountMany(counter, PER_STREAM)
                for counter in range(1, self.events // PER_STREAM + 1)
            ]
            for first in range(0, len(commands), AT_ONCE):
                await asyncio.gather(*map(bus.handle, commands[first : first + AT_ONCE]))

    async def consumed_rows(self, connection: asyncpg.Connection) -> int:
        return int(await connection.fetchval("SELECT count(*) FROM bench_tallies"))

    async def relays(self, instances: int) -> tuple[float, float]:
        """One round of measure 1: events a second, and CPU milliseconds of the relays per 1000."""
        await self.fill()
        relays = [
            Instance("relay", self.run, self.url(self.produced), self.broker)
            for _ in range(instances)
        ]
        await asyncio.gather(*(relay.ready() for relay in relays))
        start = time.perf_counter()
        for relay in relays:
            relay.go()
        results = await asyncio.gather(*(relay.result() for relay in relays))
        elapsed = time.perf_counter() - start
        for relay in relays:
            await relay.stop()
        relayed = sum(int(result["relayed"]) for result in results)
        if relayed != self.events:
            sys.exit(f"{instances} relays published {relayed} records of {self.events}")
        cpu = sum(result["cpu"] for result in results)
        return self.events / elapsed, cpu / self.events * 1_000_000

    async def consumers(self, instances: int) -> tuple[float, float]:
        """One round of measure 2: events a second from the relay's go to the last row, and
        CPU milliseconds of the consumers (from ready to stopped) per 1000."""
        await self.fill()
        await self.forget_consumer()
        consuming = await asyncpg.connect(self.url(self.consumed))
        try:
            await consuming.execute("DELETE FROM bench_tallies")
            await consuming.execute("DELETE FROM atoll_inbox")
            consumers = [
                Instance("consume", self.run, self.url(self.consumed), self.broker)
                for _ in range(instances)
            ]
            await asyncio.gather(*(each.ready() for each in consumers))
            relay = Instance("relay", self.run, self.url(self.produced), self.broker)
            await relay.ready()
            start = time.perf_counter()
            relay.go()
            deadline = start + 600
            while await self.consumed_rows(consuming) < self.events:
                if time.perf_counter() > deadline:
                    sys.exit("the consumers did not keep every event within 600 s")
                await asyncio.sleep(0.01)
            elapsed = time.perf_counter() - start
            await relay.result()
            await relay.stop()
            cpu = sum([(await each.finish())["cpu"] for each in consumers])
            if await self.consumed_rows(consuming) != self.events:
                sys.exit("an event was kept twice")
        finally:
            await consuming.close()
        return self.events / elapsed, cpu / self.events * 1_000_000

    async def forget_consumer(self, *, purge: bool = False) -> None:
        """Delete the consumer's durable subscription (NATS), and the stored events if asked.

        Made at a consumer's first start, it would keep for it every event published since,
        the relays' too: each consumers' round starts without it, and takes what is published
        from its start on.
        """
        if not self.broker.startswith("nats"):
            return
        import nats  # noqa: PLC0415 - only for NATS
        from nats.js.errors import NotFoundError  # noqa: PLC0415

        from atoll.adapters.nats.broker import EVENTS, durable_name  # noqa: PLC0415

        client = await nats.connect(self.broker)
        try:
            stream = client.jetstream()
            with contextlib.suppress(NotFoundError):
                await stream.delete_consumer(
                    EVENTS, durable_name("event", f"tally{self.run}", f"BenchTicked{self.run}")
                )
            if purge:
                await client.request(
                    f"$JS.API.STREAM.PURGE.{EVENTS}",
                    json.dumps({"filter": f"atoll.event.BenchTicked{self.run}"}).encode(),
                    timeout=10,
                )
        finally:
            await client.close()


async def measure(args: argparse.Namespace) -> None:
    run = uuid.uuid4().hex[:8]
    bench = Bench(run, args.broker_url, args.events)
    counts = [int(n) for n in args.instances.split(",")]
    relayed = {n: Rates() for n in counts}
    relay_cpu: dict[int, list[float]] = {n: [] for n in counts}
    consumed = {n: Rates() for n in counts}
    consumer_cpu: dict[int, list[float]] = {n: [] for n in counts}
    await bench.create()
    try:
        for round_ in range(args.rounds + 1):  # the first is a warm-up
            for n in counts:
                rate, cpu = await bench.relays(n)
                if round_:
                    relayed[n].rates.append(rate)
                    relay_cpu[n].append(cpu)
                print(f"  round {round_}: {n} relay(s): {rate:,.0f} events/s", flush=True)
            for n in counts:
                rate, cpu = await bench.consumers(n)
                if round_:
                    consumed[n].rates.append(rate)
                    consumer_cpu[n].append(cpu)
                print(f"  round {round_}: {n} consumer(s): {rate:,.0f} events/s", flush=True)
    finally:
        await bench.forget_consumer(purge=True)
        await bench.drop()
    report(args, (relayed, relay_cpu), (consumed, consumer_cpu))


Measured = tuple[dict[int, Rates], dict[int, list[float]]]
"""Each instance count's rates, and its CPU milliseconds per 1000 events."""


def report(args: argparse.Namespace, relayed: Measured, consumed: Measured) -> None:
    cores = os.cpu_count()
    broker = args.broker_url.partition("://")[0]
    print(
        f"\n{args.events:,} events a round, median of {args.rounds} rounds, {cores} cores, "
        f"PostgreSQL and {broker} on this machine:\n"
    )
    for title, (rates, cpu) in (
        ("relays on one database", relayed),
        ("consumer instances, one relay (end to end)", consumed),
    ):
        print(f"| {title} | events/s | spread | x one | CPU ms per 1000 events |")
        print("| ---: | ---: | ---: | ---: | ---: |")
        one = rates[min(rates)].median
        for n, each in rates.items():
            print(
                f"| {n} | {each.median:,.0f} | {each.spread:.0%} | {each.median / one:.2f} | "
                f"{statistics.median(cpu[n]):,.0f} |"
            )
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--instances", default="1,2,4")
    parser.add_argument("--broker-url", default=NATS)
    parser.add_argument("--instance", choices=["relay", "consume"], help=argparse.SUPPRESS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instance:
        name_event(args.run)
        work = relay_instance if args.instance == "relay" else consumer_instance
        asyncio.run(work(args))
        return
    asyncio.run(measure(args))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
