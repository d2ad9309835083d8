"""The bus delivers envelopes, skips messages already handled, and retries conflicts."""

import logging
import time
from dataclasses import dataclass

import pytest

from atoll.errors import (
    ConflictError,
    DeliveryError,
    DuplicateMessageError,
    TooManyConflictsError,
)
from atoll.messaging.envelope import CREATED_AT, NO_DELIVERY, Delivery, message_name, seal
from atoll.messaging.handlers import Handler, HandlerKind
from atoll.messaging.publishing import Redeliveries
from tests.messaging.consumer_doubles import Shipped, bound


@dataclass(frozen=True)
class Ship:
    order: int


def on(function, message=Shipped, kind=HandlerKind.EVENT):
    return Handler(function, kind, function.__name__, "shop", message)


def test_a_message_travels_under_its_module_and_name():
    assert message_name(Shipped) == "tests.messaging.consumer_doubles.Shipped"
    before = time.time()
    envelope = seal(Shipped(3), stream="Order:3", headers={"sender": "shop"})
    assert (envelope.type, envelope.payload, envelope.stream) == (
        "tests.messaging.consumer_doubles.Shipped",
        b'{"order":3}',
        "Order:3",
    )
    headers = dict(envelope.headers)
    assert before <= float(headers.pop(CREATED_AT)) <= time.time()  # sealed now
    assert headers == {"sender": "shop"}
    assert seal(Shipped(3)).id != envelope.id


async def test_deliver_gives_each_handler_the_message_and_its_delivery():
    seen = []

    async def notify(event: Shipped, delivery: Delivery) -> None:
        seen.append(("notify", event, delivery))

    async def invoice(event: Shipped, delivery: Delivery) -> None:
        seen.append(("invoice", event, delivery))

    bus = bound(on(notify), on(invoice))
    envelope = seal(Shipped(5), headers={"sender": "orders"})
    assert await bus.deliver(envelope) is True
    sent = envelope.headers  # its sender, and when it was sealed
    assert seen == [
        ("notify", Shipped(5), Delivery(envelope.id, "shop.notify", sent)),
        ("invoice", Shipped(5), Delivery(envelope.id, "shop.invoice", sent)),
    ]
    assert sent["sender"] == "orders"


async def test_deliver_of_a_type_nobody_handles_here_is_false():
    async def notify(event: Shipped) -> None: ...

    bus = bound(on(notify))
    assert await bus.deliver(seal(Ship(1))) is False


async def test_a_call_that_consumes_no_delivery_sees_none():
    seen = []

    async def ship(command: Ship, delivery: Delivery) -> None:
        seen.append(delivery)

    bus = bound(on(ship, Ship, HandlerKind.COMMAND))
    await bus.handle(Ship(1))
    assert seen == [NO_DELIVERY]
    assert NO_DELIVERY.message_id is None


async def test_a_duplicate_is_skipped_quietly_and_the_others_still_run(caplog):
    seen = []

    async def notify(event: Shipped, delivery: Delivery) -> None:
        raise DuplicateMessageError("seen")

    async def invoice(event: Shipped) -> None:
        seen.append(event)

    bus = bound(on(notify), on(invoice))
    with caplog.at_level(logging.DEBUG, "atoll.bus"):
        await bus.deliver(seal(Shipped(1)))
    assert seen == [Shipped(1)]
    assert "skipped Shipped: its effect is already committed" in caplog.text
    assert "ERROR" not in caplog.text


async def test_a_conflict_runs_the_handler_again_in_a_new_scope():
    runs = []

    async def ship(command: Ship, delivery: Delivery) -> int:
        runs.append(command)
        if len(runs) < 3:
            raise ConflictError("lost the race", retries=5, backoff=0.0)
        return len(runs)

    bus = bound(on(ship, Ship, HandlerKind.COMMAND))
    assert await bus.handle(Ship(1)) == 3


async def test_a_conflict_with_no_retries_allowed_is_raised_as_it_is():
    async def ship(command: Ship, delivery: Delivery) -> None:
        raise ConflictError("lost", retries=0)

    bus = bound(on(ship, Ship, HandlerKind.COMMAND))
    with pytest.raises(ConflictError) as raised:
        await bus.handle(Ship(1))
    assert type(raised.value) is ConflictError


async def test_when_retries_run_out_the_error_says_so():
    runs = []

    async def ship(command: Ship, delivery: Delivery) -> None:
        runs.append(1)
        raise ConflictError("version 3 is not 2", retries=2, backoff=0.0)

    bus = bound(on(ship, Ship, HandlerKind.COMMAND))
    with pytest.raises(TooManyConflictsError, match="on each of its 3 runs, and gave up") as e:
        await bus.handle(Ship(1))
    assert len(runs) == 3
    assert "version 3 is not 2" in str(e.value)
    assert "conflict-retries" in str(e.value)


async def test_too_many_conflicts_from_inside_is_not_retried_again():
    runs = []

    async def ship(command: Ship, delivery: Delivery) -> None:
        runs.append(1)
        raise TooManyConflictsError("inner gave up", retries=9)

    bus = bound(on(ship, Ship, HandlerKind.COMMAND))
    with pytest.raises(TooManyConflictsError, match="inner gave up"):
        await bus.handle(Ship(1))
    assert runs == [1]


async def test_a_failed_handler_is_raised_once_the_others_have_run(caplog):
    seen = []

    async def notify(event: Shipped) -> None:
        raise RuntimeError("mail server away")

    async def invoice(event: Shipped) -> None:
        seen.append(event)

    bus = bound(on(notify), on(invoice))
    envelope = seal(Shipped(4))
    with pytest.raises(DeliveryError, match=r"1 handler\(s\) failed on .*Shipped") as raised:
        await bus.deliver(envelope)
    assert envelope.id in str(raised.value)
    assert "'notify'" in str(raised.value)
    assert str(raised.value).endswith("notify): RuntimeError: mail server away")  # why, too
    assert seen == [Shipped(4)]
    assert "mail server away" in caplog.text


def test_redeliveries_remember_who_failed_once_and_forget_the_oldest_past_their_bound():
    redeliveries = Redeliveries(most=2)
    for envelope_id in ("a", "b", "c"):
        redeliveries.failed(envelope_id, DeliveryError("x", failed=(f"shop.{envelope_id}",)))
    assert redeliveries.only("a") is None  # forgotten: delivered to all again
    assert redeliveries.only("b") == ("shop.b",)
    assert redeliveries.only("b") is None  # once
    redeliveries.forget("c")
    assert redeliveries.only("c") is None
