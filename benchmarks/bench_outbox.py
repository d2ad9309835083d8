"""Units of work with an outbox, and the outbox relay: atoll against plain SQLAlchemy, in one run.

On SQLite (a temporary file) and on PostgreSQL (a database made for the run and dropped after
it; skipped with a note when the server does not answer), three measures:

1. **Unit of work with outbox**, sequential calls. atoll: a command sent through the bus, whose
   handler gets a counter from its unit of work, counts once (raising one event) and commits,
   which writes the change and one outbox row. Its peers, plain SQLAlchemy 2 async ORM code:
   (b) ``session.get``, change, commit, with no outbox; (c) the same plus an outbox row written
   by hand in the transaction (the like-for-like). Every contender updates one of 100 counters
   with a version check (``version_id_col``), over an engine with the settings of atoll's
   adapter (pool of 5, pre-ping; on SQLite WAL and a busy timeout), so that the ratios are
   atoll's code, not configuration. The contenders take turns by slices of 50 calls. atoll's
   relay is off here (``--no-db-relay``), so that only the commits are measured.
2. **Commit to handled**: E single-event commands (each of a batch sent at once on its own
   counter: one at a time on SQLite, 4 at once on PostgreSQL); the clock runs from the first
   command until an event handler of the process has seen all E. With the relay off (the
   commits alone, the floor), then on with a handler that does no database work, then on with
   one that writes a row through its unit of work, which keeps the inbox.
3. **The relay alone**: the outbox pre-filled with E events with the relay off (streams of 100
   events, as one aggregate's), then ``OutboxRelay.flush()`` delivering them to the handler
   that does no database work, through the ``memory://`` broker and the service's consumer.
   Its peer is a hand-written relay on the same rows: claim 100 (``FOR UPDATE SKIP LOCKED``
   on PostgreSQL), decode each, call the handler, mark them sent, in one transaction. It
   does not keep each stream's order across relays, which atoll's does.

The service runs as ``atoll run`` runs it (``running`` on the composed app, without its HTTP
server), not under ``atoll.testing.run``: the test harness relays the outbox inside each
``send`` and records every event relayed, which tests want and production does not do.

Run: ``.venv/bin/python benchmarks/bench_outbox.py [--rounds N] [--only sqlite,postgres]``, or
``--quick`` for a smoke run. The rounds interleave the contenders; the tables give the median
of the rounds, their spread ((max - min) / median), atoll's time over each peer's, and the
process's CPU time per call (every thread's, aiosqlite's included; not PostgreSQL's), which a
busy machine disturbs less than the wall clock.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import msgspec
import sqlalchemy as sa
from sqlalchemy import event, orm
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

import atoll
from atoll.adapters.sqlalchemy import SqlDatabase
from atoll.kernel.entrypoint import load_config, running
from atoll.messaging.bus import MessageBus
from atoll.persistence.ports import Database
from atoll.persistence.relay import OutboxRelay
from atoll.persistence.repository import Repository  # noqa: TC001 - read at run time
from atoll.persistence.schema import Schema
from atoll.persistence.unit_of_work import UnitOfWork
from atoll.service.composition import compose_target

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from atoll.kernel.container import Container

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
COUNTERS = 100
"""Counters the sequential calls go round, each changed in turn."""

# -- the domain: a counter that raises an event each time it counts ---------------------------


@dataclass(frozen=True)
class Count:
    """Count once on a counter (made on its first count)."""

    counter_id: int


@dataclass(frozen=True)
class CountMany:
    """Count ``times`` on a counter, in one unit of work: that many events in one commit."""

    counter_id: int
    times: int


@dataclass(frozen=True)
class Counted:
    """A counter counted."""

    counter_id: int
    value: int


@dataclass
class Counter:
    """The aggregate."""

    id: int
    value: int = 0
    version: int = 0
    events: list[object] = field(default_factory=list, compare=False, repr=False)

    def count(self) -> None:
        self.value += 1
        self.events.append(Counted(self.id, self.value))


@dataclass
class Tally:
    """What the handler that writes keeps of each event."""

    id: int | None
    counter_id: int
    value: int


metadata = sa.MetaData()
counters = sa.Table(
    "bench_counters",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("value", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)
tallies = sa.Table(
    "bench_tallies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("counter_id", sa.Integer, nullable=False),
    sa.Column("value", sa.Integer, nullable=False),
)
schema = Schema(metadata)
schema.map(Counter, counters, version="version")
schema.map(Tally, tallies)


class BenchUnitOfWork(UnitOfWork):
    counters: Repository[Counter]
    tallies: Repository[Tally]


class Seen:
    """Counts the events a handler has seen; ``done`` is set once it has seen ``target``."""

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.done = asyncio.Event()

    def expect(self, target: int) -> None:
        self.count, self.target = 0, target
        self.done.clear()

    def hit(self) -> None:
        self.count += 1
        if self.count >= self.target:
            self.done.set()


async def count_many(command: CountMany, uow: BenchUnitOfWork) -> int:
    """Count ``times`` on a counter in one unit of work: that many events in one commit."""
    async with uow:
        counter = await uow.counters.get(command.counter_id)
        if counter is None:
            counter = await uow.counters.add(Counter(command.counter_id))
        for _ in range(command.times):
            counter.count()
        await uow.commit()
    return counter.value


def make_service(seen: Seen, consumer: str | None) -> atoll.Service:
    """The service: its commands, and the handler of ``Counted`` named by ``consumer``."""
    service = atoll.Service("bench")
    service.database(schema, BenchUnitOfWork)

    @service.command(Count)
    async def count(command: Count, uow: BenchUnitOfWork) -> int:
        async with uow:
            counter = await uow.counters.get(command.counter_id)
            if counter is None:
                counter = await uow.counters.add(Counter(command.counter_id))
            counter.count()
            await uow.commit()
        return counter.value

    service.command(CountMany)(count_many)

    if consumer == "light":

        @service.on(Counted)
        async def light(event: Counted) -> None:  # noqa: ARG001 - counts, nothing more
            seen.hit()

    elif consumer == "inbox":

        @service.on(Counted)
        async def keep_tally(event: Counted, uow: BenchUnitOfWork) -> None:
            async with uow:
                await uow.tallies.add(Tally(None, event.counter_id, event.value))
                await uow.commit()
            seen.hit()

    return service


# -- the peers: plain SQLAlchemy 2 async ORM ---------------------------------------------------


class Base(orm.DeclarativeBase):
    pass


class PlainCounter(Base):
    __tablename__ = "plain_counters"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True, autoincrement=False)
    value: orm.Mapped[int]
    version: orm.Mapped[int] = orm.mapped_column()
    __mapper_args__: dict[str, Any] = {"version_id_col": version}  # noqa: RUF012


plain_outbox = sa.Table(
    "plain_outbox",
    Base.metadata,
    sa.Column(
        "position",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("type", sa.String(300), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("stream", sa.String(300), nullable=False, index=True),
    sa.Column("headers", sa.JSON, nullable=False),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sqlite_autoincrement=True,
)
sa.Index(
    "plain_outbox_unsent",
    plain_outbox.c.position,
    postgresql_where=plain_outbox.c.sent_at.is_(None),
    sqlite_where=plain_outbox.c.sent_at.is_(None),
)
COUNTED = f"{Counted.__module__}.{Counted.__qualname__}"


def plain_engine(url: str) -> AsyncEngine:
    """An engine set up as atoll's adapter sets up its own."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, pool_size=5, pool_pre_ping=True, pool_timeout=5)

        @event.listens_for(engine.sync_engine, "connect")
        def pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            for pragma in ("journal_mode=WAL", "busy_timeout=5000", "foreign_keys=ON"):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        return engine
    return create_async_engine(
        url,
        pool_size=5,
        pool_pre_ping=True,
        pool_timeout=5,
        isolation_level="READ COMMITTED",
        connect_args={"timeout": 5},
    )


