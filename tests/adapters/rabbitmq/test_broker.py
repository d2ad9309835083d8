"""The RabbitMQ adapter passes the broker contract against a real RabbitMQ, and its own cases."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping

import aio_pika
import aiormq
import pytest

from atoll.adapters.rabbitmq import RabbitBroker
from atoll.adapters.rabbitmq import broker as adapter
from atoll.adapters.rabbitmq.broker import DELIVERY_LIMIT, delay_bucket
from atoll.adapters.rabbitmq.delivery import ATTEMPT_HEADER
from atoll.errors import BrokerError, BrokerUnavailableError, ConfigError, RemoteUnavailableError
from atoll.messaging.broker import Subscription, open_broker
from atoll.messaging.envelope import Envelope
from atoll.testing.broker_contract import BrokerContract, Names

URL = "amqp://guest:guest@127.0.0.1:5672/"

pytestmark = pytest.mark.services("rabbitmq")


class TestRabbit(BrokerContract):
    @pytest.fixture
    def broker_url(self):
        return URL

    @pytest.fixture
    def unreachable_url(self):
        return "amqp://guest:s3cret@127.0.0.1:1/"

    @pytest.fixture
    async def names(self):
        # The contract's names are this test's own: its queues are deleted after it.
        names = Names()
        yield names
        await delete_queues(names)


# -- helpers ----------------------------------------------------------------------------------


async def delete_queues(names: Names) -> None:
    """Delete the queues of the services ``names`` gave."""
    connection = await aio_pika.connect(URL)
    try:
        channel = await connection.channel()
        for base in ("svc", "runs", "stats", "mail", "by", "own"):
            for n in range(1, names.count + 1):
                service = f"{base}-{names.run}-{n}"
                for name in (
                    f"atoll.{service}",
                    f"atoll.{service}.dead",
                    f"atoll.{service}.rpc",
                    *(f"atoll.{service}.retry.{ms}" for ms in BUCKETS_USED),
                ):
                    await channel.queue_delete(name)
    finally:
        await connection.close()


BUCKETS_USED = (delay_bucket(0.5), delay_bucket(5.0), delay_bucket(0.3))


def envelope(topic: str = "own.t.Happened", n: int = 0) -> Envelope:
    return Envelope(uuid.uuid4().hex, topic, b'{"n":%d}' % n, headers={"sender": "tests"})


@pytest.fixture
async def names():
    names = Names()
    yield names
    await delete_queues(names)


@pytest.fixture
async def broker(names):
    broker = RabbitBroker(URL)
    await broker.start()
    yield broker
    await broker.stop()


@pytest.fixture
async def raw():
    connection = await aio_pika.connect(URL)
    yield await connection.channel()
    await connection.close()


async def take_one(receiver, patience: float = 10.0):
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if batch := await receiver.receive(1, 0.5):
            return batch[0]
    pytest.fail("no message arrived")


async def until(condition, patience: float = 10.0) -> None:
    deadline = time.monotonic() + patience
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.02)


# -- delays -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delay", "ms"),
    [
        (0.0, 1),
        (0.001, 1),
        (0.015, 15),
        (0.5, 512),
        (0.45, 480),
        (0.016, 16),
        (0.017, 18),
        (1.0, 1024),
        (60.0, 61440),
    ],
)
def test_a_delay_is_rounded_up_to_its_bucket(delay, ms):
    assert delay_bucket(delay) == ms


def test_delay_buckets_are_never_shorter_and_at_most_an_eighth_longer():
    asked = [n / 1000 for n in range(1, 200_000, 7)]
    buckets = {delay_bucket(delay) for delay in asked}
    for delay in asked:
        assert delay * 1000 <= delay_bucket(delay) <= delay * 1000 * 1.125 + 1
    assert len(buckets) < 150  # a few queues, not one per delay


async def test_a_delayed_retry_is_not_redelivered_sooner_and_keeps_counting(broker, names):
    service = names.service("own")
    receiver = await broker.subscribe(Subscription(service, ("own.t.Happened",), ack_wait=5))
    await broker.send(sent := envelope(), service)
    first = await take_one(receiver)
    await first.retry(0)  # a redelivery the queue counts
    second = await take_one(receiver)
    assert second.attempt == 2
    asked = time.monotonic()
    await second.retry(0.3)
    third = await take_one(receiver)
    assert time.monotonic() - asked >= 0.3
    assert (third.envelope, third.attempt) == (sent, 3)
    asked = time.monotonic()
    await third.retry(0.3)  # the same delay queue, declared a moment ago
    fourth = await take_one(receiver)
    assert time.monotonic() - asked >= 0.3
    await fourth.retry(0)
    fifth = await take_one(receiver)
    assert (fifth.envelope, fifth.attempt) == (sent, 5)
    assert ATTEMPT_HEADER not in fifth.envelope.headers
    await fifth.ack()


async def test_settling_twice_is_a_no_op(broker, names):
    service = names.service("own")
    receiver = await broker.subscribe(Subscription(service, ack_wait=5))
    await broker.send(envelope(), service)
    received = await take_one(receiver)
    await received.dead_letter("boom")
    await received.ack()
    await received.retry(0)
    await received.retry(1.0)
    await received.dead_letter("again")
    [dead] = await broker.dead_letters(service)
    assert dead.error == "boom"
    assert await receiver.receive(1, 0.3) == []


# -- queues -----------------------------------------------------------------------------------


async def test_a_queue_declared_with_other_arguments_is_an_error_naming_it(broker, names, raw):
    service = names.service("own")
    await raw.declare_queue(f"atoll.{service}", durable=True)  # a classic queue
    with pytest.raises(BrokerError, match=rf"atoll\.{service}.*delete it") as caught:
        await broker.subscribe(Subscription(service))
    assert "x-queue-type" in str(caught.value)
    await broker.ping()  # the connection is fine, and so is the next subscription
    other = names.service("own")
    await broker.subscribe(Subscription(other))
    await broker.send(envelope(), other)


async def test_a_send_to_a_queue_made_otherwise_is_an_error(broker, names, raw):
    service = names.service("own")
    await raw.declare_queue(f"atoll.{service}", durable=True, arguments={"x-max-length": 5})
    with pytest.raises(BrokerError, match=rf"atoll\.{service}"):
        await broker.send(envelope(), service)
    await broker.ping()


async def test_more_deliveries_than_the_queue_makes_are_refused(broker, names):
    with pytest.raises(ConfigError, match=str(DELIVERY_LIMIT)):
        await broker.subscribe(Subscription(names.service("own"), deliveries=DELIVERY_LIMIT + 1))


async def test_a_dead_letter_queue_deleted_meanwhile_is_declared_again(broker, names, raw):
    service = names.service("own")
    receiver = await broker.subscribe(Subscription(service, ack_wait=5))
    await raw.queue_delete(f"atoll.{service}.dead")
    await broker.send(sent := envelope(), service)
    await (await take_one(receiver)).dead_letter("boom")
    [dead] = await broker.dead_letters(service)
    assert dead.envelope == sent


async def test_a_foreign_message_is_dead_lettered_and_the_receiver_goes_on(
    broker, names, raw, caplog
):
    service = names.service("own")
    receiver = await broker.subscribe(Subscription(service, ack_wait=5))
    caplog.set_level(logging.WARNING, "atoll.broker")
    await raw.default_exchange.publish(
        aio_pika.Message(b"hello", headers={"from": "elsewhere"}, message_id="m-1"),
        f"atoll.{service}",
    )
    await broker.send(sent := envelope(), service)
    received = await take_one(receiver)
    assert received.envelope == sent
    await received.ack()
    [dead] = await broker.dead_letters(service)
    assert (dead.id, dead.envelope.payload, dead.envelope.headers) == (
        "m-1",
        b"hello",
        {"from": "elsewhere"},
    )
    assert "no atoll envelope" in dead.error
    assert "no atoll envelope" in caplog.text


async def test_dead_letters_are_read_in_order_and_left_in_place(broker, names):
    service = names.service("own")
    receiver = await broker.subscribe(Subscription(service, ack_wait=5))
    sent = [envelope(n=n) for n in range(5)]
    for each in sent:
        await broker.send(each, service)
    for _ in sent:
        await (await take_one(receiver)).dead_letter("boom")
    assert [d.id for d in await broker.dead_letters(service, limit=2)] == [e.id for e in sent[:2]]
    assert [d.id for d in await broker.dead_letters(service)] == [e.id for e in sent]
    assert await broker.purge(service, [sent[4].id, "no-such-id"]) == 1
    assert await broker.redrive(service, [sent[0].id]) == 1
    assert [d.id for d in await broker.dead_letters(service)] == [e.id for e in sent[1:4]]
    assert await broker.redrive(service) == 3
    assert await broker.dead_letters(service) == []


# -- ack wait ---------------------------------------------------------------------------------


async def test_an_expired_message_of_a_receiver_still_receiving_comes_back_to_it(broker, names):
    service = names.service("own")
    receiver = await broker.subscribe(Subscription(service, ack_wait=0.3))
    await broker.send(sent := envelope(), service)
    first = await take_one(receiver)
    again = await take_one(receiver)  # receiving all along: not taken for dead
    assert (again.envelope.id, again.attempt) == (sent.id, 2)
    await first.ack()  # too late: a no-op
    await again.ack()
    assert await receiver.receive(1, 0.5) == []


async def test_a_receiver_taken_for_dead_receives_again_once_it_asks(broker, names):
    service = names.service("own")
    receiver = await broker.subscribe(Subscription(service, ack_wait=0.3))
    for n in range(3):
        await broker.send(envelope(n=n), service)
    await until(lambda: len(receiver._ready) == 3)
    assert len(await receiver.receive(2, 1.0)) == 2
    await asyncio.sleep(0.6)  # both expired, and nothing received since: paused
    assert receiver._paused
    assert not receiver._ready  # the one not taken went back too
    again = [await take_one(receiver) for _ in range(3)]
    assert sorted(r.attempt for r in again) == [2, 2, 2]
    for received in again:
        await received.ack()


# -- connection -------------------------------------------------------------------------------


async def test_a_wrong_password_is_named_without_it():
    broker = open_broker("amqp://guest:n0tthis@127.0.0.1:5672/")
    with pytest.raises(BrokerUnavailableError) as caught:
        await broker.start()
    message = str(caught.value)
    assert "n0tthis" not in message
    assert "amqp://guest:********@127.0.0.1:5672/" in message
    assert "are the user and password right? check --broker-url" in message
    assert "ACCESS_REFUSED" in message


async def test_an_unreachable_broker_says_what_to_check():
    broker = RabbitBroker("amqp://guest:s3cret@127.0.0.1:1/")
    with pytest.raises(BrokerUnavailableError) as caught:
        await broker.start()
    assert str(caught.value).startswith(
        "cannot reach the broker at amqp://guest:********@127.0.0.1:1/: "
    )
    assert "is RabbitMQ running there" in str(caught.value)
    assert repr(broker) == "RabbitBroker('amqp://guest:********@127.0.0.1:1/')"


async def test_a_broker_not_started_refuses_plainly():
    broker = RabbitBroker(URL)
    with pytest.raises(BrokerUnavailableError, match="not started"):
        await broker.publish(envelope())
    with pytest.raises(BrokerUnavailableError, match="not started"):
        await broker.subscribe(Subscription("own"))
    with pytest.raises(BrokerUnavailableError):
        await broker.ping()
    await broker.stop()


async def test_a_stopped_broker_no_longer_answers_ping(names):
    broker = RabbitBroker(URL)
    await broker.start()
    await broker.ping()
    await broker.stop()
    with pytest.raises(BrokerUnavailableError):
        await broker.ping()


async def test_a_lost_connection_is_logged_and_recovered(names, caplog):
    caplog.set_level(logging.INFO, "atoll.broker")
    broker, server = RabbitBroker(URL + "?reconnect_interval=0.2"), RabbitBroker(URL)
    await broker.start()
    await server.start()
    release = asyncio.Event()

    async def respond(body: bytes, headers: Mapping[str, str]) -> bytes:
        await release.wait()
        return body

    try:
        service = names.service("own")
        receiver = await broker.subscribe(Subscription(service, ack_wait=5))
        await server.serve(service, respond)
        await broker.send(sent := envelope(), service)
        held = await take_one(receiver)
        asking = asyncio.create_task(broker.request(service, b"slow", 10.0))
        await asyncio.sleep(0.2)
        assert broker._connection.transport is not None
        await broker._connection.transport.connection.close(ConnectionError("cut by the test"))
        with pytest.raises(RemoteUnavailableError, match="may have run"):
            await asking  # at once, not after its 10 s
        await until(lambda: broker.connected)
        await until(lambda: not receiver.unsettled)  # its channel reopened: given up
        await held.ack()  # a no-op: what the old channel delivered comes again
        again = await take_one(receiver)
        assert (again.envelope, again.attempt) == (sent, 2)
        await again.ack()
        release.set()
        assert await broker.request(service, b"again", 5.0) == b"again"
    finally:
        release.set()
        await server.stop()
        await broker.stop()
    assert "the connection to the broker at amqp://guest:********@127.0.0.1:5672/" in caplog.text
    assert "reconnected to the broker" in caplog.text


async def test_while_the_connection_is_down_everything_is_refused(broker, names):
    service = names.service("own")
    receiver = await broker.subscribe(Subscription(service, ack_wait=5))
    broker._connection.connected.clear()  # as while it reconnects
    try:
        with pytest.raises(BrokerUnavailableError, match="reconnecting"):
            await broker.ping()
        with pytest.raises(BrokerUnavailableError, match="publishing"):
            await broker.publish(envelope())
        with pytest.raises(BrokerUnavailableError, match="a receiver of"):
            await receiver.receive(1, 0.1)
        with pytest.raises(BrokerUnavailableError, match="subscribing"):
            await broker.subscribe(Subscription(names.service("own")))
    finally:
        broker._connection.connected.set()
    await broker.ping()


async def test_a_paused_receiver_refuses_at_once_while_the_connection_is_down(broker, names):
    service = names.service("own")
    receiver = await broker.subscribe(Subscription(service, ack_wait=0.3))
    await broker.send(envelope(), service)
    await take_one(receiver)
    await until(lambda: receiver._paused)  # not settled, nothing received since
    broker._connection.connected.clear()  # as while it reconnects
    try:
        async with asyncio.timeout(10):  # consuming again would wait for the connection
            with pytest.raises(BrokerUnavailableError, match="a receiver of"):
                await receiver.receive(1, 0.1)
    finally:
        broker._connection.connected.set()
    assert receiver._paused  # it resumes once it receives on a connection again
    again = await take_one(receiver)
    assert again.attempt == 2
    await again.ack()


async def test_a_serving_whose_connection_was_lost_mid_answer_closes_at_once(broker, names):
    service = names.service("own")
    server = RabbitBroker(URL + "?reconnect_interval=60")  # it stays away for the test
    await server.start()
    answering, release = asyncio.Event(), asyncio.Event()

    async def respond(body: bytes, headers: Mapping[str, str]) -> bytes:
        answering.set()
        await release.wait()
        return body

    await server.serve(service, respond)
    asking = asyncio.create_task(broker.request(service, b"slow", 1.0))
    await answering.wait()
    assert server._connection.transport is not None
    await server._connection.transport.connection.close(ConnectionError("cut by the test"))
    await until(lambda: not server.connected)
    release.set()
    async with asyncio.timeout(10):  # not until the next connection, a minute away
        await server.stop()
    with pytest.raises(RemoteUnavailableError, match="did not answer"):
        await asking  # its requester got no reply, and was told


# -- failures ---------------------------------------------------------------------------------


async def test_a_retry_or_dead_letter_not_published_gives_the_message_back(
    broker, names, monkeypatch
):
    service = names.service("own")
    receiver = await broker.subscribe(Subscription(service, ack_wait=5))
    await broker.send(sent := envelope(), service)

    async def refuse(*args):
        raise BrokerUnavailableError("refused by the test")

    monkeypatch.setattr(broker, "delay", refuse)
    monkeypatch.setattr(broker, "bury", refuse)
    with pytest.raises(BrokerUnavailableError):
        await (await take_one(receiver)).retry(1.0)
    with pytest.raises(BrokerUnavailableError):
        await (await take_one(receiver)).dead_letter("boom")
    last = await take_one(receiver)
    assert (last.envelope, last.attempt) == (sent, 3)
    await last.ack()


async def test_a_foreign_message_not_dead_lettered_goes_back(broker, names, raw, monkeypatch):
    service = names.service("own")
    receiver = await broker.subscribe(Subscription(service, ack_wait=5))
    buried = []

    async def bury(*args):
        buried.append(args)
        if len(buried) == 1:
            raise BrokerUnavailableError("refused by the test")

    monkeypatch.setattr(broker, "bury", bury)
    await raw.default_exchange.publish(aio_pika.Message(b"hello"), f"atoll.{service}")
    await until(lambda: len(buried) == 2)  # refused, given back, and dead-lettered again
    assert await receiver.receive(1, 0.2) == []


async def test_a_queue_still_missing_after_it_was_declared_is_an_error(broker, names, monkeypatch):
    async def declare_nothing(*args):
        return None

    monkeypatch.setattr(broker, "_declare", declare_nothing)
    with pytest.raises(BrokerError, match="no queue even after declaring it"):
        await broker.send(envelope(), names.service("own"))


async def test_closed_channels_make_the_broker_unavailable_not_broken(broker, names):
    service = names.service("own")
    receiver = await broker.subscribe(Subscription(service, ack_wait=5))
    await broker.send(envelope(), service)
    held = await take_one(receiver)
    await receiver._channel.close()
    await held.ack()  # the channel is gone, and so is the delivery: no error
    await broker._publisher.close()
    with pytest.raises(BrokerUnavailableError, match="publish it again"):
        await broker.publish(envelope())
    await broker._admin.close()
    with pytest.raises(BrokerUnavailableError, match="declaring"):
        await broker._declare(f"atoll.{names.service('own')}")


async def test_exchanges_of_another_type_are_an_error(monkeypatch):
    events = f"atoll.events-test-{uuid.uuid4().hex}"
    connection = await aio_pika.connect(URL)
    channel = await connection.channel()
    await channel.declare_exchange(events, aio_pika.ExchangeType.FANOUT, auto_delete=True)
    monkeypatch.setattr(adapter, "EVENTS", events)
    broker = RabbitBroker(URL)
    try:
        with pytest.raises(BrokerError, match="a durable topic exchange"):
            await broker.start()
    finally:
        await channel.exchange_delete(events)
        await connection.close()
    with pytest.raises(BrokerUnavailableError, match="not started"):
        await broker.ping()


async def test_a_binding_the_broker_refuses_is_an_error(broker, names, monkeypatch):
    monkeypatch.setattr(adapter, "EVENTS", f"atoll.no-such-exchange-{uuid.uuid4().hex}")
    with pytest.raises(BrokerError, match="refused subscribing"):
        await broker.subscribe(Subscription(names.service("own"), ("own.t.Happened",)))
    await broker.ping()


# -- requests ---------------------------------------------------------------------------------


async def test_a_failing_responder_answers_nothing_and_serves_on(broker, names, raw, caplog):
    service = names.service("own")
    seen = []

    async def respond(body: bytes, headers: Mapping[str, str]) -> bytes:
        seen.append(body)
        if body == b"fail":
            raise RuntimeError("the responder broke")
        return body

    await broker.serve(service, respond)
    with pytest.raises(RemoteUnavailableError, match="did not answer"):
        await broker.request(service, b"fail", 0.3)
    assert "answering a request to" in caplog.text
    await raw.default_exchange.publish(aio_pika.Message(b"no reply to"), f"atoll.{service}.rpc")
    assert await broker.request(service, b"fine", 5.0) == b"fine"
    assert seen == [b"fail", b"no reply to", b"fine"]


async def test_a_request_in_flight_when_the_broker_stops_is_unavailable(names):
    broker, server = RabbitBroker(URL), RabbitBroker(URL)
    await broker.start()
    await server.start()
    release = asyncio.Event()

    async def respond(body: bytes, headers: Mapping[str, str]) -> bytes:
        await release.wait()
        return body

    try:
        service = names.service("own")
        await server.serve(service, respond)
        asking = asyncio.create_task(broker.request(service, b"x", 10.0))
        await asyncio.sleep(0.2)
        await broker.stop()
        with pytest.raises(RemoteUnavailableError, match="was stopped"):
            await asking
    finally:
        release.set()
        await server.stop()


# -- broadcast --------------------------------------------------------------------------------


async def queue_exists(name: str) -> bool:
    """Whether the queue ``name`` exists (a passive declare, on a connection of its own)."""
    connection = await aio_pika.connect(URL)
    try:
        channel = await connection.channel()
        try:
            await channel.declare_queue(name, passive=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return False
        except aiormq.exceptions.ChannelLockedResource:
            return True  # exclusive: another connection's
        return True
    finally:
        await connection.close()


async def test_a_closed_broadcast_receiver_leaves_no_queue_behind(broker, names):
    topic = names.topic()
    listening = await broker.broadcast([topic])
    assert listening.queue_name.startswith("atoll.broadcast.")
    assert await queue_exists(listening.queue_name)
    await listening.close()
    assert not await queue_exists(listening.queue_name)


async def test_a_stopped_broker_leaves_no_broadcast_queue_behind(names):
    broker = RabbitBroker(URL)
    await broker.start()
    listening = await broker.broadcast([names.topic()])
    await broker.stop()
    assert not await queue_exists(listening.queue_name)


async def test_a_broadcast_receiver_takes_events_again_after_a_lost_connection(names):
    broker = RabbitBroker(URL + "?reconnect_interval=0.2")
    await broker.start()
    try:
        topic = names.topic()
        listening = await broker.broadcast([topic])
        await broker.publish(envelope(topic, 0))
        assert (await take_one(listening)).envelope.type == topic
        assert broker._connection.transport is not None
        await broker._connection.transport.connection.close(ConnectionError("cut by the test"))
        await until(lambda: broker.connected)
        # Restored with the channel: its queue, its binding and its consumer.
        await until_exists(listening.queue_name)
        await broker.publish(sent := envelope(topic, 1))
        again = await take_one(listening)
        assert (again.envelope, again.attempt) == (sent, 1)
    finally:
        await broker.stop()


async def until_exists(name: str, patience: float = 10.0) -> None:
    deadline = time.monotonic() + patience
    while not await queue_exists(name):
        assert time.monotonic() < deadline, f"the queue {name} was not declared again"
        await asyncio.sleep(0.05)
