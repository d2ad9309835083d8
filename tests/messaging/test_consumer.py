"""The consumer: delivers to the bus, acks after success, retries with backoff, dead-letters."""

import asyncio
import logging
from dataclasses import dataclass

import pytest

from atoll.errors import BrokerUnavailableError
from atoll.kernel.logs import ContextFilter
from atoll.messaging.broker import RetryPolicy, Subscription
from atoll.messaging.consumer import BrokerConsumer
from atoll.messaging.envelope import Delivery, Envelope, message_name, seal
from atoll.messaging.handlers import HandlerKind
from atoll.messaging.memory_broker import MemoryBroker, _Message
from tests.messaging.consumer_doubles import Shipped, bound, on, until


@dataclass(frozen=True)
class Ship:
    order: int


FAST = RetryPolicy(deliveries=3, backoff=0.01, longest=0.05)


async def started(bus, *, policy=FAST, service="shop", events=(Shipped,), ack_wait=5.0, **settings):
    broker = MemoryBroker()
    await broker.start()
    subscription = Subscription(service, tuple(message_name(e) for e in events), ack_wait=ack_wait)
    consumer = BrokerConsumer(broker, bus, subscription, policy, poll=0.05, **settings)
    await consumer.start()
    return broker, consumer


async def test_an_event_is_handled_then_acknowledged():
    seen = []

    async def notify(event: Shipped, delivery: Delivery) -> None:
        seen.append((event, delivery.message_id))

    bus = bound(on(notify))
    broker, consumer = await started(bus)
    envelope = seal(Shipped(1))
    await broker.publish(envelope)
    await until(lambda: consumer.handled == 1)
    assert seen == [(Shipped(1), envelope.id)]
    await consumer.stop()
    assert not broker.state.queues["shop"].ready


async def test_a_command_sent_to_the_service_is_handled_with_its_delivery():
    seen = []

    async def ship(command: Ship, delivery: Delivery) -> None:
        seen.append((command, delivery.consumer))

    bus = bound(on(ship, Ship, HandlerKind.COMMAND))
    broker, consumer = await started(bus, events=())
    await broker.send(seal(Ship(4)), "shop")
    await until(lambda: consumer.handled == 1)
    await consumer.stop()
    assert seen == [(Ship(4), "shop.ship")]


async def test_a_failing_handler_is_retried_until_it_succeeds(caplog):
    runs = []

    async def flaky(event: Shipped) -> None:
        runs.append(event)
        if len(runs) < 3:
            raise RuntimeError("not yet")

    bus = bound(on(flaky))
    broker, consumer = await started(bus)
    await broker.publish(seal(Shipped(2)))
    await until(lambda: consumer.handled == 1)
    await consumer.stop()
    assert len(runs) == 3
    assert consumer.dead == 0
    retries = [r.getMessage() for r in caplog.records if "trying again" in r.getMessage()]
    assert retries[0].startswith(f"{message_name(Shipped)} (message ")  # its type and id
    assert "delivery 1 of 3 failed" in retries[0]


async def test_a_message_failing_every_delivery_goes_to_the_dead_letters_and_others_go_on(caplog):
    handled = []

    async def picky(event: Shipped) -> None:
        if event.order == 0:
            raise ValueError("order 0 does not exist")
        handled.append(event.order)

    bus = bound(on(picky))
    broker, consumer = await started(bus)
    await broker.publish(poison := seal(Shipped(0)))
    for n in range(1, 4):
        await broker.publish(seal(Shipped(n)))
    await until(lambda: consumer.dead == 1 and consumer.handled == 3)
    await consumer.stop()
    assert sorted(handled) == [1, 2, 3]
    [dead] = await broker.dead_letters("shop")
    assert dead.envelope == poison
    assert dead.deliveries == 3
    assert "picky" in dead.error  # the handler that failed; its traceback is in the log
    logged = [
        r for r in caplog.records if r.levelno == logging.ERROR and "dead-letter" in r.getMessage()
    ]
    assert "atoll dlq redrive shop" in logged[0].getMessage()


async def test_a_message_delivered_more_often_than_allowed_is_not_run_again():
    runs = []

    async def deadly(event: Shipped) -> None:
        runs.append(event)

    bus = bound(on(deadly))
    broker, consumer = await started(bus)
    # Its consumers died while handling it, three times: the broker counted the deliveries.
    queue = broker.state.queue("shop")
    queue.put(_Message(seal(Shipped(9)), attempt=4))
    await until(lambda: consumer.dead == 1)
    await consumer.stop()
    assert runs == []
    [dead] = await broker.dead_letters("shop")
    assert "more than the 3 allowed" in dead.error


async def test_a_payload_that_does_not_decode_is_dead_lettered_at_once():
    async def notify(event: Shipped) -> None: ...

    bus = bound(on(notify))
    broker, consumer = await started(bus)
    await broker.publish(Envelope("bad", message_name(Shipped), b'{"order":"x"}'))
    await until(lambda: consumer.dead == 1)
    await consumer.stop()
    [dead] = await broker.dead_letters("shop")
    assert dead.deliveries == 1
    assert dead.error.startswith(f"cannot be read as {message_name(Shipped)}: ValidationError")


