"""Broadcast handlers: every running instance of a service handles each event, once."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import pytest

import atoll
from atoll.messaging.broker import Broker
from atoll.messaging.envelope import message_name, seal
from atoll.messaging.options import BrokerOptions
from atoll.service.broker_link import BrokerLink, broadcast_topics_of, subscription_of
from atoll.testing import run

LIMIT = 10.0
"""The longest any wait here may take: a bug fails the test rather than hang it."""


@dataclass(frozen=True)
class PriceChanged:
    """A product's price changed: every instance's cache of it is stale."""

    sku: str


class Seen:
    """What each instance's handlers took, and an event set once ``expected`` were taken."""

    def __init__(self, expected: int) -> None:
        self.taken: list[tuple[str, str, str]] = []
        self.expected = expected
        self.done = asyncio.Event()

    def add(self, *entry: str) -> None:
        self.taken.append(entry)
        if len(self.taken) >= self.expected:
            self.done.set()


def prices(seen: Seen, instance: str, name: str = "prices") -> atoll.Service:
    """``prices``: ``forget`` on every instance, ``count`` on one of them."""
    service = atoll.Service(name)

    @service.on(PriceChanged, broadcast=True)
    async def forget(event: PriceChanged) -> None:
        seen.add("forget", instance, event.sku)

    @service.on(PriceChanged)
    async def count(event: PriceChanged) -> None:
        seen.add("count", instance, event.sku)

    return service


def test_a_broadcast_handler_takes_its_events_apart_from_the_services_queue():
    service = prices(Seen(0), "a")
    subscription = subscription_of(service, BrokerOptions())
    # count takes it from the service's queue, forget from the broadcast: one topic each way.
    assert subscription is not None
    assert subscription.events == (message_name(PriceChanged),)
    assert broadcast_topics_of(service) == [message_name(PriceChanged)]

    only_broadcast = atoll.Service("cache")

    @only_broadcast.on(PriceChanged, broadcast=True)
    async def drop(event: PriceChanged) -> None: ...

    # Nothing for the shared queue: no subscription at all.
    assert subscription_of(only_broadcast, BrokerOptions()) is None
    assert broadcast_topics_of(only_broadcast) == [message_name(PriceChanged)]


BROKERS = [
    pytest.param("memory://broadcast", id="memory"),
    pytest.param("nats://127.0.0.1:4222", id="nats", marks=pytest.mark.services("nats")),
    pytest.param(
        "amqp://guest:guest@127.0.0.1:5672/",
        id="rabbitmq",
        marks=pytest.mark.services("rabbitmq"),
    ),
    pytest.param("redis://127.0.0.1:6379/5", id="redis", marks=pytest.mark.services("redis")),
]


@pytest.mark.parametrize("url", BROKERS)
async def test_every_instance_runs_its_broadcast_handler_and_one_runs_the_others(url):
    seen = Seen(expected=3)  # forget on a and b, count on one of them
    name = f"prices-{uuid.uuid4().hex[:8]}"  # a queue of its own on a broker that keeps them
    if url.startswith("memory://"):
        url = f"{url}-{name}"
    sku = uuid.uuid4().hex  # the event of this run, whatever else the topic carries
    flags = ["--broker-url", url]
    async with (
        run(prices(seen, "a", name), argv=flags) as a,
        run(prices(seen, "b", name), argv=flags),
    ):
        broker = await a.container.aget(Broker)
        await broker.publish(seal(PriceChanged(sku)))
        await asyncio.wait_for(seen.done.wait(), LIMIT)
        link = await a.container.aget(BrokerLink)
        assert [consumer.topics for consumer in link.broadcasts] == [(message_name(PriceChanged),)]
    ours = [entry for entry in seen.taken if entry[2] == sku]
    forgotten = sorted(entry for entry in ours if entry[0] == "forget")
    counted = [entry for entry in ours if entry[0] == "count"]
    assert forgotten == [("forget", "a", sku), ("forget", "b", sku)]
    assert len(counted) == 1


async def test_an_event_raised_in_the_process_reaches_its_broadcast_handler_there():
    seen = Seen(expected=2)
    async with run(prices(seen, "a")) as a:
        await a.bus.publish(PriceChanged("ink"))
        await asyncio.wait_for(seen.done.wait(), LIMIT)
    assert sorted(seen.taken) == [("count", "a", "ink"), ("forget", "a", "ink")]


@pytest.mark.parametrize("broadcast", [True, False])
def test_the_handler_says_whether_it_broadcasts(broadcast):
    service = atoll.Service("cache")

    @service.on(PriceChanged, broadcast=broadcast)
    async def drop(event: PriceChanged) -> None: ...

    (handler,) = service.handlers
    assert handler.broadcast is broadcast
