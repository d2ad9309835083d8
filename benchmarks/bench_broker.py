"""Brokers: atoll's broker RPC and events against the raw clients and nameko, in one run.

Two measures, on the brokers of this machine (NATS with JetStream, RabbitMQ, Redis):

1. **Broker RPC**, calls per second, one call after the other and with 100 in flight:

   - atoll over NATS: a real service (``atoll.Service`` with ``@service.rpc add(a: int,
     b: int) -> int``, in ``broker_apps/atoll_rpc.py``) running as ``atoll run`` runs it,
     composed and started with ``--broker-url nats://...``, in a process of its own: its
     broker link answers with the service's JSON-RPC engine. Called from this process the
     way a service calls another: ``await calc.methods.add(a=..., b=...)`` on a
     ``RemoteService(BrokerTransport(broker, name))``;
   - raw nats-py request/reply, the floor: a responder in its own process
     (``broker_apps/nats_rpc.py``: a queue-group subscription whose callback answers the sum
     of a JSON body) and ``nc.request`` from this process, JSON both ways;
   - nameko 2.14 over RabbitMQ: ``@rpc def add(a, b)`` under nameko's ``ServiceRunner`` in its
     own process, called by a ``ClusterRpcProxy`` in another (``broker_apps/nameko_rpc.py``:
     eventlet needs a monkey-patched process), one call after the other, or 100 in flight as
     a window of ``call_async`` futures. nameko runs from an environment of its own,
     ``benchmarks/.venv-nameko``, made from ``benchmarks/nameko.lock`` at the first run (a
     minute, once): eventlet patches whatever imports it, so it stays out of atoll's.

   With 100 in flight, 100 tasks (asyncio) each call in turn until the round's time is up;
   every result is checked against the sum. The tables give the rounds' median, their
   spread, the ratios atoll/raw and atoll/nameko, and the CPU time per call of the calling
   process and of the serving one (read from ``/proc``: every thread's), which a busy machine
   disturbs less than the wall clock.

2. **Events with acknowledgements, 1 KiB payloads**, for each broker whose adapter imports and
   works (checked: start, subscribe, publish, receive, ack; a broker that fails is skipped
   with a note):

   - publish, one after the other (each confirmed before the next) and 100 in flight
     (``asyncio.gather`` of tasks): atoll's ``broker.publish(envelope)`` against the raw
     client's confirmed publish: NATS ``js.publish`` awaiting its PubAck (with a
     ``Nats-Msg-Id``, as atoll's), to a file stream of its own whose subject has a durable
     consumer, as atoll's topic has its subscriber's; RabbitMQ aio-pika on a channel
     with publisher confirms, persistent, through a durable topic exchange of its own to a
     durable quorum queue bound by the event's name (the way atoll's events go, and the
     queue type atoll's adapter declares); Redis ``XADD`` (``MAXLEN ~`` as atoll's). A topic
     carries atoll's events only to a service subscribed to it, so a service is subscribed for
     the measure;
   - consume: M messages pre-filled, then the clock runs until all are handled and
     acknowledged: atoll's ``BrokerConsumer`` (what a service runs: receive, ``bus.deliver``
     to one no-op async event handler, ack; the broker options' defaults: 16 at once, 64
     prefetched), atoll's ``Receiver`` alone (``receive(64)`` and acks, settled as the raw
     client settles: one by one on NATS and RabbitMQ, a batch's at once on Redis), against
     the raw client's idiomatic consumption with acks: NATS pull ``fetch(64)`` + ``ack``;
     aio-pika ``consume`` with a prefetch of 64 and ``message.ack()``; Redis
     ``XREADGROUP COUNT 64`` + one ``XACK`` per batch. atoll's events each name one of 100
     streams (aggregates), which the consumer keeps in order.

   The clock of a consume includes subscribing (binding a consumer, or ``basic.consume``) and
   ends at the last ack. Each run's names are its own (streams, queues, keys, consumers,
   services, the event type), and what the run made is deleted at its end; between rounds the
   stored messages are purged (NATS subjects, RabbitMQ queues, Redis streams trimmed).

The brokers, the servers and the benchmark share the machine's cores, unpinned. Run::

    .venv/bin/python benchmarks/bench_broker.py [--quick] [--only rpc,events]
        [--brokers nats,amqp,redis] [--rounds N] [--duration S] [--messages M]

The rounds interleave the contenders, so that a noisy moment hurts each alike.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

import atoll
from atoll.clients.remote import RemoteService
from atoll.clients.transports import BrokerTransport
from atoll.kernel.entrypoint import load_config, running
from atoll.messaging.broker import ADAPTERS, Subscription, open_broker
from atoll.messaging.bus import MessageBus
from atoll.messaging.consumer import BrokerConsumer
from atoll.messaging.envelope import Envelope, message_name
from atoll.messaging.options import BrokerOptions
from atoll.service.broker_link import subscription_of
from atoll.service.composition import compose_target

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from atoll.messaging.broker import Broker, Received

APPS = Path(__file__).resolve().parent / "broker_apps"
PYTHON = sys.executable
NAMEKO_VENV = Path(__file__).resolve().parent / ".venv-nameko"
"""nameko's own environment, made from ``nameko.lock`` at the first run: nameko runs on eventlet,
which patches whatever imports it (and installs a pytest plugin that does), so it stays out of
atoll's."""
URLS = {
    "nats": "nats://127.0.0.1:4222",
    "amqp": "amqp://guest:guest@127.0.0.1:5672/",
    "redis": "redis://127.0.0.1:6379/0",
}
TITLES = {"nats": "NATS (JetStream)", "amqp": "RabbitMQ", "redis": "Redis (streams)"}
RUN = uuid.uuid4().hex[:8]
"""This run's mark, in every name it makes."""
IN_FLIGHT = 100
BATCH = 64
"""What the raw consumers fetch at once, and atoll's prefetch: the broker options' default."""
FILL_IN_FLIGHT = 200
STREAMS = 100
"""The streams (aggregates) atoll's events name, in turn."""
READY_TIMEOUT = 30.0
TICK = os.sysconf("SC_CLK_TCK")


