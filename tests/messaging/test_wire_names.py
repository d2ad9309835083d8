"""A message's name on the wire: its module and class by default, or a name declared for it."""

from dataclasses import dataclass
from typing import ClassVar

import pytest

import atoll
import atoll.testing
from atoll.errors import ConfigError
from atoll.messaging.envelope import message_name, message_type, seal
from atoll.persistence.schema import Schema


@atoll.message("shop.OrderPlaced")
@dataclass(frozen=True)
class OrderPlaced:
    order: int


@dataclass(frozen=True)
class Placed:
    """A consumer's own copy of the contract: another class, the same name and fields."""

    __atoll_message__: ClassVar[str] = "shop.OrderPlaced"

    order: int


@dataclass(frozen=True)
class Plain:
    n: int


def test_a_type_travels_under_its_module_and_class_unless_it_declares_a_name():
    assert message_name(Plain) == f"{__name__}.Plain"
    assert message_name(OrderPlaced) == "shop.OrderPlaced"
    assert message_name(Placed) == "shop.OrderPlaced"  # the attribute the decorator sets
    assert seal(OrderPlaced(1)).type == "shop.OrderPlaced"


def test_a_declared_name_belongs_to_its_class_alone():
    @dataclass(frozen=True)
    class Late(OrderPlaced):
        late: bool = True

    assert message_name(Late).endswith(".Late")


def test_a_declared_type_is_found_by_its_name():
    assert message_type("shop.OrderPlaced") in {OrderPlaced, Placed}
    assert message_type(f"{__name__}.Plain") is Plain


@pytest.mark.parametrize("name", ["", "shop..Placed", "shop Placed", "shop.*", "9lives"])
def test_a_name_no_broker_can_carry_is_refused_where_it_is_declared(name):
    with pytest.raises(ConfigError, match=r"letters, digits and _, in parts joined by \. or -"):
        atoll.message(name)


async def test_a_consumer_takes_a_message_as_its_own_type_of_the_same_name():
    shop = atoll.Service("shop")
    shop.database(Schema())

    @dataclass(frozen=True)
    class Place:
        order: int

    @shop.command(Place)
    async def place(command: Place, uow: atoll.UnitOfWork) -> None:
        async with uow:
            uow.publish(OrderPlaced(command.order))
            await uow.commit()

    billing, shipping = atoll.Service("billing"), atoll.Service("shipping")
    billed, shipped = [], []

    @billing.on(Placed)  # its own class
    async def bill(event: Placed) -> None:
        billed.append(event)

    @shipping.on(OrderPlaced)  # the producer's class, in another service of the process
    async def ship(event: OrderPlaced) -> None:
        shipped.append(event)

    system = atoll.System(shop, billing, shipping, name="shop")
    async with atoll.testing.run(system, argv=["--shop-db-url", "memory://"]) as harness:
        await harness.send(Place(7))
        await harness.settle()
    assert billed == [Placed(7)]
    assert shipped == [OrderPlaced(7)]
