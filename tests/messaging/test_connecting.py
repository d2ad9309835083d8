"""A broker out of reach at start: the service starts anyway, and it connects in the background."""

import asyncio
import logging
from dataclasses import dataclass

import pytest

from atoll.errors import BrokerUnavailableError
from atoll.messaging.broker import Subscription
from atoll.messaging.connecting import ConnectingBroker
from atoll.messaging.envelope import message_name, seal
from atoll.messaging.memory_broker import MemoryBroker


@dataclass(frozen=True)
class Paid:
    order: int


class Away(MemoryBroker):
    """A memory broker that does not answer until it is told it is back."""

    def __init__(self) -> None:
        super().__init__("memory://away")
        self.back = False
        self.attempts = 0

    async def start(self) -> None:
        self.attempts += 1
        if not self.back:
            raise BrokerUnavailableError("cannot reach the broker at nats://10.0.0.9:4222")
        await super().start()


async def until(condition, patience=10.0):
    for _ in range(int(patience / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def test_it_starts_while_the_broker_is_away_and_connects_once_it_answers(caplog):
    caplog.set_level(logging.INFO, "atoll.broker")
    inner = Away()
    broker = ConnectingBroker(inner, backoff=0.01, longest=0.02)
    await broker.start()  # no error: the service goes on starting
    assert not broker.connected
    with pytest.raises(BrokerUnavailableError, match="has not answered since this service"):
        await broker.ping()
    with pytest.raises(BrokerUnavailableError, match=f"cannot publish {message_name(Paid)}"):
        await broker.publish(seal(Paid(1)))
    await until(lambda: inner.attempts >= 5)
    inner.back = True
    await asyncio.wait_for(broker.wait_connected(), 10)
    assert broker.connected
    await broker.ping()
    receiver = await broker.subscribe(Subscription("shop", (message_name(Paid),)))
    await broker.publish(seal(Paid(2)))
    [received] = await receiver.receive(10, 1.0)
    await received.ack()
    await broker.stop()
    told = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in told] == ["WARNING", "INFO"]  # once away, once back
    assert "cannot reach its broker" in told[0][1]
    assert "nats://10.0.0.9:4222" in told[0][1]


async def test_every_call_is_refused_at_once_until_it_connects():
    broker = ConnectingBroker(Away(), backoff=60)
    await broker.start()
    calls = [
        broker.send(seal(Paid(1)), "shop"),
        broker.subscribe(Subscription("shop")),
        broker.broadcast(["shop.Paid"]),
        broker.request("shop", b"{}", 1.0),
        broker.serve("shop", lambda body, headers: body),
        broker.dead_letters("shop"),
        broker.redrive("shop"),
        broker.purge("shop"),
    ]
    for call in calls:
        with pytest.raises(BrokerUnavailableError, match="connects by itself"):
            await call
    await broker.stop()  # stops connecting; nothing to close
    assert repr(broker) == f"ConnectingBroker({broker.broker!r})"


async def test_a_broker_that_answers_at_once_is_the_adapter_itself():
    inner = Away()
    inner.back = True
    broker = ConnectingBroker(inner)
    await broker.start()
    assert broker.connected
    assert broker.describe() == inner.describe()
    await broker.send(seal(Paid(1)), "shop")
    assert await broker.dead_letters("shop") == []
    assert await broker.redrive("shop") == 0
    assert await broker.purge("shop") == 0
    await broker.stop()
    assert inner.stopped


async def test_a_connected_broker_passes_a_request_and_its_headers_on():
    inner = Away()
    inner.back = True
    broker = ConnectingBroker(inner)
    await broker.start()
    seen = []

    async def respond(body, headers):
        seen.append(dict(headers))
        return b"re:" + body

    await broker.serve("shop", respond)
    assert await broker.request("shop", b"{}", 5.0, {"authorization": "Bearer t"}) == b"re:{}"
    assert await broker.request("shop", b"{}", 5.0) == b"re:{}"
    await broker.stop()
    assert seen == [{"authorization": "Bearer t"}, {}]