# -- the event: 1 KiB of JSON, of a type named for this run ------------------------------------

Pinged = dataclasses.make_dataclass(f"Pinged_{RUN}", [("n", int), ("blob", str)], frozen=True)
Pinged.__module__ = __name__
TOPIC = message_name(Pinged)
BODY = msgspec.json.encode(Pinged(0, ""))
BODY = msgspec.json.encode(Pinged(0, "x" * (1024 - len(BODY))))
assert len(BODY) == 1024  # noqa: S101 - a constant's check


def envelope(n: int) -> Envelope:
    return Envelope(uuid.uuid4().hex, TOPIC, BODY, f"Pinger:{n % STREAMS}")


# -- measuring ---------------------------------------------------------------------------------


@dataclass
class Sample:
    """The rounds of one contender: work done, seconds taken, CPU seconds spent."""

    work: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)

    def add(self, work: float, seconds: float, cpu: float, server_cpu: float = 0.0) -> None:
        self.work.append(work)
        self.seconds.append(seconds)
        self.cpu.append(cpu)
        self.server_cpu.append(server_cpu)

    @property
    def rates(self) -> list[float]:
        return [w / s for w, s in zip(self.work, self.seconds, strict=True)]

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def spread(self) -> float:
        rates = self.rates
        return (max(rates) - min(rates)) / statistics.median(rates)

    @property
    def cpu_micros(self) -> float:
        return statistics.median(c / w * 1e6 for c, w in zip(self.cpu, self.work, strict=True))

    @property
    def server_micros(self) -> float:
        pairs = zip(self.server_cpu, self.work, strict=True)
        return statistics.median(c / w * 1e6 for c, w in pairs)