def plain_op(sessions: async_sessionmaker[Any]) -> Callable[[int], Awaitable[None]]:
    async def op(counter_id: int) -> None:
        async with sessions() as session, session.begin():
            counter = await session.get(PlainCounter, counter_id)
            counter.value += 1

    return op


def plain_outbox_op(sessions: async_sessionmaker[Any]) -> Callable[[int], Awaitable[None]]:
    async def op(counter_id: int) -> None:
        async with sessions() as session, session.begin():
            counter = await session.get(PlainCounter, counter_id)
            counter.value += 1
            await session.execute(
                sa.insert(plain_outbox).values(
                    id=uuid.uuid4().hex,
                    type=COUNTED,
                    payload=msgspec.json.encode(Counted(counter_id, counter.value)),
                    stream=f"Counter:{counter_id}",
                    headers={},
                )
            )

    return op


async def hand_written_flush(
    engine: AsyncEngine, outbox: sa.Table, handle: Callable[[Counted], None], *, batch: int = 100
) -> int:
    """A relay as one writes it by hand: claim a batch, decode, call, mark sent; repeat."""
    c = outbox.c
    claim = sa.select(c.position, c.payload).where(c.sent_at.is_(None)).order_by(c.position)
    claim = claim.limit(batch)
    if engine.dialect.name == "postgresql":
        claim = claim.with_for_update(skip_locked=True)
    decoder = msgspec.json.Decoder(Counted)
    total = 0
    while True:
        async with engine.begin() as connection:
            rows = (await connection.execute(claim)).all()
            if not rows:
                return total
            for row in rows:
                handle(decoder.decode(row.payload))
            sent = [row.position for row in rows]
            await connection.execute(
                sa.update(outbox).where(c.position.in_(sent)).values(sent_at=sa.func.now())
            )
        total += len(rows)


