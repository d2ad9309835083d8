"""The three HTTP scenarios on atoll, written as a user of atoll writes a service.

Plain frozen dataclasses for the model, one ``Service`` exposing a REST read, a REST create
with a typed body and a JSON-RPC procedure; ``service.asgi()`` is the ASGI app (its lifespan
starts and stops the service).

Served three ways (see ``bench_http.py``): ``atoll run atoll_app:service`` and ``python -m
atoll_app``, the entries users run, and ``uvicorn atoll_app:app`` on ``service.asgi()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import atoll


@dataclass(frozen=True)
class Item:
    """An item as the API answers it."""

    id: int
    name: str
    price: float
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NewItem:
    """The typed body of ``POST /items``."""

    name: str
    price: float
    tags: list[str] = field(default_factory=list)


service = atoll.Service("bench", version="1.0.0")


@service.get("/items/{item_id}")
async def get_item(item_id: int) -> Item:
    """``GET /items/{item_id}``."""
    return Item(id=item_id, name=f"item {item_id}", price=9.99)


@service.post("/items", status=201)
async def add_item(item: NewItem) -> Item:
    """``POST /items`` with a typed body."""
    return Item(id=1, name=item.name, price=item.price, tags=item.tags)


@service.rpc
async def add(a: int, b: int) -> int:
    """The one procedure: the sum of two integers."""
    return a + b


app = service.asgi()

if __name__ == "__main__":  # python -m atoll_app, as a user runs a service
    atoll.main(service)