def cpu_of(pid: int) -> float:
    """CPU seconds process ``pid`` has used, all its threads (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def for_a_while(
    call: Callable[[int], Awaitable[bool]], seconds: float, in_flight: int
) -> tuple[int, int, float]:
    """``call(n)`` in turn for ``seconds``, by ``in_flight`` tasks (1: this one): calls, wrong."""
    calls = wrong = 0
    start = time.perf_counter()
    deadline = start + seconds

    async def worker() -> None:
        nonlocal calls, wrong
        while time.perf_counter() < deadline:
            n = calls
            calls += 1
            if not await call(n):
                wrong += 1

    if in_flight == 1:
        await worker()
    else:
        await asyncio.gather(*(worker() for _ in range(in_flight)))
    return calls, wrong, time.perf_counter() - start


def nameko_python() -> str:
    """The interpreter of nameko's environment; made (once, with progress shown) if missing."""
    python = NAMEKO_VENV / "bin" / "python"
    if not python.exists():
        lock = Path(__file__).resolve().parent / "nameko.lock"
        print(f"making nameko's environment in {NAMEKO_VENV} from {lock.name} (once)...")
        subprocess.run([PYTHON, "-m", "venv", str(NAMEKO_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--require-hashes", "-r", str(lock)],
            check=True,
        )
    return str(python)


class Process:
    """A helper app in a process of its own, ready once it printed ``ready``."""

    def __init__(self, *argv: str, stdin: bool = False, python: str = PYTHON) -> None:
        self.argv = [python, "-W", "ignore", *argv]
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait_ready(self) -> None:
        assert self.popen.stdout is not None  # noqa: S101 - piped
        line = self.popen.stdout.readline()
        if line.strip() != "ready":
            self.popen.kill()
            _, err = self.popen.communicate(timeout=10)
            sys.exit(f"{' '.join(self.argv[3:])} did not start: {line!r}\n{err[-2000:]}")

    def ask(self, line: str) -> dict[str, Any]:
        assert self.popen.stdin is not None  # noqa: S101 - piped
        assert self.popen.stdout is not None  # noqa: S101 - piped
        self.popen.stdin.write(line + "\n")
        self.popen.stdin.flush()
        answer = self.popen.stdout.readline()
        if not answer:
            sys.exit(f"{' '.join(self.argv[3:])} stopped: {self.popen.stderr.read()[-2000:]}")  # type: ignore[union-attr]
        result: dict[str, Any] = json.loads(answer)
        return result

    def stop(self) -> None:
        if self.popen.poll() is None:
            if self.popen.stdin is not None:
                self.popen.stdin.close()
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@contextlib.contextmanager
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    try:
        yield started
    finally:
        for process in started:
            process.stop()


# -- 1. broker RPC -----------------------------------------------------------------------------

RPC_MODES = {"seq": 1, f"{IN_FLIGHT}": IN_FLIGHT}


async def amqp_answers(url: str) -> str | None:
    """None if RabbitMQ answers at ``url``, else why not."""
    import aio_pika  # noqa: PLC0415 - only when RabbitMQ is measured

    try:
        connection = await asyncio.wait_for(aio_pika.connect(url), 5)
    except Exception as error:  # noqa: BLE001 - any reason is a reason to skip
        return f"{type(error).__name__}: {error}"
    await connection.close()
    return None


async def delete_amqp_queue(url: str, name: str) -> None:
    """Delete a queue the run made; one left behind is reported, not fatal."""
    import aio_pika  # noqa: PLC0415 - only when RabbitMQ is measured

    try:
        connection = await aio_pika.connect(url)
        try:
            channel = await connection.channel()
            await channel.queue_delete(name)
        finally:
            await connection.close()
    except Exception as error:  # noqa: BLE001
        print(f"  (could not delete the queue {name}: {error})")


class RpcBench:
    """The callers of measure 1, and the processes that serve them."""

    def __init__(self, servers: dict[str, Process], nameko: Process | None) -> None:
        self.servers = servers
        self.nameko = nameko
        self.service, self.subject = f"calc-{RUN}", f"bench.{RUN}.rpc.add"

    async def connect(self) -> None:
        import nats  # noqa: PLC0415 - the NATS extra

        self.broker = open_broker(URLS["nats"])
        await self.broker.start()
        self.nc = await nats.connect(URLS["nats"], name="bench-raw-requester")
        self.calc = RemoteService(BrokerTransport(self.broker, self.service))

    async def close(self) -> None:
        await self.nc.drain()
        await self.broker.stop()

    async def atoll_call(self, n: int) -> bool:
        return bool(await self.calc.methods.add(a=n, b=2) == n + 2)

    async def raw_call(self, n: int) -> bool:
        reply = await self.nc.request(
            self.subject, json.dumps({"a": n, "b": 2}).encode(), timeout=10
        )
        return bool(json.loads(reply.data)["result"] == n + 2)

    async def measure(
        self, name: str, mode: str, seconds: float
    ) -> tuple[int, float, float, float]:
        """Calls made, seconds, the caller's CPU seconds, and the server's."""
        server = self.servers[name].pid
        server_cpu = cpu_of(server)
        if self.nameko is not None and name == "nameko":
            client_cpu = cpu_of(self.nameko.pid)
            done = await asyncio.to_thread(self.nameko.ask, f"{mode} {seconds}")
            made, wrong, elapsed = done["calls"], done["wrong"], done["seconds"]
            used = cpu_of(self.nameko.pid) - client_cpu
        else:
            call = self.atoll_call if name == "atoll" else self.raw_call
            cpu = time.process_time()
            made, wrong, elapsed = await for_a_while(call, seconds, RPC_MODES[mode])
            used = time.process_time() - cpu
        if wrong:
            sys.exit(f"{name}: {wrong} of {made} calls answered a wrong sum")
        return made, elapsed, used, cpu_of(server) - server_cpu


async def start_servers(started: list[Process], nameko_too: bool) -> RpcBench:  # noqa: FBT001
    """The three servers, each in its own process, and nameko's client; once all are ready."""
    service, subject = f"calc-{RUN}", f"bench.{RUN}.rpc.add"
    servers = {
        "atoll": Process(str(APPS / "atoll_rpc.py"), service, URLS["nats"]),
        "raw": Process(str(APPS / "nats_rpc.py"), subject, URLS["nats"]),
    }
    if nameko_too:
        servers["nameko"] = Process(
            str(APPS / "nameko_rpc.py"),
            "serve",
            f"calc_{RUN}",
            URLS["amqp"],
            python=nameko_python(),
        )
    started.extend(servers.values())
    for server in servers.values():
        await asyncio.to_thread(server.wait_ready)
    nameko = None
    if nameko_too:
        nameko = Process(
            str(APPS / "nameko_rpc.py"),
            "call",
            f"calc_{RUN}",
            URLS["amqp"],
            stdin=True,
            python=nameko_python(),
        )
        started.append(nameko)
        await asyncio.to_thread(nameko.wait_ready)
    return RpcBench(servers, nameko)


async def rpc(args: argparse.Namespace) -> dict[str, dict[str, Sample]]:
    """Measure 1: every round, each mode, each contender in turn."""
    skip_nameko = await amqp_answers(URLS["amqp"])
    if skip_nameko:
        print(f"\nnameko skipped: RabbitMQ does not answer at {URLS['amqp']} ({skip_nameko})")
    names = ["atoll", "raw"] + ([] if skip_nameko else ["nameko"])
    samples = {mode: {name: Sample() for name in names} for mode in RPC_MODES}
    with processes() as started:
        bench = await start_servers(started, nameko_too=not skip_nameko)
        await bench.connect()
        try:
            for mode in RPC_MODES:
                for name in names:
                    await bench.measure(name, mode, args.warmup)
            for _ in range(args.rounds):
                for mode in RPC_MODES:
                    for name in names:
                        made, elapsed, used, served = await bench.measure(name, mode, args.duration)
                        samples[mode][name].add(made, elapsed, used, served)
        finally:
            await bench.close()
    if not skip_nameko:
        await delete_amqp_queue(URLS["amqp"], f"rpc-calc_{RUN}")  # nameko's, durable
    return samples


def report_rpc(
    samples: dict[str, dict[str, Sample]], args: argparse.Namespace, took: float
) -> None:
    print(
        f"\n1. Broker RPC: add(a, b) -> int, calls per second, rounds of {args.duration:g} s "
        f"({took:.0f} s)"
    )
    labels = {
        "atoll": "atoll over NATS: RemoteService(BrokerTransport)",
        "raw": "raw nats-py request/reply (JSON)",
        "nameko": "nameko 2.14 over RabbitMQ: ClusterRpcProxy",
    }
    head = f"{'in flight':<10}{'contender':<50}{'calls/s':>9}{'spread':>7}{'atoll/x':>8}"
    print(f"{head}{'client us':>10}{'server us':>10}")
    for mode, by_name in samples.items():
        ours = by_name["atoll"].rate
        for name, sample in by_name.items():
            ratio = "" if name == "atoll" else f"{ours / sample.rate:.2f}x"
            print(
                f"{'1' if mode == 'seq' else mode:<10}{labels[name]:<50}{sample.rate:>9,.0f}"
                f"{sample.spread:>7.0%}{ratio:>8}{sample.cpu_micros:>10,.1f}"
                f"{sample.server_micros:>10,.1f}"
            )
    print("(atoll/x: atoll's calls/s over this one's; client us, server us: CPU time per call")
    print(" of the calling process and of the serving one)")
    flight = samples[f"{IN_FLIGHT}"]
    targets = [f"atoll >= 15,000 calls/s with {IN_FLIGHT} in flight: {flight['atoll'].rate:,.0f}"]
    targets[0] += " PASS" if flight["atoll"].rate >= 15_000 else " MISS"
    if "nameko" in flight:
        times = flight["atoll"].rate / flight["nameko"].rate
        targets.append(f">= 20x nameko: {times:.1f}x {'PASS' if times >= 20 else 'MISS'}")
    print("targets: " + "; ".join(targets))


# -- 2. events: the raw clients, and cleaning up after atoll's adapters ------------------------


class Raw:
    """One broker's raw client: publish, fill, consume; and the broker-side housekeeping."""

    kind = ""

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def publish(self, n: int, *, fill: bool = False) -> None:
        """Publish one message, confirmed: to the publish target, or the one consumed."""

    async def consume(self, count: int) -> int:
        """Consume ``count`` messages of the filled target with acks; how many were."""
        raise NotImplementedError(count)

    async def reset(self, services: list[str]) -> None:
        """Drop the messages kept since the last reset: the raw client's and atoll's."""

    async def clean(self, services: list[str]) -> None:
        """Delete what the run made: the raw client's, and what atoll's adapter made."""


class RawNats(Raw):
    kind = "nats"

    def __init__(self) -> None:
        self.stream = f"BENCH_{RUN}"
        self.published, self.filled = f"bench.{RUN}.pub", f"bench.{RUN}.fill"
        self.durable, self.sink = f"bench_{RUN}", f"bench_{RUN}_sink"

    async def open(self) -> None:
        import nats  # noqa: PLC0415
        from nats.js import api  # noqa: PLC0415

        self.nc = await nats.connect(URLS["nats"], name="bench-raw")
        self.js = self.nc.jetstream(timeout=5)
        await self.js.add_stream(
            name=self.stream,
            subjects=[self.published, self.filled],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
        )
        for durable, subject in ((self.durable, self.filled), (self.sink, self.published)):
            # The published subject has a consumer too, as atoll's topic has its subscriber's.
            await self.js.add_consumer(
                self.stream,
                api.ConsumerConfig(
                    durable_name=durable,
                    deliver_policy=api.DeliverPolicy.ALL,
                    ack_policy=api.AckPolicy.EXPLICIT,
                    ack_wait=30,
                    filter_subject=subject,
                    max_ack_pending=1024,
                ),
            )

    async def close(self) -> None:
        await self.nc.drain()

    async def publish(self, n: int, *, fill: bool = False) -> None:  # noqa: ARG002 - as others
        subject = self.filled if fill else self.published
        await self.js.publish(subject, BODY, headers={"Nats-Msg-Id": uuid.uuid4().hex})

    async def consume(self, count: int) -> int:
        pull = await self.js.pull_subscribe_bind(self.durable, stream=self.stream)
        taken = 0
        try:
            while taken < count:
                try:
                    msgs = await pull.fetch(BATCH, timeout=5)
                except TimeoutError:
                    break
                for msg in msgs:
                    await msg.ack()
                taken += len(msgs)
        finally:
            await pull.unsubscribe()
        return taken

    async def _purge(self, stream: str, subject: str | None = None) -> None:
        request = json.dumps({"filter": subject} if subject else {}).encode()
        reply = await self.nc.request(f"$JS.API.STREAM.PURGE.{stream}", request, timeout=10)
        answer = json.loads(reply.data)
        if "error" in answer:
            print(f"  (purging {subject or stream} failed: {answer['error']})")

    async def reset(self, services: list[str]) -> None:  # noqa: ARG002 - one topic for all
        await self._purge(self.stream)
        await self._purge("ATOLL_EVENTS", f"atoll.event.{TOPIC}")

    async def clean(self, services: list[str]) -> None:
        from nats.js.errors import NotFoundError  # noqa: PLC0415

        from atoll.adapters.nats.broker import EVENTS, SENDS, durable_name  # noqa: PLC0415

        await self.reset(services)
        with contextlib.suppress(NotFoundError):
            await self.js.delete_stream(self.stream)
        for service in services:
            for stream, name in (
                (EVENTS, durable_name("event", service, TOPIC)),
                (SENDS, durable_name("send", service)),
            ):
                with contextlib.suppress(NotFoundError):
                    await self.js.delete_consumer(stream, name)


class RawRabbit(Raw):
    kind = "amqp"

    def __init__(self) -> None:
        self.published, self.filled = f"bench.{RUN}.pub", f"bench.{RUN}.fill"
        self.topics = f"bench.{RUN}.events"

    async def open(self) -> None:
        import aio_pika  # noqa: PLC0415

        self.aio_pika = aio_pika
        self.connection = await aio_pika.connect_robust(URLS["amqp"])
        self.channel = await self.connection.channel(publisher_confirms=True)
        self.admin = await self.connection.channel(publisher_confirms=False)
        # Events go through a topic exchange, as atoll's do: a queue per subscriber, each
        # bound by the event's name (the queue's own name here).
        self.exchange = await self.channel.declare_exchange(
            self.topics, aio_pika.ExchangeType.TOPIC, durable=True
        )
        for name in (self.published, self.filled):
            queue = await self.admin.declare_queue(
                name, durable=True, arguments={"x-queue-type": "quorum"}
            )
            await queue.bind(self.topics, name)

    async def close(self) -> None:
        await self.connection.close()

    async def publish(self, n: int, *, fill: bool = False) -> None:  # noqa: ARG002 - as others
        message = self.aio_pika.Message(
            BODY,
            message_id=uuid.uuid4().hex,
            delivery_mode=self.aio_pika.DeliveryMode.PERSISTENT,
        )
        key = self.filled if fill else self.published
        await self.exchange.publish(message, routing_key=key)

    async def consume(self, count: int) -> int:
        channel = await self.connection.channel(publisher_confirms=False)
        taken = 0
        done = asyncio.Event()
        try:
            await channel.set_qos(prefetch_count=BATCH)
            queue = await channel.declare_queue(
                self.filled, durable=True, arguments={"x-queue-type": "quorum"}
            )

            async def take(message: Any) -> None:
                nonlocal taken
                await message.ack()
                taken += 1
                if taken >= count:
                    done.set()

            tag = await queue.consume(take)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 60)
            await queue.cancel(tag)
        finally:
            await channel.close()
        return taken

    def _queues(self, services: list[str]) -> list[str]:
        return [self.published, self.filled, *(f"atoll.{s}" for s in services)]

    async def reset(self, services: list[str]) -> None:
        underlay = await self.admin.get_underlay_channel()
        for name in self._queues(services):
            await underlay.queue_purge(name)

    async def clean(self, services: list[str]) -> None:
        underlay = await self.admin.get_underlay_channel()
        await underlay.exchange_delete(self.topics)
        for name in self._queues(services) + [f"atoll.{s}.dead" for s in services]:
            channel = await self.connection.channel(publisher_confirms=False)
            try:
                underlay = await channel.get_underlay_channel()
                await underlay.queue_delete(name)
            except Exception as error:  # noqa: BLE001 - one left behind is reported, not fatal
                print(f"  (could not delete the queue {name}: {error})")
            finally:
                with contextlib.suppress(Exception):
                    await channel.close()


class RawRedis(Raw):
    kind = "redis"

    def __init__(self) -> None:
        self.published, self.filled = f"bench:{RUN}:pub", f"bench:{RUN}:fill"

    async def open(self) -> None:
        import redis.asyncio as aioredis  # noqa: PLC0415

        # A pool that waits for a free connection (the default one raises at its 100th in
        # use), of the size atoll's adapter keeps.
        pool = aioredis.BlockingConnectionPool.from_url(URLS["redis"], max_connections=64)
        self.client = aioredis.Redis.from_pool(pool)
        await self.client.xgroup_create(self.filled, "bench", id="0", mkstream=True)

    async def close(self) -> None:
        await self.client.aclose()

    async def publish(self, n: int, *, fill: bool = False) -> None:  # noqa: ARG002 - as others
        key = self.filled if fill else self.published
        fields = {"id": uuid.uuid4().hex, "p": BODY}
        await self.client.xadd(key, fields, maxlen=1_000_000, approximate=True)  # type: ignore[arg-type]

    async def consume(self, count: int) -> int:
        taken = 0
        while taken < count:
            answer = await self.client.xreadgroup(
                "bench", "c1", {self.filled: ">"}, count=BATCH, block=5000
            )
            if not answer:
                break
            ids = [entry_id for entry_id, _ in answer[0][1]]
            await self.client.xack(self.filled, "bench", *ids)
            taken += len(ids)
        return taken

    async def reset(self, services: list[str]) -> None:  # noqa: ARG002 - one topic for all
        for key in (self.published, self.filled, f"atoll:event:{TOPIC}"):
            if await self.client.exists(key):
                await self.client.xtrim(key, maxlen=0)

    async def clean(self, services: list[str]) -> None:
        keys = [self.published, self.filled, f"atoll:event:{TOPIC}"]
        for service in services:
            keys += [f"atoll:{kind}:{service}" for kind in ("send", "dead", "delay")]
        await self.client.delete(*keys)


RAW: dict[str, type[Raw]] = {"nats": RawNats, "amqp": RawRabbit, "redis": RawRedis}


# -- 2. events: atoll's side -------------------------------------------------------------------


class Seen:
    """What the no-op handler has seen; ``done`` once ``target``."""

    def __init__(self) -> None:
        self.count, self.target = 0, 0
        self.done = asyncio.Event()

    def expect(self, target: int) -> None:
        self.count, self.target = 0, target
        self.done.clear()

    def hit(self) -> None:
        self.count += 1
        if self.count >= self.target:
            self.done.set()


def make_service(name: str, seen: Seen) -> atoll.Service:
    service = atoll.Service(name)

    @service.on(Pinged)
    async def pinged(event: Pinged) -> None:  # type: ignore[valid-type]  # noqa: ARG001
        seen.hit()

    return service


async def probe(broker: Broker, subscription: Subscription) -> None:
    """Start, subscribe, publish one event, receive and ack it; raise if any step fails."""
    await asyncio.wait_for(broker.start(), 10)
    receiver = await asyncio.wait_for(broker.subscribe(subscription), 10)
    try:
        sent = envelope(0)
        await asyncio.wait_for(broker.publish(sent), 10)
        taken: list[Received] = []
        deadline = time.monotonic() + 10
        while not taken and time.monotonic() < deadline:
            taken = await receiver.receive(1, 1.0)
        if [r.envelope.id for r in taken] != [sent.id]:
            raise RuntimeError(f"published {sent.id}, received {[r.envelope for r in taken]}")
        await taken[0].ack()
    finally:
        await receiver.close()


async def fill(publish: Callable[[int], Awaitable[None]], count: int) -> None:
    """Publish ``count`` messages, :data:`FILL_IN_FLIGHT` at once."""
    for first in range(0, count, FILL_IN_FLIGHT):
        last = min(first + FILL_IN_FLIGHT, count)
        await asyncio.gather(*(publish(n) for n in range(first, last)))


PUBLISH_MODES = {"seq": 1, f"{IN_FLIGHT}": IN_FLIGHT}
CONSUMERS = ("consumer", "receiver", "raw")
Results = dict[str, dict[str, Sample]]


class EventBench:
    """Measure 2 on one broker: atoll's adapter (started) and the raw client (open)."""

    def __init__(self, kind: str, broker: Broker, raw: Raw, args: argparse.Namespace) -> None:
        self.kind = kind
        self.broker = broker
        self.raw = raw
        self.args = args
        self.options = BrokerOptions(url=URLS[kind])
        self.name = f"bench-{RUN}-{kind}"
        self.seen = Seen()
        self.made = [sink_of(kind).service]
        """The services subscribed so far: their queues exist."""
        self.subscription = subscription_of(make_service(self.name, self.seen), self.options)
        self.bus: MessageBus | None = None

    async def atoll_publish(self, n: int) -> bool:
        await self.broker.publish(envelope(n))
        return True

    async def raw_publish(self, n: int) -> bool:
        await self.raw.publish(n)
        return True

    async def publishing(self) -> Results:
        """Publish rates, 1 and 100 in flight: atoll's events reach the sink service's queue."""
        publishers = {"atoll": self.atoll_publish, "raw": self.raw_publish}
        results: Results = {}
        for mode, in_flight in PUBLISH_MODES.items():
            results[f"publish {mode}"] = {key: Sample() for key in publishers}
            for publish in publishers.values():
                await for_a_while(publish, self.args.warmup, in_flight)
        await self.raw.reset(self.made)
        for _ in range(self.args.rounds):
            for mode, in_flight in PUBLISH_MODES.items():
                for key, publish in publishers.items():
                    cpu = time.process_time()
                    done, _, elapsed = await for_a_while(publish, self.args.duration, in_flight)
                    results[f"publish {mode}"][key].add(done, elapsed, time.process_time() - cpu)
                    await self.raw.reset(self.made)
        return results

    async def by_consumer(self, count: int) -> int:
        """What a service runs: BrokerConsumer, bus.deliver, the no-op handler, ack."""
        assert self.bus is not None and self.subscription is not None  # noqa: PT018, S101
        self.seen.expect(count)
        consumer = BrokerConsumer(
            self.broker,
            self.bus,
            self.subscription,
            self.options.policy(),
            concurrency=self.options.concurrency,
        )
        await consumer.start()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.seen.done.wait(), 120)
            # The last acks follow the handler; the consumer counts them, and tells nobody.
            while consumer.handled < self.seen.count:  # noqa: ASYNC110 - nothing to wait on
                await asyncio.sleep(0.0005)
            return consumer.handled
        finally:
            await consumer.stop()

    async def by_receiver(self, count: int) -> int:
        """The adapter alone: receive(64), and acks as the raw client makes them."""
        assert self.subscription is not None  # noqa: S101 - it handles Pinged
        taken = 0
        receiver = await self.broker.subscribe(self.subscription)
        try:
            while taken < count:
                batch = await receiver.receive(BATCH, 5.0)
                if not batch:
                    break
                if self.kind == "redis":  # one XACK for the batch, as the raw client's
                    await asyncio.gather(*(r.ack() for r in batch))
                else:
                    for received in batch:
                        await received.ack()
                taken += len(batch)
        finally:
            await receiver.close()
        return taken

    async def atoll_fill(self, n: int) -> None:
        await self.broker.publish(envelope(n))

    async def raw_fill(self, n: int) -> None:
        await self.raw.publish(n, fill=True)

    async def consuming(self) -> dict[str, Sample]:
        """Consume rates: the service subscribes once (its durable consumers made), then each
        round fills M messages and consumes them, each contender in turn."""
        assert self.subscription is not None  # noqa: S101 - it handles Pinged
        receiver = await self.broker.subscribe(self.subscription)
        await receiver.close()
        self.made.append(self.name)
        consumers = {
            "consumer": (self.atoll_fill, self.by_consumer),
            "receiver": (self.atoll_fill, self.by_receiver),
            "raw": (self.raw_fill, self.raw.consume),
        }
        samples = {key: Sample() for key in consumers}
        app = compose_target(make_service(self.name, self.seen), serve=False)
        async with running(app, load_config(app, [], {})) as container:
            self.bus = container.get(MessageBus)
            for round_ in range(self.args.rounds + 1):  # the first, smaller, is a warm-up
                size = self.args.messages if round_ else min(self.args.messages, 1000)
                for key, (filling, consume) in consumers.items():
                    await fill(filling, size)
                    start, cpu = time.perf_counter(), time.process_time()
                    taken = await consume(size)
                    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
                    if taken != size:
                        sys.exit(f"{self.kind} {key}: consumed {taken} of {size} messages")
                    if round_:
                        samples[key].add(taken, elapsed, used)
                    await self.raw.reset(self.made)
        return samples


