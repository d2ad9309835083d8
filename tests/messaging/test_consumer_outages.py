"""The consumer through an outage: a dependency out of reach pauses it, and spends nothing."""

import asyncio
import logging

import pytest

from atoll.errors import DatabaseUnavailableError, UnavailableError
from atoll.messaging.broker import RetryPolicy, Subscription
from atoll.messaging.consumer import BrokerConsumer
from atoll.messaging.envelope import Envelope, message_name, seal
from atoll.messaging.memory_broker import MemoryBroker, _Message
from tests.messaging.consumer_doubles import Shipped, bound, on, until


class Database:
    """A dependency a test takes away and gives back."""

    def __init__(self) -> None:
        self.up = asyncio.Event()
        self.up.set()

    def check(self) -> None:
        if not self.up.is_set():
            raise DatabaseUnavailableError("cannot reach PostgreSQL at 127.0.0.1:5432")


async def started(bus, *, concurrency=4, committed=None, deliveries=3):
    broker = MemoryBroker()
    await broker.start()
    subscription = Subscription("shop", (message_name(Shipped),), ack_wait=5.0)
    policy = RetryPolicy(deliveries=deliveries, backoff=0.01, longest=0.05)
    consumer = BrokerConsumer(
        broker, bus, subscription, policy, poll=0.01, concurrency=concurrency, committed=committed
    )
    await consumer.start()
    return broker, consumer


def told(caplog, level=None):
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "atoll.broker" and (level is None or r.levelname == level)
    ]


async def test_a_database_outage_pauses_the_consumer_and_spends_no_delivery(caplog):
    caplog.set_level(logging.INFO)
    database = Database()
    tried_while_down: list[int] = []
    handled: list[int] = []

    async def book(event: Shipped) -> None:
        if not database.up.is_set():
            tried_while_down.append(event.order)
        database.check()
        handled.append(event.order)

    bus = bound(on(book))
    broker, consumer = await started(bus, concurrency=1)
    database.up.clear()
    for n in range(5):
        await broker.publish(seal(Shipped(n)))
    await until(lambda: len(tried_while_down) >= 8)  # more than the 3 deliveries allowed
    with pytest.raises(UnavailableError, match="cannot reach its database"):
        await consumer.ping()  # readiness says what it cannot reach
    database.up.set()
    await until(lambda: consumer.handled == 5)
    await consumer.ping()  # ready again
    await consumer.stop()
    assert set(tried_while_down) == {0}  # no new message was taken meanwhile
    assert sorted(handled) == list(range(5))
    assert consumer.dead == 0
    assert not await broker.dead_letters("shop")
    # One line when it began, with what to check; one when it ended; no line per failure.
    assert len(told(caplog, "WARNING")) == 1
    assert "cannot reach its database" in told(caplog, "WARNING")[0]
    assert "Check that the database is running" in told(caplog, "WARNING")[0]
    assert len(told(caplog, "INFO")) == 1
    assert "reaches its database again" in told(caplog, "INFO")[0]
    assert not [r for r in caplog.records if r.exc_info]  # and no traceback


async def test_a_long_outage_is_reminded_at_a_bounded_rate(caplog):
    caplog.set_level(logging.INFO)
    database = Database()
    runs = []

    async def book(event: Shipped) -> None:
        runs.append(event)
        database.check()

    bus = bound(on(book))
    broker, consumer = await started(bus, concurrency=1)
    now = [0.0]
    consumer.outage.clock = lambda: now[0]
    database.up.clear()
    await broker.publish(seal(Shipped(1)))
    await until(lambda: len(runs) >= 3)
    now[0] = 61.0  # a minute later: one reminder
    count = len(runs)
    await until(lambda: len(runs) >= count + 3)
    database.up.set()
    await until(lambda: consumer.handled == 1)
    await consumer.stop()
    warnings = told(caplog, "WARNING")
    assert len(warnings) == 2
    assert "still cannot reach its database, for 61 s now" in warnings[1]


@pytest.mark.parametrize(
    "error",
    [ConnectionRefusedError(111, "refused"), TimeoutError("no answer"), UnavailableError("x")],
    ids=["connection refused", "timeout", "unavailable"],
)
async def test_a_handler_s_connection_failure_or_timeout_is_an_outage_too(error):
    runs = []

    async def call_out(event: Shipped) -> None:
        runs.append(event)
        if len(runs) <= 4:
            raise error

    bus = bound(on(call_out))
    broker, consumer = await started(bus)
    await broker.publish(seal(Shipped(1)))
    await until(lambda: consumer.handled == 1)
    await consumer.stop()
    assert len(runs) == 5  # more failures than deliveries allowed, and no dead letter
    assert consumer.dead == 0


