"""The in-memory broker passes the broker contract, and keeps named brokers apart."""

import asyncio
import uuid

import pytest

from atoll.errors import BrokerUnavailableError, ConfigError
from atoll.messaging.broker import Subscription
from atoll.messaging.envelope import Envelope
from atoll.messaging.memory_broker import MemoryBroker
from atoll.testing.broker_contract import BrokerContract


class TestMemory(BrokerContract):
    @pytest.fixture
    def broker_url(self):
        return f"memory://contract-{uuid.uuid4().hex}"

    async def test_an_unreachable_broker_is_named_without_its_password(self):
        # Memory is always in reach; what stands for it is a stopped broker, which refuses.
        broker = MemoryBroker("memory://")
        await broker.start()
        await broker.stop()
        with pytest.raises(BrokerUnavailableError, match="memory:// is stopped"):
            await broker.publish(Envelope("1", "a.B", b"{}"))
        with pytest.raises(BrokerUnavailableError):
            await broker.ping()


def test_a_url_of_another_scheme_is_refused():
    with pytest.raises(ConfigError, match="memory://NAME"):
        MemoryBroker("nats://x")


async def test_brokers_of_one_name_share_and_others_do_not():
    name = uuid.uuid4().hex
    one, same, apart = (
        MemoryBroker(f"memory://{name}"),
        MemoryBroker(f"memory://{name}"),
        MemoryBroker("memory://"),
    )
    for broker in (one, same, apart):
        await broker.start()
    here = await same.subscribe(Subscription("svc"))
    there = await apart.subscribe(Subscription("svc"))
    await one.send(Envelope("1", "a.B", b"{}"), "svc")
    [received] = await here.receive(1, 1.0)
    assert received.envelope.id == "1"
    assert await there.receive(1, 0.05) == []


WAIT = 5.0


def envelope(n=1):
    return Envelope(str(n), "a.B", b"{}")


async def test_a_declared_queue_keeps_what_is_published_before_its_consumer_subscribes():
    broker = MemoryBroker()
    await broker.start()
    broker.declare(Subscription("svc", ("a.B",)))
    await broker.publish(envelope())
    receiver = await broker.subscribe(Subscription("svc", ("a.B",)))
    [received] = await receiver.receive(5, WAIT)
    assert received.envelope.id == "1"


async def test_a_publish_until_handled_returns_once_the_first_delivery_is_settled():
    broker = MemoryBroker(until_handled=True)
    await broker.start()
    receiver = await broker.subscribe(Subscription("svc", ("a.B",)))
    publishing = asyncio.ensure_future(broker.publish(envelope()))
    [first] = await receiver.receive(1, WAIT)
    assert not publishing.done()
    await first.retry(0)  # failed, and due again: settled for the publisher
    await asyncio.wait_for(publishing, WAIT)
    [second] = await receiver.receive(1, WAIT)
    assert second.attempt == 2
    publishing = asyncio.ensure_future(broker.publish(envelope(2)))
    [third] = await receiver.receive(1, WAIT)
    await third.ack()
    await asyncio.wait_for(publishing, WAIT)


async def test_a_publish_until_handled_follows_its_message_given_back_unhandled():
    broker = MemoryBroker(until_handled=True)
    await broker.start()
    receiver = await broker.subscribe(Subscription("svc", ("a.B",)))
    publishing = asyncio.ensure_future(broker.publish(envelope()))
    [first] = await receiver.receive(1, WAIT)
    first.give_back()  # as when its ack wait passes: not handled yet
    [again] = await receiver.receive(1, WAIT)
    assert not publishing.done()
    await again.dead_letter("no good")
    await asyncio.wait_for(publishing, WAIT)


async def test_a_publish_until_handled_fails_once_the_consumers_stopped():
    broker = MemoryBroker(until_handled=True)
    await broker.start()
    receiver = await broker.subscribe(Subscription("svc", ("a.B",)))
    publishing = asyncio.ensure_future(broker.publish(envelope()))
    [_in_hand] = await receiver.receive(1, WAIT)
    await receiver.close()  # gives it back, unhandled, to no consumer
    with pytest.raises(BrokerUnavailableError, match=r"no consumer of svc .* the outbox keeps"):
        await asyncio.wait_for(publishing, WAIT)
    with pytest.raises(BrokerUnavailableError, match="no consumer of svc"):
        await broker.publish(envelope(2))
    await broker.publish(Envelope("3", "a.Other", b"{}"))  # nobody takes it: nothing to wait for


async def test_settled_waits_until_every_message_is_acknowledged_or_dead_lettered():
    broker = MemoryBroker()
    await broker.start()
    receiver = await broker.subscribe(Subscription("svc"))
    await broker.settled(["svc", "nobody"])  # nothing put yet
    await broker.send(envelope(1), "svc")
    await broker.send(envelope(2), "svc")
    settling = asyncio.ensure_future(broker.settled(["svc"]))
    first, second = await receiver.receive(2, WAIT)
    await first.ack()
    await second.retry(0)
    [again] = await receiver.receive(1, WAIT)
    assert not settling.done()
    await again.dead_letter("no good")
    await asyncio.wait_for(settling, WAIT)
    assert await broker.redrive("svc") == 1
    settling = asyncio.ensure_future(broker.settled(["svc"]))
    [redriven] = await receiver.receive(1, WAIT)
    assert not settling.done()
    await redriven.ack()
    await asyncio.wait_for(settling, WAIT)
