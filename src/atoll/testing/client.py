"""An httpx client for any ASGI app in the test's process, with the app's lifespan run around it.

httpx's ``ASGITransport`` sends requests straight to an ASGI app, but runs no lifespan: an app
that starts its resources at the lifespan's startup (an atoll service's ``asgi()``, most
Starlette and FastAPI apps) would answer without them. :func:`asgi_client` plays the server's
part of the lifespan protocol (https://asgi.readthedocs.io/en/latest/specs/lifespan.html)::

    async with asgi_client(service.asgi()) as client:     # the lifespan has started
        response = await client.get("/runs/1")
                                                           # ... and has shut down here

A failed startup or shutdown raises, so that a test never runs against half an app: the app's
own exception if it raised one, else :class:`~atoll.errors.LifecycleError` with the message
the app sent. An app that returns from the lifespan without answering does not use lifespans
(the specification allows it): its requests are served all the same. The state the lifespan
filled (``scope["state"]``) is shallow-copied into each request's scope, as servers do.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import httpx

from atoll.errors import LifecycleError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from atoll.endpoints.http.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["TEST_BASE_URL", "asgi_client"]

TEST_BASE_URL = "http://testserver"
"""Where the test clients send requests; no name is resolved, nothing leaves the process."""


@contextlib.asynccontextmanager
async def asgi_client(
    app: ASGIApp, *, base_url: str = TEST_BASE_URL, raise_app_exceptions: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client sending requests to ``app``, started for the block and stopped after.

    Args:
        app: any ASGI 3 app: ``service.asgi()``, a Starlette or FastAPI app...
        base_url: the scheme and host of the requests; paths are relative to it.
        raise_app_exceptions: whether an exception the app lets escape while serving a
            request is raised in the test (the default), rather than answered with a 500.

    Raises:
        LifecycleError: the app sent ``lifespan.startup.failed`` or
            ``lifespan.shutdown.failed``; the message includes the app's.
        Exception: what the app raised during its lifespan's startup or shutdown.
    """
    lifespan = _Lifespan(app)
    await lifespan.startup()
    transport = httpx.ASGITransport(
        app=_sharing_state(app, lifespan.state), raise_app_exceptions=raise_app_exceptions
    )
    try:
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client
    except BaseException as error:
        try:
            await lifespan.shutdown()
        except Exception as failure:  # noqa: BLE001 - the block's error is the one to see
            error.add_note(f"the app's lifespan shutdown also failed: {failure!r}")
        raise
    await lifespan.shutdown()


def _sharing_state(app: ASGIApp, state: dict[str, Any]) -> ASGIApp:
    """``app``, with a copy of the lifespan's state in each connection's scope."""

    async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, "state": dict(state)}, receive, send)

    return with_state


class _Lifespan:
    """The server's side of one app's lifespan: startup, then shutdown."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        scope: Scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        self._task = asyncio.create_task(self._run(scope))
        try:
            await self._exchange("startup")
        except BaseException:
            await self._abandon()
            raise

    async def shutdown(self) -> None:
        task = self._task
        if task is None or task.done():  # the app does not use lifespans: nothing to stop
            return
        try:
            await self._exchange("shutdown")
        finally:
            await self._abandon()

    async def _run(self, scope: Scope) -> None:
        await self.app(scope, self._to_app.get, self._from_app.put)

    async def _exchange(self, phase: str) -> None:
        """Send ``lifespan.<phase>`` and wait for the app's answer, or for the app to end."""
        task = self._task
        assert task is not None  # noqa: S101 - startup() made it before any exchange
        await self._to_app.put({"type": f"lifespan.{phase}"})
        answer = asyncio.ensure_future(self._from_app.get())
        await asyncio.wait({answer, task}, return_when=asyncio.FIRST_COMPLETED)
        if not answer.done():
            answer.cancel()
            error = task.exception()
            if error is not None:
                error.add_note(f"raised by the ASGI app {self.app!r} during its lifespan {phase}")
                raise error
            return  # the app returned without answering: it does not use lifespans
        message = answer.result()
        kind = message.get("type")
        if kind == f"lifespan.{phase}.complete":
            return
        if kind == f"lifespan.{phase}.failed":
            detail = message.get("message") or "no message given"
            raise LifecycleError(f"the ASGI app {self.app!r} failed its lifespan {phase}: {detail}")
        raise LifecycleError(
            f"the ASGI app {self.app!r} answered lifespan.{phase} with {kind!r}; an app "
            f"answers lifespan.{phase}.complete or lifespan.{phase}.failed"
        )

    async def _abandon(self) -> None:
        """Let the app's lifespan end, or cancel it if it goes on waiting; never raises."""
        task = self._task
        assert task is not None  # noqa: S101 - startup() made it
        if not task.done():
            await asyncio.wait({task}, timeout=0)
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
        if not task.cancelled():
            task.exception()  # retrieved: its error is reported where it matters, if at all
