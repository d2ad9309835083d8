"""A JSON-RPC endpoint for the tests of clients: an ASGI app over an engine, served for real.

Shared by the tests of the clients, the transports, ``Clients`` and ``atoll call``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import TYPE_CHECKING

import httpx
import msgspec
import uvicorn

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from atoll.endpoints.rpc.jsonrpc import JsonRpc

LIMIT = 10.0  # every wait is bounded, so a bug fails the test instead of hanging it


class RpcApp:
    """The smallest JSON-RPC endpoint over ASGI: every body goes to the engine, and is kept,
    with the request's Authorization header.

    Without an engine, every request gets ``answer`` with ``status``.
    """

    def __init__(
        self, engine: JsonRpc | None = None, *, answer: bytes = b"", status: int = 200
    ) -> None:
        self.engine = engine
        self.answer = answer
        self.status = status
        self.bodies: list[bytes] = []
        self.authorizations: list[bytes | None] = []

    async def __call__(self, scope, receive, send) -> None:
        self.authorizations.append(dict(scope["headers"]).get(b"authorization"))
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.bodies.append(body)
        if self.engine is None:
            answer, status = self.answer, self.status
        else:
            answer = await self.engine.handle(body) or b""
            status = 200 if answer else 204
        headers = [(b"content-type", b"application/json")] if answer and self.engine else []
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


@contextlib.contextmanager
def serving(app) -> Iterator[str]:
    """Serve ``app`` with uvicorn over a real TCP socket, in a thread; yield its RPC URL."""
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        started = threading.Event()
        for _ in range(int(LIMIT / 0.01)):
            if server.started or started.wait(0.01) or not thread.is_alive():
                break
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}/rpc"
    finally:
        server.should_exit = True
        thread.join(LIMIT)
        sock.close()


@contextlib.asynccontextmanager
async def served_here(app, sock: socket.socket | None = None) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn in this event loop, on ``sock`` or a free port; yield its base.

    For an app whose objects belong to the test's loop (a harness's), where :func:`serving`
    runs another loop in a thread. The base is ``http://127.0.0.1:<port>``.
    """
    sock = sock if sock is not None else socket.create_server(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(LIMIT):
            while not server.started:  # noqa: ASYNC110 - uvicorn sets a flag, not an event
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, LIMIT)
        sock.close()


def answer_with(
    payload=None, *, status: int = 200, content: bytes | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    """A handler answering each request with ``payload`` (``"$id"`` becomes the request's id)."""

    def handle(request: httpx.Request) -> httpx.Response:
        if content is not None:
            return httpx.Response(status, content=content)
        rid = (
            msgspec.json.decode(request.content).get("id") if request.content[:1] == b"{" else None
        )
        body = msgspec.json.encode(payload).replace(b'"$id"', msgspec.json.encode(rid))
        return httpx.Response(status, content=body)

    return handle
