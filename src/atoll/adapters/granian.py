"""The granian adapter: serves an ASGI app with granian's embedded server.

Chosen with ``--server-impl granian``.

granian binds its own socket, so the one atoll bound (to report a port in use at once, and to
choose a free port for port 0) is closed and its address handed over. granian's embedded mode
is marked experimental by granian itself; uvicorn stays the default.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from atoll.errors import LifecycleError, MissingDependencyError

try:
    from granian.constants import Interfaces
    from granian.server.embed import Server
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("granian", "granian") from error

if TYPE_CHECKING:
    import socket

    from atoll.endpoints.http.types import ASGIApp

__all__ = ["serve"]

STARTUP_TIMEOUT = 10.0
"""Seconds granian may take to accept connections before the start fails."""


class _Running:
    def __init__(self, server: Server, task: asyncio.Task[None]) -> None:
        self._server = server
        self._task = task

    async def stop(self) -> None:
        self._server.stop()  # type: ignore[no-untyped-call]
        await self._task


async def serve(app: ASGIApp, sock: socket.socket) -> _Running:
    """Serve ``app`` on the address of ``sock`` until the returned server is stopped.

    Raises:
        LifecycleError: granian stopped, or did not accept connections, within the timeout.
    """
    host, port = sock.getsockname()[:2]
    sock.close()
    server = Server(
        app,
        address=host,
        port=port,
        interface=Interfaces.ASGINL,
        log_enabled=False,
        websockets=False,
    )
    task = asyncio.create_task(server.serve(), name="granian")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT
    while True:
        accepting = await _accepts(host, port)
        # Checked after the probe: granian binds in its first step, and whatever accepted the
        # probe may be another program that took the address once atoll let go of it.
        if task.done():
            raise _stopped(task, host, port)
        if accepting:
            return _Running(server, task)
        if loop.time() > deadline:
            server.stop()  # type: ignore[no-untyped-call]
            with contextlib.suppress(Exception):
                await task
            raise LifecycleError(
                f"granian did not accept connections on {host}:{port} within "
                f"{STARTUP_TIMEOUT:g} s; try --server-impl uvicorn"
            )
        await asyncio.sleep(0.02)


def _stopped(task: asyncio.Task[None], host: str, port: int) -> LifecycleError:
    """The error for a granian that stopped before serving, with its reason if it gave one."""
    error = task.exception()
    if error is None:
        return LifecycleError(f"granian stopped before it served on {host}:{port}")
    # granian's own errors append a Rust backtrace to the first line, which says it all.
    reason = str(error).partition("\n")[0]
    stopped = LifecycleError(f"granian stopped before it served on {host}:{port}: {reason}")
    stopped.__cause__ = error
    return stopped


async def _accepts(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
