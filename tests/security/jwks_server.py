"""A JWKS served for real over HTTP, by uvicorn in a thread, for the tests of key fetching.

:class:`JwksApp` serves whatever document (or status, or redirect) the test sets at the
moment, and records every request it gets; :func:`serving` serves an app on a free port and
yields its base URL. :func:`closed_port` and :func:`silent_server` give a URL where nothing
answers: refused at once, or accepted and never answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from typing import TYPE_CHECKING, Any

import uvicorn

if TYPE_CHECKING:
    from collections.abc import Iterator

LIMIT = 10.0  # every wait is bounded, so a bug fails the test instead of hanging it


class JwksApp:
    """An ASGI app answering every GET with the JWKS of the moment.

    Attributes:
        document: what it serves, as JSON.
        body: bytes served instead of ``document``, when set.
        status: the status of its answers (200).
        headers: more headers of its answers (a ``location`` for a redirect).
        requests: the path of each request it got, in order.
        arrived: set when a request arrives.
        hold: when set, each answer waits until this event is set.
    """

    def __init__(self, document: Any = None) -> None:
        self.document: Any = {"keys": []} if document is None else document
        self.body: bytes | None = None
        self.status = 200
        self.headers: list[tuple[bytes, bytes]] = []
        self.requests: list[str] = []
        self.arrived = threading.Event()
        self.hold: threading.Event | None = None

    @property
    def hits(self) -> int:
        """How many requests it got."""
        return len(self.requests)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        self.requests.append(scope["path"])
        self.arrived.set()
        if self.hold is not None:
            await asyncio.to_thread(self.hold.wait, LIMIT)
        body = self.body if self.body is not None else json.dumps(self.document).encode()
        headers = [(b"content-type", b"application/jwk-set+json"), *self.headers]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free port of 127.0.0.1; yield ``http://127.0.0.1:PORT``."""
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        waited = threading.Event()
        for _ in range(int(LIMIT / 0.01)):
            if server.started or not thread.is_alive():
                break
            waited.wait(0.01)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(LIMIT)
        sock.close()


def closed_port() -> str:
    """The URL of a port of 127.0.0.1 where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/jwks.json"


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A URL whose server accepts connections and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/jwks.json"
