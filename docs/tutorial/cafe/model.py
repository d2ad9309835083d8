"""The café's model: the order, which raises OrderPlaced; no framework."""

from dataclasses import dataclass, field

from .messages import OrderPlaced


@dataclass
class Order:
    """An order, as its customer placed it; the database assigns the id of a new one."""

    id: int | None
    item: str
    quantity: int
    events: list[object] = field(default_factory=list, compare=False, repr=False)

    def place(self) -> None:
        """Raise OrderPlaced, once the order has its id."""
        if self.id is None:
            raise ValueError("an order is placed once its repository added it")
        self.events.append(OrderPlaced(self.id, self.item, self.quantity))
