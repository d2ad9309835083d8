"""The three HTTP scenarios on Starlette, the best general-purpose peer.

Starlette validates nothing by itself, so it gets the codec the raw app and atoll use: msgspec
decodes the POST body into the same frozen dataclass and encodes every answer. What is
measured against the raw app is then Starlette's own layer: routing, ``Request`` and
``Response`` objects and its middleware stack. The JSON-RPC endpoint is the raw app's handler
(``raw.call``) behind a Starlette route, for the same reason.

Served by ``uvicorn starlette_app:app --app-dir benchmarks/http_apps`` (see ``bench_http.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from raw import Item, NewItem, call, encode
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

if TYPE_CHECKING:
    from starlette.requests import Request

decode_new_item = msgspec.json.Decoder(NewItem).decode


def json_response(body: bytes, status: int = 200) -> Response:
    """A response whose body msgspec already encoded."""
    return Response(body, status_code=status, media_type="application/json")


async def get_item(request: Request) -> Response:
    """``GET /items/{item_id}``."""
    item_id: int = request.path_params["item_id"]
    return json_response(encode(Item(item_id, f"item {item_id}", 9.99)))


async def add_item(request: Request) -> Response:
    """``POST /items`` with a typed body."""
    try:
        new = decode_new_item(await request.body())
    except msgspec.DecodeError as exc:
        return json_response(encode({"detail": str(exc)}), 422)
    return json_response(encode(Item(1, new.name, new.price, new.tags)), 201)


async def rpc(request: Request) -> Response:
    """``POST /rpc``: one JSON-RPC 2.0 call."""
    answer = call(await request.body())
    if answer is None:
        return Response(status_code=204)
    return json_response(answer)


app = Starlette(
    routes=[
        Route("/items/{item_id:int}", get_item, methods=["GET"]),
        Route("/items", add_item, methods=["POST"]),
        Route("/rpc", rpc, methods=["POST"]),
    ]
)
