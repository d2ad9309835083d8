"""The café's messages: plain dataclasses, which import nothing."""

from dataclasses import dataclass


@dataclass(frozen=True)
class PlaceOrder:
    """A command: order something."""

    item: str
    quantity: int


@dataclass(frozen=True)
class OrderPlaced:
    """An event: an order was placed."""

    order_id: int
    item: str
    quantity: int