def sink_of(kind: str) -> Subscription:
    """The service subscribed while publishing: a topic carries events only to subscribers."""
    return Subscription(f"bench-{RUN}-{kind}-sink", (TOPIC,), prefetch=BATCH)


async def events(kind: str, args: argparse.Namespace) -> Results | None:
    """Measure 2 on one broker; None (with a note) if its adapter is missing or fails."""
    sink = sink_of(kind)
    raw = RAW[kind]()
    try:
        broker = open_broker(URLS[kind])
        await probe(broker, sink)
    except Exception as error:  # noqa: BLE001 - any failure skips the broker, with its note
        print(f"\n{TITLES[kind]} skipped: atoll's adapter failed ({type(error).__name__}: {error})")
        with contextlib.suppress(Exception):
            await broker.stop()
        with contextlib.suppress(Exception):
            await raw.open()
            await raw.clean([sink.service])
            await raw.close()
        return None
    await raw.open()
    bench = EventBench(kind, broker, raw, args)
    try:
        results = await bench.publishing()
        results["consume"] = await bench.consuming()
    finally:
        try:
            await raw.clean([sink.service, bench.name])
        finally:
            await raw.close()
            await broker.stop()
    return results


def report_events(
    kind: str, results: dict[str, dict[str, Sample]], args: argparse.Namespace, took: float
) -> None:
    print(
        f"\n2. Events with acks, 1 KiB, on {TITLES[kind]} ({URLS[kind].split('@')[-1]}) "
        f"({took:.0f} s)"
    )
    raw_names = {
        "nats": ("js.publish, PubAck awaited", "pull fetch(64) + ack"),
        "amqp": ("aio-pika, confirms, persistent, topic exch.", "consume, prefetch 64, ack"),
        "redis": ("XADD", "XREADGROUP COUNT 64 + XACK"),
    }[kind]
    head = f"{'measure':<12}{'contender':<52}{'msgs/s':>9}{'spread':>7}{'atoll/raw':>10}"
    print(f"{head}{'CPU us':>8}{'/raw':>6}")
    for mode in PUBLISH_MODES:
        by_key = results[f"publish {mode}"]
        raw = by_key["raw"]
        measure = "publish" + (" 1" if mode == "seq" else f" {mode}")
        for key, label in (("atoll", "atoll: broker.publish(envelope)"), ("raw", raw_names[0])):
            s = by_key[key]
            ratio = f"{s.rate / raw.rate:.0%}" if key == "atoll" else ""
            cpu = f"{s.cpu_micros / raw.cpu_micros:.2f}x" if key == "atoll" else ""
            print(
                f"{measure:<12}{label:<52}{s.rate:>9,.0f}{s.spread:>7.0%}{ratio:>10}"
                f"{s.cpu_micros:>8,.1f}{cpu:>6}"
            )
    by_key = results["consume"]
    raw = by_key["raw"]
    labels = {
        "consumer": "atoll: BrokerConsumer -> bus -> no-op handler, ack",
        "receiver": "atoll: Receiver.receive(64) + ack (adapter alone)",
        "raw": raw_names[1],
    }
    for key, label in labels.items():
        s = by_key[key]
        ratio = f"{s.rate / raw.rate:.0%}" if key != "raw" else ""
        cpu = f"{s.cpu_micros / raw.cpu_micros:.2f}x" if key != "raw" else ""
        print(
            f"{'consume':<12}{label:<52}{s.rate:>9,.0f}{s.spread:>7.0%}{ratio:>10}"
            f"{s.cpu_micros:>8,.1f}{cpu:>6}"
        )
    print(
        f"(publish: rounds of {args.duration:g} s, 1 or {IN_FLIGHT} in flight; consume: "
        f"{args.messages:,} pre-filled messages a round;\n atoll/raw: atoll's rate as a share "
        "of raw's, target >= 80%; CPU us: this process's CPU time\n per message, and atoll's "
        "over raw's)"
    )