# -- measuring ---------------------------------------------------------------------------------


@dataclass
class Sample:
    """The rounds of one contender: seconds per round, and what each round did."""

    work: int
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    extra: dict[str, list[float]] = field(default_factory=dict)

    def add(self, seconds: float, cpu: float) -> None:
        self.seconds.append(seconds)
        self.cpu.append(cpu)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        return self.work / self.median

    @property
    def micros(self) -> float:
        return self.median / self.work * 1e6

    @property
    def cpu_micros(self) -> float:
        """This process's CPU time (every thread's: aiosqlite's too) per unit of work."""
        return statistics.median(self.cpu) / self.work * 1e6

    @property
    def spread(self) -> float:
        return (max(self.seconds) - min(self.seconds)) / self.median


class Running:
    """The service started as ``atoll run`` starts it, without its HTTP server.

    Not :func:`atoll.testing.run`: its harness relays the outbox inside each ``send`` and
    records every event the relay publishes, which is right for tests and not what runs.
    """

    def __init__(self, container: Container) -> None:
        self.container = container
        self.bus = container.get(MessageBus)
        self.relay = container.get(OutboxRelay, "bench")
        database = container.get(Database, "bench")
        if not isinstance(database, SqlDatabase):
            sys.exit(f"the benchmark needs the SQL database, not {database!r}")
        self.database = database

    async def send(self, command: object) -> object:
        return await self.bus.handle(command)


@contextlib.asynccontextmanager
async def running_service(
    url: str, seen: Seen, consumer: str | None, *, relay: bool, migrate: str = "embedded"
) -> AsyncIterator[Running]:
    app = compose_target(make_service(seen, consumer), serve=False)
    argv = ["--db-url", url, "--db-relay" if relay else "--no-db-relay", "--db-migrate", migrate]
    config = load_config(app, argv, {})
    async with running(app, config) as container:
        yield Running(container)


async def create_tables(url: str, engine: AsyncEngine) -> None:
    """Every table: atoll's (made at start), and the peers'."""
    async with running_service(url, Seen(), None, relay=False, migrate="always"):
        pass
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
        await connection.execute(
            sa.insert(PlainCounter),
            [{"id": k, "value": 0, "version": 1} for k in range(1, COUNTERS + 1)],
        )


async def reset_outbox(engine: AsyncEngine, statement: str) -> None:
    """Run ``statement`` on the outbox, then let PostgreSQL tidy the table up."""
    async with engine.begin() as connection:
        await connection.execute(sa.text(statement))
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(sa.text("VACUUM ANALYZE atoll_outbox"))


