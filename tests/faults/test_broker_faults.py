"""Faults, with real processes on real brokers: kill -9, SIGTERM, a poison message, a restart.

Each test runs ``ledger_service.py`` (a service whose handler adds one ledger row per event,
in the transaction that records the event in its inbox) as real processes on a broker and a
fresh PostgreSQL database, and publishes numbered ticks to it. The ledger then tells what was
lost (a number without a row) and what was applied twice (a number with two rows).

Each test has a service and an event type of its own (``LEDGER_RUN``), so that no durable
queue of another test, or of an earlier run, is shared.
"""

import asyncio
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from atoll.errors import BrokerError
from atoll.messaging.broker import open_broker
from atoll.messaging.envelope import Envelope

SCRIPT = str(Path(__file__).with_name("ledger_service.py"))
POSTGRES = "postgresql://postgres@127.0.0.1:5432"

NATS = pytest.param(
    "nats://127.0.0.1:4222", marks=pytest.mark.services("nats", "postgres"), id="nats"
)
RABBITMQ = pytest.param(
    "amqp://guest:guest@127.0.0.1:5672/",
    marks=pytest.mark.services("rabbitmq", "postgres"),
    id="rabbitmq",
)
REDIS = pytest.param(
    "redis://127.0.0.1:6379/6", marks=pytest.mark.services("redis", "postgres"), id="redis"
)

RESTART = {
    "nats": (
        ["pkill", "-x", "nats-server"],
        [
            "start-stop-daemon", "--start", "--oknodo", "--background", "--exec",
            "/usr/sbin/nats-server", "--", "-a", "127.0.0.1", "-p", "4222", "-js", "-sd",
            "/var/lib/nats-server", "-l", "/var/log/nats-server.log",
        ],
    ),
    "amqp": (["rabbitmqctl", "stop"], ["rabbitmq-server", "-detached"]),
    "redis": (
        ["redis-cli", "-p", "6379", "shutdown", "nosave"],
        [
            "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port",
            "6379", "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile",
            "/var/log/redis/ci.log",
        ],
    ),
}  # fmt: skip
"""How each broker is stopped, and started again as DESIGN.md starts it."""

pytestmark = pytest.mark.slow


@pytest.fixture
async def ledger(broker_url):
    """A fresh PostgreSQL database for the ledger; its URL. Dropped afterwards, and what the
    test left on the broker deleted."""
    name = f"ledger_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(f"{POSTGRES}/test")
    await admin.execute(f'CREATE DATABASE "{name}"')
    made = Ledger(f"{POSTGRES}/{name}")
    try:
        yield made
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        await forget(broker_url, made.run)


