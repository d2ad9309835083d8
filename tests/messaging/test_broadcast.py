"""Broadcast copies settle to nothing, and a receiver's buffer is bounded and ends its waits."""

import asyncio
import logging

import pytest

from atoll.errors import ConfigError
from atoll.messaging.broadcast import BroadcastBuffer, BroadcastCopy, broadcast_topics
from atoll.messaging.broker import Subscription
from atoll.messaging.envelope import Envelope
from atoll.messaging.memory_broker import MemoryBroker


def envelope(n: int, topic: str = "shop.Paid") -> Envelope:
    return Envelope(str(n), topic, b"{}")


async def test_a_copy_is_a_first_delivery_whose_settling_does_nothing():
    copy = BroadcastCopy(envelope(1))
    assert copy.attempt == 1
    await copy.in_progress()
    await copy.retry(1.0)
    await copy.dead_letter("boom")
    await copy.ack()


def test_topics_are_checked_and_kept_once_in_order():
    assert broadcast_topics(["b.B", "a.A", "b.B"]) == ("b.B", "a.A")
    with pytest.raises(ConfigError, match=r"broadcast\(\['a.B'\]\)"):
        broadcast_topics("a.B")
    with pytest.raises(ConfigError, match="none"):
        broadcast_topics([])
    with pytest.raises(ConfigError, match="cannot travel"):
        broadcast_topics(["a b"])


async def test_a_buffer_past_its_bound_drops_the_oldest_and_says_so(caplog):
    buffer = BroadcastBuffer("shop.Paid", held=3)
    for n in range(5):
        buffer.put(envelope(n))
    assert len(buffer) == 3
    got = await buffer.receive(10, 0)
    assert [r.envelope.id for r in got] == ["2", "3", "4"]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2  # once when it starts dropping, once with the count
    assert "dropped 2 events" in warned[1]


async def test_a_receive_waiting_returns_at_the_first_copy():
    buffer = BroadcastBuffer("shop.Paid")
    waiting = asyncio.ensure_future(buffer.receive(10, 10.0))
    await asyncio.sleep(0)
    buffer.put(envelope(1))
    async with asyncio.timeout(1):
        [received] = await waiting
    assert received.envelope.id == "1"


async def test_closing_ends_the_receives_waiting_and_drops_what_was_held():
    buffer = BroadcastBuffer("shop.Paid")
    waiting = asyncio.ensure_future(buffer.receive(10, 10.0))
    await asyncio.sleep(0)
    buffer.close()
    async with asyncio.timeout(1):
        assert await waiting == []
    buffer.put(envelope(1))
    assert await buffer.receive(10, 0.05) == []


async def test_a_publish_until_handled_waits_for_the_services_not_for_the_broadcasts():
    broker = MemoryBroker("memory://", until_handled=True)
    await broker.start()
    shop = await broker.subscribe(Subscription("shop", ("shop.Paid",)))
    listening = await broker.broadcast(["shop.Paid"])
    publishing = broker.publish(envelope(1))
    [received] = await shop.receive(10, 1.0)
    await received.ack()
    async with asyncio.timeout(1):
        await publishing  # the broadcast copy is not received yet
    [copy] = await listening.receive(10, 1.0)
    assert copy.envelope.id == "1"
    await broker.stop()


async def test_stopping_the_memory_broker_closes_its_broadcast_receivers():
    broker = MemoryBroker("memory://")
    await broker.start()
    listening = await broker.broadcast(["shop.Paid"])
    await broker.stop()
    assert broker.state.listeners == {}
    assert await listening.receive(10, 0.05) == []
