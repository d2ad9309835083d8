"""The limit: a raw ASGI app on msgspec, no framework, for the three HTTP scenarios.

It does the same work as the framework apps beside it and nothing more: route by method and
path, decode and validate the POST body into the same frozen dataclass atoll uses (msgspec
decodes into dataclasses with type checks), and encode the answer with msgspec. The JSON-RPC
handler is minimal but correct for single calls: it validates the envelope, answers the
spec's errors (parse, invalid request, method not found, invalid params) and stays silent for
notifications; batches are out of its scope.

Served by ``uvicorn raw:app --app-dir benchmarks/http_apps`` (see ``bench_http.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON = [(b"content-type", b"application/json")]
ITEMS_PREFIX = "/items/"


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


class RpcRequest(msgspec.Struct, frozen=True):
    """A JSON-RPC 2.0 request object; ``id`` is unset for a notification."""

    jsonrpc: Literal["2.0"]
    method: str
    params: dict[str, Any] | list[Any] = msgspec.field(default_factory=dict)
    id: int | str | msgspec.UnsetType | None = msgspec.UNSET


class AddParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The parameters of ``add``."""

    a: int
    b: int


def add(params: AddParams) -> int:
    """The one procedure: the sum of two integers."""
    return params.a + params.b


encode = msgspec.json.Encoder().encode
decode_new_item = msgspec.json.Decoder(NewItem).decode
decode_rpc = msgspec.json.Decoder(RpcRequest).decode


async def read_body(receive: Receive) -> bytes:
    """The whole request body, however many messages it came in."""
    message = await receive()
    body: bytes = message.get("body", b"")
    while message.get("more_body", False):
        message = await receive()
        body += message.get("body", b"")
    return body


async def respond(send: Send, status: int, body: bytes) -> None:
    """Send a JSON response with its length."""
    headers = [*JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def rpc_error(code: int, message: str, id_: object = None) -> bytes:
    """A JSON-RPC error response."""
    error = {"code": code, "message": message}
    return encode({"jsonrpc": "2.0", "error": error, "id": id_})


def call(body: bytes) -> bytes | None:
    """Answer one JSON-RPC call, or ``None`` for a notification."""
    try:
        request = decode_rpc(body)
    except msgspec.ValidationError as exc:
        return rpc_error(-32600, f"Invalid Request: {exc}")
    except msgspec.DecodeError as exc:
        return rpc_error(-32700, f"Parse error: {exc}")
    id_ = None if request.id is msgspec.UNSET else request.id
    if request.method != "add":
        answer = rpc_error(-32601, f"Method not found: {request.method}", id_)
    elif isinstance(request.params, list):
        answer = rpc_error(-32602, "Invalid params: add takes named params a and b", id_)
    else:
        try:
            result = add(msgspec.convert(request.params, AddParams))
        except msgspec.ValidationError as exc:
            answer = rpc_error(-32602, f"Invalid params: {exc}", id_)
        else:
            answer = encode({"jsonrpc": "2.0", "result": result, "id": id_})
    return None if request.id is msgspec.UNSET else answer


async def lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge start-up and shut-down: there is nothing to start."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Message, receive: Receive, send: Send) -> None:
    """The ASGI application."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    method, path = scope["method"], scope["path"]
    if method == "GET" and path.startswith(ITEMS_PREFIX):
        try:
            item_id = int(path[len(ITEMS_PREFIX) :])
        except ValueError:
            await respond(send, 404, b'{"detail":"Not Found"}')
            return
        await respond(send, 200, encode(Item(item_id, f"item {item_id}", 9.99)))
    elif method == "POST" and path == "/items":
        try:
            new = decode_new_item(await read_body(receive))
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            await respond(send, 422, encode({"detail": str(exc)}))
            return
        await respond(send, 201, encode(Item(1, new.name, new.price, new.tags)))
    elif method == "POST" and path == "/rpc":
        answer = call(await read_body(receive))
        if answer is None:
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        else:
            await respond(send, 200, answer)
    else:
        await respond(send, 404, b'{"detail":"Not Found"}')