async def test_messages_of_one_stream_are_handled_in_order_others_side_by_side():
    order = []
    release = asyncio.Event()

    async def slow(event: Shipped) -> None:
        if event.order == 1:
            await release.wait()
        order.append(event.order)

    bus = bound(on(slow))
    broker, consumer = await started(bus)
    await broker.publish(seal(Shipped(1), stream="Order:1"))
    await broker.publish(seal(Shipped(2), stream="Order:1"))
    await broker.publish(seal(Shipped(3), stream="Order:3"))
    await until(lambda: order == [3])  # the other stream did not wait
    release.set()
    await until(lambda: consumer.handled == 3)
    await consumer.stop()
    assert order == [3, 1, 2]


async def test_only_the_services_own_handlers_run():
    seen = []

    async def mine(event: Shipped) -> None:
        seen.append("mine")

    async def theirs(event: Shipped) -> None:
        seen.append("theirs")

    bus = bound(on(mine), on(theirs, service="mail"))
    broker, consumer = await started(bus)
    await broker.publish(seal(Shipped(1)))
    await until(lambda: consumer.handled == 1)
    await consumer.stop()
    assert seen == ["mine"]


async def test_handlers_that_wait_run_side_by_side_up_to_the_concurrency():
    running, most = set(), []
    release = asyncio.Event()

    async def slow(event: Shipped) -> None:
        running.add(event.order)
        most.append(len(running))
        await release.wait()
        running.discard(event.order)

    bus = bound(on(slow))
    broker, consumer = await started(bus, concurrency=4)
    for n in range(7):
        await broker.publish(seal(Shipped(n)))
    await until(lambda: len(running) == 4)  # each waits: one worker wakes the next
    await asyncio.sleep(0.05)
    assert max(most) == 4  # no more than the concurrency
    release.set()
    await until(lambda: consumer.handled == 7)
    await consumer.stop()


