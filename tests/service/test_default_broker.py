"""The default broker, ``memory://``: the same delivery path as every other broker URL.

The relay publishes to a memory broker of the application's own, and each service consumes
from it through the consumer loop: the same retries, delivery limit and dead-letter queue as
on a real broker; the outbox keeps an event until its first delivery is settled.
"""

import asyncio
from dataclasses import dataclass, field

import pytest

import atoll
from atoll.errors import RemoteUnavailableError
from atoll.kernel.health import Readiness
from atoll.messaging.broker import Broker
from atoll.messaging.memory_broker import MemoryBroker
from atoll.messaging.options import BrokerOptions
from atoll.persistence.ports import Database
from atoll.service.broker_link import BrokerLink
from atoll.testing import run

WAIT = 10.0
"""Seconds a wait lasts at the most."""


@dataclass
class Parcel:
    id: int | None
    events: list[object] = field(default_factory=list, compare=False, repr=False)


@dataclass(frozen=True)
class Label:
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Noted:
    parcel: int
    text: str


class ParcelUnits(atoll.UnitOfWork):
    parcels: atoll.Repository[Parcel]


def post_office():
    """A service whose command notes each text on one parcel: events of one stream."""
    schema = atoll.Schema()
    schema.map(Parcel)
    service = atoll.Service("post")
    service.database(schema, ParcelUnits)

    @service.command(Label)
    async def label(command: Label, uow: ParcelUnits) -> int:
        async with uow:
            parcel = await uow.parcels.add(Parcel(None))
            parcel.events.extend(Noted(parcel.id, text) for text in command.notes)
            await uow.commit()
        return parcel.id

    return service


async def test_a_handler_that_always_fails_is_dead_lettered_and_its_stream_goes_on():
    service = post_office()
    calls: list[str] = []

    @service.on(Noted)
    async def file_note(event: Noted) -> None:
        calls.append(event.text)
        if event.text == "poison":
            raise RuntimeError("cannot file poison")

    argv = ["--db-url", "memory://", "--broker-deliveries", "3"]
    # A backoff long beside the handling of one event: the one after the poison is handled
    # while the poison waits for its next delivery.
    argv += ["--broker-retry-backoff", "0.5", "--broker-retry-longest", "0.5"]
    async with run(service, argv=argv) as harness:
        await harness.send(Label(("poison", "after")))  # returns once dead-lettered
        assert calls.count("poison") == 3
        assert calls.count("after") == 1
        assert calls.index("after") < len(calls) - 1  # before the poison's last delivery
        broker = harness.container.get(Broker)
        [letter] = await broker.dead_letters("post")
        assert letter.deliveries == 3
        assert letter.envelope.stream == "Parcel:1"
        assert "RuntimeError: cannot file poison" in letter.error
        assert await broker.redrive("post") == 1
        await harness.settle()
        assert calls.count("poison") == 6  # redriven: three deliveries more, then dead again
        assert len(await broker.dead_letters("post")) == 1


async def test_a_redelivery_goes_to_the_handlers_that_failed_only():
    service = post_office()
    runs = {"file": 0, "count": 0}

    @service.on(Noted)
    async def file_note(event: Noted) -> None:
        runs["file"] += 1
        if runs["file"] == 1:
            raise RuntimeError("cabinet locked")

    @service.on(Noted)
    async def count_note(event: Noted) -> None:
        runs["count"] += 1

    async with run(service, argv=["--db-url", "memory://"]) as harness:
        await harness.send(Label(("one",)))
        assert runs == {"file": 2, "count": 1}
        assert await harness.container.get(Broker).dead_letters("post") == []


async def test_an_event_stays_in_the_outbox_until_its_first_delivery_is_settled():
    service = post_office()
    entered, release = asyncio.Event(), asyncio.Event()

    @service.on(Noted)
    async def file_note(event: Noted) -> None:
        entered.set()
        await asyncio.wait_for(release.wait(), WAIT)

    async with run(service, argv=["--db-url", "memory://"]) as harness:
        database = harness.container.get(Database, "post")
        sending = asyncio.ensure_future(harness.send(Label(("slow",))))
        await asyncio.wait_for(entered.wait(), WAIT)
        # In hand: a crash now would lose it from memory, so the outbox still has it.
        assert len(database.unsent()) == 1
        release.set()
        await asyncio.wait_for(sending, WAIT)
        assert database.unsent() == []


async def test_the_default_broker_is_the_applications_own_and_serves_no_rpc():
    service = post_office()

    @service.on(Noted)
    async def file_note(event: Noted) -> None:
        pass

    @service.rpc
    async def ping() -> str:
        return "pong"

    async with run(service, argv=["--db-url", "memory://"]) as harness:
        options = harness.container.get(BrokerOptions)
        broker = harness.container.get(Broker)
        link = harness.container.get(BrokerLink)
        assert options.private
        assert isinstance(broker, MemoryBroker)
        assert broker.until_handled
        assert [consumer.service for consumer in link.consumers] == ["post"]
        assert "broker" not in (await harness.container.get(Readiness).report()).checks
        with pytest.raises(RemoteUnavailableError, match="no instance of 'post' serves"):
            await broker.request("post", b"{}", 1.0)
    async with (
        run(service, argv=["--db-url", "memory://"]) as first,
        run(service, argv=["--db-url", "memory://"]) as second,
    ):
        assert first.container.get(Broker) is not second.container.get(Broker)
