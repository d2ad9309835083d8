"""The in-memory broker passes the broker contract, and keeps named brokers apart."""

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
