"""The kitchen service: it makes what the orders service took."""

import logging

import atoll

from .messages import OrderPlaced

log = logging.getLogger("kitchen")

service = atoll.Service("kitchen", version="1.0.0", description="Makes the café's orders.")


@service.on(OrderPlaced)
async def make(event: OrderPlaced) -> None:
    """Start on an order as soon as it is placed."""
    log.info("making %d x %s for order %d", event.quantity, event.item, event.order_id)
