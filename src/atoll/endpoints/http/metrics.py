"""``/metrics``: what Prometheus scrapes, on the service's port or on a port of its own.

With ``--metrics``, the service's HTTP app answers ``GET /metrics`` beside its own paths
(``--metrics-port 0``, the default). With ``--metrics-port 9100``, :class:`MetricsServer`
answers it there instead, and the service's port does not: the metrics stay off a port the
public reaches. That server is one more ASGI server of the process (uvicorn, as the
service's own), on the same event loop, so a scrape reads the counts between two requests,
never in the middle of one, without a lock.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

from atoll.endpoints.http.problems import HTTPError
from atoll.endpoints.http.requests import Request
from atoll.endpoints.http.responses import send_bytes, send_problem
from atoll.endpoints.http.server import listening_socket

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from atoll.endpoints.http.server import RunningServer, ServerAdapter
    from atoll.endpoints.http.types import Receive, Scope, Send

__all__ = ["METRICS_PATH", "MetricsServer", "metrics_endpoint"]

logger = logging.getLogger("atoll.server")

METRICS_PATH = "/metrics"
"""Where Prometheus scrapes a service."""

_NO_STORE = (b"cache-control", b"no-store")


def metrics_endpoint(
    exposition: Callable[[], tuple[bytes, str]],
    refresh: Callable[[], Awaitable[None]] | None = None,
) -> Callable[[Request, Send], Awaitable[None]]:
    """The ``/metrics`` endpoint answering what ``exposition`` renders, to GET and HEAD.

    ``refresh`` reads first what is counted elsewhere (a database's outbox).
    """

    async def serve(request: Request, send: Send) -> None:
        if request.method not in {"GET", "HEAD"}:
            raise HTTPError(
                405,
                f"{METRICS_PATH} is read with GET, not {request.method}",
                headers=((b"allow", b"GET, HEAD"),),
            )
        if refresh is not None:
            await refresh()
        body, content_type = exposition()
        await send_bytes(send, 200, body, content_type.encode(), (_NO_STORE,))

    return serve


class MetricsServer:
    """Serves ``/metrics`` alone, on a port apart from the service's.

    An entrypoint, as the service's own server: it starts once every other component has.

    Args:
        exposition: what renders the text Prometheus scrapes, and its content type.
        host: the address to listen on: the service's (``--server-host``).
        port: the port (``--metrics-port``).
        impl: the server adapter, the service's own (``--server-impl``).
        refresh: reads what is counted elsewhere before each scrape.
    """

    atoll_entrypoint = True

    def __init__(
        self,
        exposition: Callable[[], tuple[bytes, str]],
        host: str,
        port: int,
        impl: str = "uvicorn",
        refresh: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.impl = impl
        self._answer = metrics_endpoint(exposition, refresh)
        self._running: RunningServer | None = None

    async def start(self) -> None:
        """Listen on the port and serve.

        Raises:
            LifecycleError: the port cannot be listened on (in use, not available).
        """
        adapter: ServerAdapter = importlib.import_module(f"atoll.adapters.{self.impl}")
        sock = listening_socket(self.host, self.port, "--metrics-port")
        self.port = sock.getsockname()[1]
        try:
            self._running = await adapter.serve(self, sock)
        except BaseException:
            sock.close()
            raise
        shown = "127.0.0.1" if self.host in {"0.0.0.0", ""} else self.host  # noqa: S104 - shown
        logger.info("metrics on http://%s:%d%s", shown, self.port, METRICS_PATH)

    async def stop(self) -> None:
        """Stop serving; a scrape in progress finishes first."""
        if self._running is not None:
            running, self._running = self._running, None
            await running.stop()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer ``/metrics``; any other path is not found."""
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            return
        path = scope["path"]
        if path != METRICS_PATH:
            detail = f"{path} is not served here; Prometheus reads {METRICS_PATH}"
            await send_problem(send, HTTPError(404, detail), path)
            return
        try:
            await self._answer(Request(scope, receive), send)
        except HTTPError as error:
            await send_problem(send, error, path)
