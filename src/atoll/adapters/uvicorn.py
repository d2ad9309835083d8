"""The uvicorn adapter: serves an ASGI app on a socket bound by atoll.

uvicorn normally owns the process: it installs its own SIGTERM and SIGINT handlers and runs the
ASGI lifespan. Under atoll the kernel does both, so the server here captures no signal and
runs no lifespan: it only serves, and stops when the lifecycle stops it. uvicorn finishes the
requests in flight when it stops; the lifecycle's grace period bounds how long that may take.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import uvicorn

from atoll.errors import LifecycleError

if TYPE_CHECKING:
    import socket
    from collections.abc import Iterator

    from atoll.endpoints.http.types import ASGIApp

__all__ = ["serve"]


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to atoll's lifecycle and says when it serves."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.serving = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.serving.set()


class _Running:
    def __init__(self, server: _Server, task: asyncio.Task[None]) -> None:
        self._server = server
        self._task = task

    async def stop(self) -> None:
        self._server.should_exit = True
        await self._task


async def serve(app: ASGIApp, sock: socket.socket) -> _Running:
    """Serve ``app`` on ``sock`` until the returned server is stopped.

    Raises:
        LifecycleError: uvicorn failed, or stopped, before it was serving.
    """
    config = uvicorn.Config(
        app,
        lifespan="off",
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,  # atoll reads them, from --server-trusted-proxies alone
    )
    server = _Server(config)
    task = asyncio.create_task(_run(server, sock), name="uvicorn")
    serving = asyncio.create_task(server.serving.wait())
    await asyncio.wait({task, serving}, return_when=asyncio.FIRST_COMPLETED)
    if server.serving.is_set():
        return _Running(server, task)
    serving.cancel()
    try:
        task.result()
    except LifecycleError:
        raise
    except Exception as error:
        raise LifecycleError(f"uvicorn failed to start: {error}") from error
    raise LifecycleError("uvicorn stopped before it was serving; its log says why")


async def _run(server: _Server, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    except SystemExit as error:
        # uvicorn exits the process when its start fails; raised in a task, SystemExit would
        # also escape the event loop and end the application without its orderly stop.
        raise LifecycleError(
            f"uvicorn failed to start (exit {error.code}); its log says why"
        ) from None