async def forget(broker_url, run):
    """Delete the queues, consumers and messages of the test's run from the broker."""
    scheme = broker_url.partition(":")[0]
    if scheme == "nats":
        import nats  # noqa: PLC0415 - each broker's client only for its own tests

        client = await nats.connect(broker_url)
        js = client.jetstream()
        for stream in ("ATOLL_EVENTS", "ATOLL_SENDS", "ATOLL_DEAD"):
            for info in await js.consumers_info(stream):
                if run in (info.config.filter_subject or ""):
                    await js.delete_consumer(stream, info.name)
        await js.purge_stream("ATOLL_EVENTS", subject=f"atoll.event.__main__.Tick{run}")
        await js.purge_stream("ATOLL_SENDS", subject=f"atoll.send.ledger-{run}")
        await js.purge_stream("ATOLL_DEAD", subject=f"atoll.dead.ledger-{run}")
        await client.close()
    elif scheme == "amqp":
        import aio_pika  # noqa: PLC0415 - as above

        connection = await aio_pika.connect(broker_url)
        async with connection:
            channel = await connection.channel()
            for suffix in ("", ".dead", ".rpc"):
                await channel.queue_delete(f"atoll.ledger-{run}{suffix}")
    elif scheme == "redis":
        import redis.asyncio  # noqa: PLC0415 - as above

        client = redis.asyncio.from_url(broker_url)
        keys = [key async for key in client.scan_iter(match=f"*{run}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


class Ledger:
    def __init__(self, url):
        self.url = url
        self.run = uuid.uuid4().hex[:10]
        self.service = f"ledger-{self.run}"
        self.topic = f"__main__.Tick{self.run}"

    @property
    def db_url(self):
        return self.url.replace("postgresql://", "postgresql+asyncpg://")

    async def rows(self):
        """``(n, pid)`` of every ledger row; none before the table exists."""
        connection = await asyncpg.connect(self.url)
        try:
            return [
                (r["n"], r["pid"])
                for r in await connection.fetch("SELECT n, pid FROM ledger_entry")
            ]
        except asyncpg.UndefinedTableError:
            return []
        finally:
            await connection.close()

    async def until_numbers(self, numbers, patience=60.0):
        """The rows, once every number in ``numbers`` has one; fails after ``patience``."""
        deadline = time.monotonic() + patience
        while True:
            rows = await self.rows()
            if {n for n, _ in rows} >= set(numbers) or time.monotonic() > deadline:
                return rows
            await asyncio.sleep(0.2)

    def tick(self, n):
        return Envelope(f"{self.run}-{n}", self.topic, b'{"n":%d}' % n, headers={"sender": "t"})


def start(spawn, broker_url, ledger, *flags, **env):
    process = spawn(
        sys.executable, SCRIPT,
        "--broker-url", broker_url,
        "--db-url", ledger.db_url,
        "--db-migrate", "always",
        "--server-port", "0",
        "--broker-ack-wait", "2",
        "--broker-retry-backoff", "0.05",
        *flags,
        env={"LEDGER_RUN": ledger.run, "PYTHONUNBUFFERED": "1", **env},
    )  # fmt: skip
    process.wait_for(f"{ledger.service} ready in")
    return process


async def publish(broker_url, envelopes):
    broker = open_broker(broker_url)
    await broker.start()
    try:
        for envelope in envelopes:
            await broker.publish(envelope)
    finally:
        await broker.stop()


def handled(process):
    return {int(line.split()[-1]) for line in process.lines if line.startswith("handled ")}


def started_not_finished(process):
    started = {int(line.split()[-1]) for line in process.lines if line.startswith("handling ")}
    done = {int(line.split()[-1]) for line in process.lines if line.startswith("handled ")}
    return started - done


def assert_exact(rows, numbers):
    counted = sorted(n for n, _ in rows)
    assert sorted(set(counted)) == sorted(numbers), "lost"
    assert counted == sorted(numbers), "applied twice"


@pytest.mark.parametrize("broker_url", [NATS, RABBITMQ, REDIS])
async def test_a_consumer_killed_mid_handler_loses_nothing_and_applies_nothing_twice(
    spawn, ledger, broker_url
):
    first = start(spawn, broker_url, ledger, LEDGER_DELAY="1.0")
    second = start(spawn, broker_url, ledger, LEDGER_DELAY="1.0")
    numbers = range(40)
    await publish(broker_url, [ledger.tick(n) for n in numbers])
    first.wait_for("handling ")
    first.popen.kill()  # SIGKILL, in the middle of its handlers (each sleeps 1 s)
    first.popen.wait()
    rows = await ledger.until_numbers(numbers)
    assert_exact(rows, numbers)
    interrupted = started_not_finished(first)
    assert interrupted, first.output
    by_number = dict(rows)
    assert {by_number[n] for n in interrupted} == {second.popen.pid}  # delivered again, there
    second.signal(signal.SIGTERM)
    assert second.finish() == 0


@pytest.mark.parametrize("broker_url", [NATS, RABBITMQ, REDIS])
async def test_sigterm_finishes_the_messages_in_hand_and_leaves_the_rest(spawn, ledger, broker_url):
    first = start(spawn, broker_url, ledger, "--broker-concurrency", "4", LEDGER_DELAY="0.3")
    numbers = range(40)
    await publish(broker_url, [ledger.tick(n) for n in numbers])
    for _ in range(6):
        first.wait_for("handled ")
    first.signal(signal.SIGTERM)
    assert first.finish() == 0
    assert started_not_finished(first) == set()  # what it had started, it finished
    handled_first = {n for n, _ in await ledger.rows()}
    assert 0 < len(handled_first) < len(numbers)  # it stopped in the middle of the stream
    second = start(spawn, broker_url, ledger, "--broker-concurrency", "4")
    rows = await ledger.until_numbers(numbers)
    assert_exact(rows, numbers)
    second.signal(signal.SIGTERM)
    assert second.finish() == 0


@pytest.mark.parametrize("broker_url", [NATS, RABBITMQ, REDIS])
async def test_a_poison_message_is_dead_lettered_and_the_later_ones_are_handled(
    spawn, ledger, broker_url
):
    process = start(spawn, broker_url, ledger, "--broker-deliveries", "3", LEDGER_POISON="3")
    numbers = range(10)
    await publish(broker_url, [ledger.tick(n) for n in numbers])
    rows = await ledger.until_numbers([n for n in numbers if n != 3])
    assert_exact(rows, [n for n in numbers if n != 3])
    broker = open_broker(broker_url)
    await broker.start()
    try:
        for _ in range(100):
            dead = await broker.dead_letters(ledger.service)
            if dead:
                break
            await asyncio.sleep(0.1)
        [letter] = dead
        assert letter.envelope.id == ledger.tick(3).id
        assert letter.deliveries == 3
        assert "record" in letter.error  # the handler that failed, and why:
        assert "ValueError: tick 3 is poison" in letter.error
    finally:
        await broker.stop()
    process.signal(signal.SIGTERM)
    assert process.finish() == 0
    assert process.output.count("handling 3\n") == 3  # the deliveries allowed, no more


@pytest.mark.parametrize("broker_url", [NATS, RABBITMQ, REDIS])
async def test_a_message_committed_whose_ack_was_lost_to_a_kill_is_acknowledged_past_its_limit(
    spawn, ledger, broker_url
):
    # One delivery allowed: the one the kill ended took it, so the next is past the limit.
    first = start(spawn, broker_url, ledger, "--broker-deliveries", "1", LEDGER_HOLD="4")
    numbers = range(8)
    await publish(broker_url, [ledger.tick(n) for n in numbers])
    others = {n for n in numbers if n != 4}
    while not (others <= handled(first) and "committed 4" in first.lines):
        first.wait_for("")  # the next line
    first.popen.kill()  # SIGKILL after tick 4's commit, before its ack
    first.popen.wait()
    second = start(spawn, broker_url, ledger, "--broker-deliveries", "1")
    second.wait_for("had committed it already: acknowledged", timeout=60)
    rows = await ledger.until_numbers(numbers)
    assert_exact(rows, numbers)  # tick 4 booked once, by the first process
    assert dict(rows)[4] == first.popen.pid
    broker = open_broker(broker_url)
    await broker.start()
    try:
        assert await broker.dead_letters(ledger.service) == []
    finally:
        await broker.stop()
    second.signal(signal.SIGTERM)
    assert second.finish() == 0
    assert "handling 4" not in second.output  # not run again: its inbox had it


def restart(broker_url, between=None):
    """Stop the broker, run ``between()`` (or wait a second), start it again."""
    stop, begin = RESTART[broker_url.partition(":")[0]]
    subprocess.run(stop, check=False, capture_output=True, timeout=60)
    try:
        if between is None:
            time.sleep(1.0)
        else:
            between()
    finally:  # started again whatever ``between`` did, for the tests after this one
        subprocess.run(begin, check=True, capture_output=True, timeout=60)


def readiness(process):
    """What ``/health/ready`` of the process answers: its status, 0 for no answer."""
    [line] = [line for line in process.lines if "serving on http://127.0.0.1:" in line]
    base = re.search(r"serving on (http://127\.0\.0\.1:\d+)", line).group(1)

    def status():
        try:
            return httpx.get(f"{base}/health/ready", timeout=5).status_code
        except httpx.HTTPError:
            return 0

    return status


def until_status(status, wanted, patience=60.0):
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if status() == wanted:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("broker_url", [NATS, RABBITMQ, REDIS])
def test_readiness_is_false_while_the_broker_is_away_and_true_once_it_is_back(
    spawn, ledger, broker_url
):
    process = start(spawn, broker_url, ledger)
    status = readiness(process)
    assert until_status(status, 200)
    seen = []
    restart(broker_url, between=lambda: seen.append(until_status(status, 503)))
    assert seen == [True]  # not ready while the broker was away
    assert until_status(status, 200, patience=120.0)  # ready again once it is back
    process.signal(signal.SIGTERM)
    assert process.finish(timeout=60) == 0


async def publish_through(broker_url, envelopes, stop_at, back_by):
    """Publish each envelope until its publish is confirmed, restarting the broker midway.

    The restart begins as the ``stop_at``-th envelope is published, and the ``back_by``-th is
    published only once the broker was stopped and told to start again: the publishes from it
    on span the broker's coming back (those before it may meet its going away). The confirmed
    ids, in order.
    """
    broker = open_broker(broker_url)
    confirmed = []
    restarting = None
    await _connect(broker)
    try:
        for index, envelope in enumerate(envelopes):
            if index == stop_at:
                restarting = asyncio.create_task(asyncio.to_thread(restart, broker_url))
            if index == back_by and restarting is not None:
                await restarting
            while True:
                try:
                    await broker.publish(envelope)
                except (BrokerError, ConnectionError, OSError, TimeoutError):
                    await asyncio.sleep(0.2)  # not confirmed: publish it again
                    continue
                confirmed.append(envelope.id)
                break
            await asyncio.sleep(0.01)
    finally:
        await broker.stop()
    return confirmed


async def _connect(broker):
    for _ in range(120):
        try:
            await broker.start()
        except BrokerError:
            await asyncio.sleep(0.5)
        else:
            return
    pytest.fail(f"{broker.describe()} did not come back")


@pytest.mark.parametrize("broker_url", [NATS, RABBITMQ])
async def test_every_event_confirmed_across_a_broker_restart_is_handled(spawn, ledger, broker_url):
    process = start(spawn, broker_url, ledger)
    numbers = list(range(60))
    envelopes = [ledger.tick(n) for n in numbers]
    confirmed = await publish_through(broker_url, envelopes, stop_at=20, back_by=40)
    assert len(confirmed) == len(numbers)
    rows = await ledger.until_numbers(numbers, patience=120.0)
    assert_exact(rows, numbers)
    process.signal(signal.SIGTERM)
    assert process.finish(timeout=60) == 0
    assert "reconnect" in process.output  # it lost the broker, and came back


@pytest.mark.parametrize("broker_url", [NATS, RABBITMQ, REDIS])
async def test_sigterm_while_the_broker_is_away_stops_at_once(spawn, ledger, broker_url):
    process = start(spawn, broker_url, ledger)
    status = readiness(process)
    assert until_status(status, 200)
    stopped = []

    def stop_the_service():
        stopped.append(until_status(status, 503))  # it knows the broker is away
        process.signal(signal.SIGTERM)
        stopped.append(process.finish(timeout=30))

    await asyncio.to_thread(restart, broker_url, stop_the_service)
    back = open_broker(broker_url)
    await _connect(back)  # the broker is back, for the ledger's clean-up
    await back.stop()
    assert stopped == [True, 0], process.output
    assert "grace period" not in process.output  # nothing waited for the broker to come back


@pytest.mark.parametrize("broker_url", [REDIS])
async def test_redis_is_reconnected_after_a_restart(spawn, ledger, broker_url):
    # Redis here keeps nothing on disk: what it held before the restart is gone, so only the
    # reconnection is tested: events published once it is back are all handled.
    process = start(spawn, broker_url, ledger)
    await publish(broker_url, [ledger.tick(n) for n in range(5)])
    await ledger.until_numbers(range(5))
    await asyncio.to_thread(restart, broker_url)
    later = range(100, 110)
    deadline = time.monotonic() + 60
    while True:  # until the consumer's group is back: publishes before then go to nobody
        await publish(broker_url, [ledger.tick(n) for n in later])
        rows = await ledger.until_numbers(later, patience=3.0)
        if {n for n, _ in rows} >= set(later) or time.monotonic() > deadline:
            break
    assert {n for n, _ in rows} >= set(later)
    process.signal(signal.SIGTERM)
    assert process.finish(timeout=60) == 0


# -- outages of what the consumers need ---------------------------------------------------------

DATABASE_OUTAGE = 30.0
"""Seconds the consumers' database stays away: long enough to spend every delivery allowed."""


def through(proxy, ledger):
    """The ledger's database URL, through ``proxy``."""
    return ledger.db_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")


async def publish_steadily(broker_url, ledger, numbers, every, stop_when):
    """Publish a tick of each number, one every ``every`` seconds; ``stop_when()`` is polled
    in between and ends the load early when true (the numbers published are returned)."""
    broker = open_broker(broker_url)
    await broker.start()
    published = []
    try:
        for n in numbers:
            await broker.publish(ledger.tick(n))
            published.append(n)
            if stop_when():
                break
            await asyncio.sleep(every)
    finally:
        await broker.stop()
    return published


@pytest.mark.parametrize("broker_url", [NATS, RABBITMQ, REDIS])
async def test_a_database_outage_under_load_is_waited_out_with_nothing_dead_lost_or_doubled(
    spawn, ledger, broker_url, tcp_proxy
):
    proxy = tcp_proxy(5432)
    flags = ("--db-url", through(proxy, ledger), "--broker-deliveries", "3")
    first = start(spawn, broker_url, ledger, *flags)
    second = start(spawn, broker_url, ledger, *flags)
    status = readiness(first)
    assert until_status(status, 200)
    cut_at, restored_at = 3.0, 3.0 + DATABASE_OUTAGE
    began = time.monotonic()
    seen_not_ready = []

    async def outage():
        await asyncio.sleep(cut_at)
        await asyncio.to_thread(proxy.cut)
        seen_not_ready.append(await asyncio.to_thread(until_status, status, 503))
        await asyncio.sleep(max(0.0, restored_at - (time.monotonic() - began)))
        await asyncio.to_thread(proxy.open)

    cutting = asyncio.create_task(outage())
    # A steady load from before the outage to after it: ten events a second.
    numbers = await publish_steadily(
        broker_url, ledger, range(10_000), 0.1, lambda: time.monotonic() - began > restored_at + 3
    )
    await cutting
    assert seen_not_ready == [True]  # /health/ready said so while the database was away
    rows = await ledger.until_numbers(numbers, patience=120.0)  # drained by itself
    assert_exact(rows, numbers)  # nothing lost, nothing applied twice
    broker = open_broker(broker_url)
    await broker.start()
    try:
        assert await broker.dead_letters(ledger.service) == []
    finally:
        await broker.stop()
    assert until_status(status, 200)
    for process in (first, second):
        process.signal(signal.SIGTERM)
        assert process.finish(timeout=60) == 0
        # Told once per outage, not per message, and with no traceback.
        consumer = f"the consumer of {ledger.service}"
        told = [line for line in process.lines if f"{consumer} cannot reach its database" in line]
        assert len(told) == 1, process.output
        assert f"{consumer} reaches its database again" in process.output
        assert "Traceback" not in process.output, process.output
        assert "dead-letter queue" not in process.output


BROKER_PORTS = {"nats": 4222, "amqp": 5672, "redis": 6379}


def rpc(process, method, **params):
    """Call ``method`` over the process's JSON-RPC endpoint; the response's status and body."""
    [line] = [line for line in process.lines if "serving on http://127.0.0.1:" in line]
    base = re.search(r"serving on (http://127\.0\.0\.1:\d+)", line).group(1)
    call = {"jsonrpc": "2.0", "method": method, "params": params, "id": 1}
    response = httpx.post(f"{base}/rpc", json=call, timeout=10)
    return response.status_code, response.json()


@pytest.mark.parametrize("broker_url", [NATS, RABBITMQ, REDIS])
async def test_a_service_started_while_its_broker_is_away_serves_and_connects_later(
    spawn, ledger, broker_url, tcp_proxy
):
    # The service ran once before, so that its durable queues hold what is published for it
    # while it is away, as they do for a service restarted during a broker outage.
    before = start(spawn, broker_url, ledger)
    before.signal(signal.SIGTERM)
    assert before.finish() == 0
    scheme = broker_url.partition(":")[0]
    port = BROKER_PORTS[scheme]
    proxy = tcp_proxy(port, closed=True)  # the broker is away: its port refuses
    away_url = broker_url.replace(f":{port}", f":{proxy.port}")
    process = start(spawn, away_url, ledger)
    status = readiness(process)
    assert until_status(status, 503)  # not ready: no broker
    numbers = range(5)
    for n in numbers:  # it serves its callers, and commits to its outbox
        assert rpc(process, "emit", n=n) == (200, {"jsonrpc": "2.0", "result": n, "id": 1})
    assert process.popen.poll() is None
    proxy.open()  # the broker is back
    assert until_status(status, 200)
    rows = await ledger.until_numbers(numbers)  # relayed, consumed and booked
    assert_exact(rows, numbers)
    process.signal(signal.SIGTERM)
    assert process.finish(timeout=60) == 0
    assert "Traceback" not in process.output, process.output
    # Told once: by the link when it began, and once when it ended.
    assert process.output.count("link to ") == 2, process.output
    assert "reaches its broker again" in process.output