async def test_stopping_lets_the_messages_in_hand_finish_and_leaves_the_rest():
    started_handling = asyncio.Event()
    release = asyncio.Event()
    done = []

    async def slow(event: Shipped) -> None:
        started_handling.set()
        await release.wait()
        done.append(event.order)

    bus = bound(on(slow))
    broker, consumer = await started(bus, concurrency=1)
    for n in range(5):
        await broker.publish(seal(Shipped(n)))
    await started_handling.wait()
    stopping = asyncio.create_task(consumer.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waits for the message in hand
    release.set()
    await stopping
    assert done == [0]
    assert consumer.handled == 1
    left = broker.state.queues["shop"].ready
    assert len(left) == 4  # the rest wait for the next instance, none lost
    # Prefetched, never started, given back: the broker counts it as a delivery made.
    assert all(m.attempt == 2 for m in left)


async def test_a_broker_out_of_reach_is_waited_for(caplog):
    caplog.set_level(logging.INFO, "atoll.broker")

    async def notify(event: Shipped) -> None: ...

    bus = bound(on(notify))
    broker, consumer = await started(bus)
    receiver = consumer._receiver
    calls = []
    real = receiver.receive

    async def failing(limit, wait):
        calls.append(1)
        if len(calls) < 3:
            raise BrokerUnavailableError("cannot reach the broker at nats://x:4222")
        return await real(limit, wait)

    receiver.receive = failing
    await broker.publish(seal(Shipped(1)))
    await until(lambda: consumer.handled == 1)
    await consumer.stop()
    told = [r for r in caplog.records if r.name == "atoll.broker"]
    # Told once when it began (what to check), once when it ended: not per failure.
    assert [r.levelname for r in told] == ["WARNING", "INFO"]
    assert "cannot reach its broker" in told[0].getMessage()
    assert "nats://x:4222" in told[0].getMessage()
    assert "reaches its broker again" in told[1].getMessage()


async def test_a_settle_the_broker_refuses_is_logged_and_left_to_redelivery(caplog):
    async def notify(event: Shipped) -> None: ...

    bus = bound(on(notify))
    broker = MemoryBroker()
    await broker.start()
    consumer = BrokerConsumer(broker, bus, Subscription("shop"), FAST)

    class Refusing:
        envelope = seal(Shipped(1))
        attempt = 1

        async def ack(self):
            raise BrokerUnavailableError("gone")

    await consumer.handle(Refusing())
    assert f"could not settle {Refusing.envelope.type} (message {Refusing.envelope.id})" in (
        caplog.text
    )
    assert consumer.handled == 0


async def test_kill_cancels_what_is_in_hand_which_is_delivered_again():
    release = asyncio.Event()

    async def slow(event: Shipped) -> None:
        await release.wait()

    bus = bound(on(slow))
    broker, consumer = await started(bus, ack_wait=0.2)
    await broker.publish(sent := seal(Shipped(1)))
    await until(lambda: consumer.in_hand == 1)
    consumer.kill()
    await until(consumer._task.done)
    assert consumer.handled == 0
    assert repr(consumer) == "BrokerConsumer('shop' on memory://)"
    rescuer = await broker.subscribe(consumer.subscription)
    [again] = await rescuer.receive(1, 2.0)  # once its ack wait passed, as after a crash
    assert (again.envelope.id, again.attempt) == (sent.id, 2)


async def test_stopping_a_consumer_never_started_is_fine():
    consumer = BrokerConsumer(MemoryBroker(), bound(), Subscription("shop"), FAST)
    await consumer.stop()


async def test_a_retry_here_goes_to_the_handlers_that_failed_only():
    runs = {"flaky": 0, "steady": 0}

    async def flaky(event: Shipped) -> None:
        runs["flaky"] += 1
        if runs["flaky"] == 1:
            raise RuntimeError("once")

    async def steady(event: Shipped) -> None:
        runs["steady"] += 1

    bus = bound(on(flaky), on(steady))
    broker, consumer = await started(bus)
    await broker.publish(seal(Shipped(1)))
    await until(lambda: consumer.handled == 1)
    await consumer.stop()
    assert runs == {"flaky": 2, "steady": 1}


@pytest.mark.parametrize("message", [Ship(1), "unknown"])
async def test_a_message_no_handler_of_the_service_takes_is_dead_lettered(message):
    async def ship(command: Ship) -> None: ...

    bus = bound(on(ship, Ship, HandlerKind.COMMAND, service="warehouse"))
    broker, consumer = await started(bus)
    envelope = seal(message) if message != "unknown" else Envelope("x", "no.such.Type", b"{}")
    await broker.send(envelope, "shop")
    await until(lambda: consumer.dead == 1)
    await consumer.stop()
    [dead] = await broker.dead_letters("shop")
    assert dead.error == (
        f"no handler of {envelope.type} in service shop; deploy one, then redrive it: "
        "atoll dlq redrive shop"
    )


async def test_a_receive_that_fails_unexpectedly_is_logged_and_tried_again(caplog):
    async def notify(event: Shipped) -> None: ...

    bus = bound(on(notify))
    broker, consumer = await started(bus)
    receiver = consumer._receiver
    real = receiver.receive
    calls = []

    async def broken(limit, wait):
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("a bug in an adapter")
        return await real(limit, wait)

    receiver.receive = broken
    await broker.publish(seal(Shipped(1)))
    await until(lambda: consumer.handled == 1)
    await consumer.stop()
    [record] = [r for r in caplog.records if "cannot receive" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None  # an unexpected error: its traceback
    assert "KeyError" in record.getMessage()


async def test_messages_in_hand_longer_than_their_ack_wait_are_kept_and_run_once():
    runs = []

    async def slow(event: Shipped) -> None:
        runs.append(event.order)
        await asyncio.sleep(0.15)

    bus = bound(on(slow))
    broker, consumer = await started(bus, ack_wait=0.3)
    for n in range(8):  # one stream: 1.2 s in all, four times the ack wait
        await broker.publish(seal(Shipped(n), stream="Order:1"))
    await until(lambda: consumer.handled == 8)
    await consumer.stop()
    assert runs == list(range(8))  # each once, in order
    assert consumer.dead == 0


async def keep_refused(error):
    """A consumer whose message in hand cannot be kept in progress: ``error`` each time."""
    release = asyncio.Event()

    async def slow(event: Shipped) -> None:
        await release.wait()

    bus = bound(on(slow))
    broker, consumer = await started(bus, ack_wait=0.1)
    await broker.publish(seal(Shipped(1)))
    await until(lambda: bool(consumer._held))
    [(received, _)] = consumer._held.values()

    async def refused(self):
        raise error

    type(received).in_progress, kept = refused, type(received).in_progress
    return consumer, release, lambda: setattr(type(received), "in_progress", kept)


async def test_a_keep_alive_the_broker_refuses_is_logged(caplog):
    consumer, release, restore = await keep_refused(RuntimeError("refused"))
    try:
        await until(lambda: "could not keep a message in progress" in caplog.text)
    finally:
        restore()
    release.set()
    await consumer.stop()


async def test_keep_alives_while_the_broker_is_out_of_reach_are_told_once(caplog):
    consumer, release, restore = await keep_refused(BrokerUnavailableError("gone"))
    try:
        await until(lambda: consumer.keep_outage.failures >= 3)
    finally:
        restore()
    release.set()
    await consumer.stop()
    assert caplog.text.count("cannot reach its broker") == 1


async def test_what_a_handler_logs_carries_its_messages_id_type_and_correlation_id():
    seen: list[object] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.context)

    async def notify(event: Shipped) -> None:
        logging.getLogger("shop.notify").warning("notified")

    keep = Keep()
    keep.addFilter(ContextFilter())
    logging.getLogger("shop.notify").addHandler(keep)
    try:
        bus = bound(on(notify))
        broker, consumer = await started(bus)
        envelope = seal(Shipped(3), headers={"correlation_id": "c-7"})
        await broker.publish(envelope)
        await until(lambda: consumer.handled == 1)
        await consumer.stop()
    finally:
        logging.getLogger("shop.notify").removeHandler(keep)
    assert seen == [
        {"message_id": envelope.id, "message_type": envelope.type, "correlation_id": "c-7"}
    ]