# -- running -----------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    only = set(args.only.split(","))
    rounds = "1 round" if args.rounds == 1 else f"median of {args.rounds} rounds"
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {rounds}; run {RUN}")
    print("(spread: (fastest - slowest) / median of the rounds)")
    if "rpc" in only:
        start = time.perf_counter()
        samples = await rpc(args)
        report_rpc(samples, args, time.perf_counter() - start)
    if "events" in only:
        for kind in args.brokers.split(","):
            if kind not in ADAPTERS or kind not in RAW:
                print(f"\n{kind} skipped: no such broker here (one of {', '.join(RAW)})")
                continue
            start = time.perf_counter()
            results = await events(kind, args)
            if results is not None:
                report_events(kind, results, args, time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=1.5, help="seconds of a timed round")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds of warm-up each")
    parser.add_argument("--messages", type=int, default=20_000, help="pre-filled to consume")
    parser.add_argument("--only", default="rpc,events", help="rpc, events or both")
    parser.add_argument("--brokers", default="nats,amqp,redis", help="for the events")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small and 1 round")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.duration, args.warmup, args.messages = 1, 0.5, 0.2, 5_000
    started = time.perf_counter()
    if args.quick:
        print("--quick: a smoke run, too short for its figures to mean much")
    asyncio.run(run(args))
    print(f"\n({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
