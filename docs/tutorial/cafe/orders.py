"""The orders service: it takes orders over HTTP and keeps them."""

import atoll

from .messages import PlaceOrder
from .model import Order
from .tables import schema


class UnknownOrderError(LookupError):
    """No order has the id asked for."""


class OrdersUnitOfWork(atoll.UnitOfWork):
    """The orders service's unit of work: its repositories, by annotation."""

    orders: atoll.Repository[Order]


service = atoll.Service("orders", version="1.0.0", description="Takes the café's orders.")
service.database(schema, OrdersUnitOfWork)
service.error(UnknownOrderError, status=404)


@service.command(PlaceOrder, path="/orders", status=201)
async def place_order(command: PlaceOrder, uow: OrdersUnitOfWork) -> Order:
    """Place an order; OrderPlaced goes out with the commit."""
    async with uow:
        order = await uow.orders.add(Order(None, command.item, command.quantity))
        order.place()
        await uow.commit()
    return order


@service.get("/orders/{order_id}")
async def get_order(order_id: int, uow: OrdersUnitOfWork) -> Order:
    """An order, by its id.

    Raises:
        UnknownOrderError: no order has this id.
    """
    async with uow:
        order = await uow.orders.get(order_id)
    if order is None:
        raise UnknownOrderError(f"no order has the id {order_id}")
    return order