@pytest.mark.parametrize(
    "error",
    [FileNotFoundError("no such file: rates.csv"), PermissionError("denied"), ValueError("bad")],
    ids=["file not found", "permission denied", "value error"],
)
async def test_any_other_failure_is_the_handler_s_own_and_spends_deliveries(error):
    runs = []

    async def call_out(event: Shipped) -> None:
        runs.append(event)
        raise error

    bus = bound(on(call_out))
    broker, consumer = await started(bus)
    await broker.publish(seal(Shipped(1)))
    await until(lambda: consumer.dead == 1)
    await consumer.stop()
    assert len(runs) == 3
    [dead] = await broker.dead_letters("shop")
    assert "delivered 3 time(s) (3 failure(s) of its handlers)" in dead.error
    assert f"{type(error).__name__}: {error}" in dead.error


async def test_a_handler_s_own_failure_beside_an_outage_spends_a_delivery():
    runs = []

    async def book(event: Shipped) -> None:
        raise DatabaseUnavailableError("cannot reach PostgreSQL")

    async def check(event: Shipped) -> None:
        runs.append(event)
        raise ValueError("not shippable")

    bus = bound(on(book), on(check))
    broker, consumer = await started(bus)
    await broker.publish(seal(Shipped(1)))
    await until(lambda: consumer.dead == 1)
    await consumer.stop()
    assert len(runs) == 3


async def test_the_handlers_that_succeeded_are_not_run_again_after_an_outage():
    database = Database()
    runs = {"notify": 0, "book": 0}

    async def notify(event: Shipped) -> None:
        runs["notify"] += 1

    async def book(event: Shipped) -> None:
        runs["book"] += 1
        database.check()

    bus = bound(on(notify), on(book))
    broker, consumer = await started(bus)
    database.up.clear()
    await broker.publish(seal(Shipped(1)))
    await until(lambda: runs["book"] >= 3)
    database.up.set()
    await until(lambda: consumer.handled == 1)
    await consumer.stop()
    assert runs["notify"] == 1


async def test_stopping_during_an_outage_gives_the_messages_back_unsettled():
    database = Database()

    async def book(event: Shipped) -> None:
        database.check()

    bus = bound(on(book))
    broker, consumer = await started(bus)
    database.up.clear()
    for n in range(3):
        await broker.publish(seal(Shipped(n)))
    await until(lambda: consumer.in_hand == 3 and consumer.outage.active)
    await asyncio.wait_for(consumer.stop(), 5)
    assert consumer.dead == 0
    assert not await broker.dead_letters("shop")
    assert len(broker.state.queues["shop"].ready) == 3  # back for the next instance
    database.up.set()
    await consumer.start()  # started again, it ends the outage it had met
    await until(lambda: consumer.handled == 3)
    await consumer.stop()
    assert not consumer.outage.active


async def test_a_message_past_its_limit_that_every_handler_committed_is_acknowledged(caplog):
    caplog.set_level(logging.INFO)
    asked = []

    async def book(event: Shipped) -> None:
        raise AssertionError("not run again")

    async def committed(envelope, consumers):
        asked.append((envelope.id, consumers))
        return True

    bus = bound(on(book))
    broker, consumer = await started(bus, committed=committed)
    # Committed, then killed before its ack, three times over: the broker counted 4.
    envelope = seal(Shipped(9))
    broker.state.queue("shop").put(_Message(envelope, attempt=4))
    await until(lambda: consumer.handled == 1)
    await consumer.stop()
    assert asked == [(envelope.id, ("shop.book",))]
    assert bus.consumers(Envelope("x", "no.such.Type", b"{}")) == []
    assert consumer.dead == 0
    assert not await broker.dead_letters("shop")
    assert any("had committed it already: acknowledged" in m for m in told(caplog))


async def test_a_message_past_its_limit_not_committed_is_dead_lettered_with_what_it_met():
    async def book(event: Shipped) -> None:
        raise AssertionError("not run again")

    async def committed(envelope, consumers):
        return False

    bus = bound(on(book))
    broker, consumer = await started(bus, committed=committed)
    broker.state.queue("shop").put(_Message(seal(Shipped(9)), attempt=4))
    await until(lambda: consumer.dead == 1)
    await consumer.stop()
    [dead] = await broker.dead_letters("shop")
    assert dead.error.startswith("delivered 4 time(s) (3 that ended elsewhere (a consumer stopped")
    assert "more than the 3 allowed" in dead.error
