"""What the observability tests share: a service's ASGI app, served to an httpx client."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

import atoll
from atoll.endpoints.http.asgi import HttpApp
from atoll.kernel.entrypoint import load_config, running
from atoll.service.composition import compose

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def client_of(
    service: atoll.Service, *argv: str, client: tuple[str, int] = ("127.0.0.1", 123)
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client of ``service``'s HTTP app, configured by ``argv``, from ``client``."""
    app = compose(service.name, [service], serve=False)
    config = load_config(app, list(argv), {})
    async with running(app, config) as container:
        http = await container.aget(HttpApp)
        transport = httpx.ASGITransport(app=http, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as served:
            yield served


def items() -> atoll.Service:
    """``shop``: an item by its id over REST, a route that fails as a bug would, ``double``."""
    service = atoll.Service("shop")

    @service.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @service.get("/crash")
    async def crash() -> None:
        raise RuntimeError("broken")

    @service.rpc
    async def double(value: int) -> int:
        return 2 * value

    return service


@dataclass(frozen=True)
class Ordered:
    """The event ``shop`` publishes and ``mail`` handles."""

    item: str


def shop_and_mail(outcomes: dict[str, int]) -> tuple[atoll.Service, atoll.Service, asyncio.Event]:
    """``shop``, whose ``order`` publishes :class:`Ordered`, and ``mail``, which handles it.

    ``shop``'s ``ask_mail`` calls ``mail``'s ``ping``, over the broker.

    ``mail`` fails on a ``poison`` item (every delivery), counting each in ``outcomes``; the
    event is set on its second delivery, or once a ``pen`` is handled.
    """
    shop, mail = atoll.Service("shop"), atoll.Service("mail")
    shop.database(atoll.Schema())
    done = asyncio.Event()

    @shop.rpc
    async def order(item: str, uow: atoll.UnitOfWork) -> None:
        async with uow:
            uow.publish(Ordered(item))
            await uow.commit()

    @shop.rpc
    async def ask_mail(clients: atoll.Clients) -> str:
        return str(await clients.get("mail").methods.ping())

    @mail.rpc
    async def ping() -> str:
        return "pong"

    @mail.on(Ordered)
    async def mail_it(event: Ordered) -> None:
        outcomes[event.item] = outcomes.get(event.item, 0) + 1
        if event.item == "poison":
            if outcomes[event.item] == 2:
                done.set()
            raise ValueError("cannot mail poison")
        if event.item == "pen":
            done.set()

    return shop, mail, done