async def sequential(url: str, engine: AsyncEngine, args: argparse.Namespace) -> dict[str, Sample]:
    """Measure 1: atoll's unit of work against plain SQLAlchemy, call after call."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with running_service(url, Seen(), None, relay=False) as service:

        async def atoll_op(counter_id: int) -> None:
            await service.send(Count(counter_id))

        contenders: dict[str, Callable[[int], Awaitable[None]]] = {
            "atoll": atoll_op,
            "plain": plain_op(sessions),
            "plain + outbox": plain_outbox_op(sessions),
        }
        samples = {name: Sample(args.ops) for name in contenders}
        for op in contenders.values():  # warm-up; atoll's first pass makes its counters
            for i in range(args.warmup):
                await op(i % COUNTERS + 1)
        for _ in range(args.rounds):
            spent = dict.fromkeys(contenders, (0.0, 0.0))
            # Interleaved by slices of 50 calls, so that a noisy second hurts each alike.
            for first in range(0, args.ops, 50):
                for name, op in contenders.items():
                    start, cpu = time.perf_counter(), time.process_time()
                    for i in range(first, min(first + 50, args.ops)):
                        await op(i % COUNTERS + 1)
                    wall, used = spent[name]
                    spent[name] = (
                        wall + time.perf_counter() - start,
                        used + time.process_time() - cpu,
                    )
            for name, (wall, used) in spent.items():
                samples[name].add(wall, used)
    return samples


def batch_size(dialect: str, args: argparse.Namespace) -> int:
    """Commands sent at once: 1 on SQLite, 4 on PostgreSQL, unless ``--batch`` says.

    SQLite has one writer at a time, and a writer that finds the lock taken sleeps in its busy
    handler (1, 2, 5, 10 ms...), so that concurrent commands only slow it down. PostgreSQL
    takes them in parallel; 4, since the pool keeps 5 connections and the relay holds one.
    """
    if args.batch:
        return int(args.batch)
    return 1 if dialect == "sqlite" else 4


async def commit_to_handled(
    url: str, engine: AsyncEngine, args: argparse.Namespace
) -> dict[str, Sample]:
    """Measure 2: E events committed with the relay on, until a handler has seen them all."""
    await reset_outbox(engine, "DELETE FROM atoll_outbox")  # measure 1 left its events unsent
    consumers = ("off", "light", "inbox")  # "off": the relay off, the commits alone
    samples = {key: Sample(args.events, extra={"commits": [], "drain": []}) for key in consumers}
    for round_ in range(args.rounds + 1):  # the first, smaller, is a warm-up
        events = args.events if round_ else min(args.events, 200)
        for consumer in consumers:  # interleaved; each run starts its service afresh
            seen = Seen()
            relay = consumer != "off"
            async with running_service(url, seen, consumer, relay=relay) as service:
                seen.expect(events)
                start, cpu = time.perf_counter(), time.process_time()
                batch = batch_size(engine.dialect.name, args)
                for first in range(0, events, batch):
                    size = min(batch, events - first)
                    await asyncio.gather(*(service.send(Count(k + 1)) for k in range(size)))
                committed = time.perf_counter()
                if relay:
                    await asyncio.wait_for(seen.done.wait(), timeout=300)
                handled = time.perf_counter()
            if not relay:  # what it committed is not for the next runs' handlers
                await reset_outbox(engine, "DELETE FROM atoll_outbox")
            if round_:
                sample = samples[consumer]
                sample.add(handled - start, time.process_time() - cpu)
                sample.extra["commits"].append(events / (committed - start))
                sample.extra["drain"].append((handled - committed) * 1000)
    return samples


async def relay_alone(url: str, engine: AsyncEngine, args: argparse.Namespace) -> dict[str, Sample]:
    """Measure 3: flush a pre-filled outbox, atoll's relay against a hand-written one."""
    events = args.relay_events
    seen = Seen()
    samples = {"atoll": Sample(events), "hand-written": Sample(events)}
    await reset_outbox(engine, "DELETE FROM atoll_outbox")
    async with running_service(url, seen, "light", relay=False) as service:
        for stream in range(events // 100):
            await service.send(CountMany(stream % COUNTERS + 1, 100))
        relay = service.relay
        outbox = service.database.outbox_table

        async def atoll_flush() -> int:
            return await relay.flush()

        async def hand_written() -> int:
            return await hand_written_flush(engine, outbox, lambda _event: seen.hit())

        flushes = {"atoll": atoll_flush, "hand-written": hand_written}
        for round_ in range(args.rounds + 1):  # the first is a warm-up
            for name, flush in flushes.items():
                await reset_outbox(engine, "UPDATE atoll_outbox SET sent_at = NULL")
                seen.expect(events)
                start, cpu = time.perf_counter(), time.process_time()
                flushed = await flush()
                elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
                if flushed != events or seen.count != events:
                    sys.exit(f"{name} relayed {flushed} and handled {seen.count} of {events}")
                if round_:
                    samples[name].add(elapsed, cpu)
    return samples


# -- running and printing ----------------------------------------------------------------------


Results = dict[str, dict[str, Sample]]


async def measure(url: str, args: argparse.Namespace) -> tuple[Results, dict[str, float]]:
    """Every measure on the database at ``url``, and the seconds each took."""
    engine = plain_engine(url)
    try:
        await create_tables(url, engine)
        results: Results = {}
        took: dict[str, float] = {}
        for name, run in (
            ("sequential", sequential),
            ("relayed", commit_to_handled),
            ("relay", relay_alone),
        ):
            start = time.perf_counter()
            results[name] = await run(url, engine, args)
            took[name] = time.perf_counter() - start
        return results, took
    finally:
        await engine.dispose()


def spread(sample: Sample) -> str:
    return f"{sample.spread:.0%}"


def report(
    title: str, measured: tuple[Results, dict[str, float]], args: argparse.Namespace, batch: int
) -> None:
    results, took = measured
    rounds = "1 round" if args.rounds == 1 else f"median of {args.rounds} rounds"
    print(f"\n{title}: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {rounds}")
    print("(spread: (slowest - fastest) / median of the rounds; atoll/x: atoll's time over")
    print(" this one's; CPU us: this process's CPU time per call, all its threads, and its ratio)")

    seq = results["sequential"]
    print(
        f"\n1. Unit of work with outbox, {args.ops:,} sequential calls per round "
        f"({took['sequential']:.0f} s)"
    )
    print(f"{'contender':<52}{'ops/s':>7}{'us/op':>7}{'spread':>7}{'atoll/x':>8}", end="")
    print(f"{'CPU us':>8}{'/x':>6}")
    names = {
        "atoll": "atoll: command, UoW get + change + event, commit",
        "plain": "(b) plain SQLAlchemy ORM: get, change, commit",
        "plain + outbox": "(c) plain SQLAlchemy ORM + outbox row by hand",
    }
    ours, our_cpu = seq["atoll"].median, seq["atoll"].cpu_micros
    for key, label in names.items():
        s = seq[key]
        ratio = "" if key == "atoll" else f"{ours / s.median:.2f}x"
        cpu_ratio = "" if key == "atoll" else f"{our_cpu / s.cpu_micros:.2f}x"
        print(
            f"{label:<52}{s.rate:>7,.0f}{s.micros:>7,.0f}{spread(s):>7}{ratio:>8}"
            f"{s.cpu_micros:>8,.0f}{cpu_ratio:>6}"
        )

    rel = results["relayed"]
    pace = "one at a time" if batch == 1 else f"{batch} at once"
    print(
        f"\n2. Commit to handled: {args.events:,} single-event commands, {pace} "
        f"({took['relayed']:.0f} s)"
    )
    print(f"{'event handler':<44}{'events/s':>9}{'spread':>7}{'commits/s':>10}{'drain ms':>9}")
    labels = {
        "off": "none: relay off, the commits alone",
        "light": "no database work",
        "inbox": "unit of work + inbox + one row",
    }
    for key, label in labels.items():
        s = rel[key]
        commits = statistics.median(s.extra["commits"])
        drain = f"{statistics.median(s.extra['drain']):,.0f}" if key != "off" else "-"
        print(f"{label:<44}{s.rate:>9,.0f}{spread(s):>7}{commits:>10,.0f}{drain:>9}")
    relay_cost = rel["light"].median / rel["off"].median
    inbox_cost = rel["inbox"].median / rel["light"].median
    print(f"(relayed and handled: {relay_cost:.2f}x the time of the commits alone; with the")
    print(f" inbox handler, {inbox_cost:.2f}x that again. drain: last commit to last event seen)")

    alone = results["relay"]
    print(
        f"\n3. The relay alone: flush {args.relay_events:,} pre-filled events "
        f"({args.relay_events // 100} streams of 100), handler without database work "
        f"({took['relay']:.0f} s)"
    )
    print(f"{'relay':<52}{'events/s':>9}{'us/event':>9}{'spread':>7}{'atoll/x':>8}", end="")
    print(f"{'CPU us':>8}{'/x':>6}")
    labels = {
        "atoll": "atoll: OutboxRelay.flush(), memory://, consumer",
        "hand-written": "hand-written: claim 100, decode, call, mark sent",
    }
    ours, our_cpu = alone["atoll"].median, alone["atoll"].cpu_micros
    for key, label in labels.items():
        s = alone[key]
        ratio = "" if key == "atoll" else f"{ours / s.median:.2f}x"
        cpu_ratio = "" if key == "atoll" else f"{our_cpu / s.cpu_micros:.2f}x"
        print(
            f"{label:<52}{s.rate:>9,.0f}{s.micros:>9,.1f}{spread(s):>7}{ratio:>8}"
            f"{s.cpu_micros:>8,.1f}{cpu_ratio:>6}"
        )


async def postgres_database(admin: str) -> tuple[str, str] | None:
    """A new database beside ``admin``'s and the server's version; ``None`` if none answers."""
    try:
        connection = await asyncpg.connect(admin, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        print(f"\nPostgreSQL skipped: {admin} does not answer ({type(error).__name__}: {error})")
        return None
    name = f"atoll_bench_{uuid.uuid4().hex[:12]}"
    try:
        version = await connection.fetchval("SHOW server_version")
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url = sa.make_url(admin).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False), str(version).split()[0]


async def drop_postgres_database(admin: str, url: str) -> None:
    connection = await asyncpg.connect(admin, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE "{sa.make_url(url).database}" WITH (FORCE)')
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ops", type=int, default=500, help="sequential calls per round")
    parser.add_argument("--warmup", type=int, default=200, help="calls before the rounds")
    parser.add_argument("--events", type=int, default=600, help="events committed, relay on")
    parser.add_argument(
        "--batch", type=int, default=0, help="commands sent at once (1 on SQLite, 4 on PostgreSQL)"
    )
    parser.add_argument("--relay-events", type=int, default=5000, help="events pre-filled")
    parser.add_argument("--only", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument(
        "--postgres", default=PG_ADMIN, help="a PostgreSQL URL where a database can be made"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: small and 1 round")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.ops, args.warmup = 1, 100, 100
        args.events, args.relay_events = 200, 500
    args.relay_events = max(100, args.relay_events // 100 * 100)
    only = set(args.only.split(","))
    started = time.perf_counter()
    if args.quick:
        print("--quick: a smoke run, too short for its figures to mean much")
    if "sqlite" in only:
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
            measured = asyncio.run(measure(url, args))
        report(
            f"SQLite {sqlite3.sqlite_version} (a temporary file, WAL)",
            measured,
            args,
            batch_size("sqlite", args),
        )
    if "postgres" in only:
        made = asyncio.run(postgres_database(args.postgres))
        if made is not None:
            url, version = made
            try:
                measured = asyncio.run(measure(url, args))
            finally:
                asyncio.run(drop_postgres_database(args.postgres, url))
            host = sa.make_url(url).host or "localhost"
            title = f"PostgreSQL {version} ({host}, asyncpg, a database made for the run)"
            report(title, measured, args, batch_size("postgresql", args))
    print(f"\n({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
