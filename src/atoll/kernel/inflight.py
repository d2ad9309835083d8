"""The in-flight gate: counts the work under way and refuses new work once the service stops.

An operation of the application's own that a stop must not cut (a job a background task
runs) goes inside ``gate.track()``::

    async with lifecycle.inflight.track():  # raises ShuttingDownError once the gate is closed
        await run(job)

When the application stops, the lifecycle closes the gate, so new work is refused at once,
and waits until the work already inside has finished (:meth:`InFlight.wait_idle`) before it
stops the components that work uses. Requests and messages are not counted here: the
entrypoints that bring them in (the HTTP server, the broker consumers) stop first, and each
drains its own.

The gate holds no lock and makes no context manager per call: :meth:`InFlight.track`
returns the gate itself, and entering it only checks a flag and adds one to a counter. That is
safe because every entry and exit happens on the event loop's thread; code running in a
worker thread must not enter the gate itself, but be tracked by the coroutine that hands it
to the thread.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from atoll.errors import ShuttingDownError

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["InFlight"]


class InFlight:
    """Counts the operations in progress, and refuses new ones once closed.

    Use ``with gate.track():`` around synchronous work and ``async with gate.track():`` around
    asynchronous work; both count the same way. Use it from the event loop's thread only.

    Args:
        name: what the gate guards, named in the error that refuses work (the service's name).
    """

    __slots__ = ("_closed", "_count", "_name", "_waiters")

    def __init__(self, name: str) -> None:
        self._name = name
        self._count = 0
        self._closed = False
        self._waiters: set[asyncio.Future[None]] = set()

    @property
    def count(self) -> int:
        """How many operations are in progress."""
        return self._count

    @property
    def closed(self) -> bool:
        """Whether new work is refused."""
        return self._closed

    def track(self) -> InFlight:
        """The context manager that counts one operation while its block runs.

        It is the gate itself, reused for every call: no object is made per call.

        Raises:
            ShuttingDownError: on entering the block, once the gate is closed.
        """
        return self

    def close(self) -> None:
        """Refuse new work from now on; work already in progress goes on. Idempotent."""
        self._closed = True

    async def wait_idle(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - a bool reads better at the call site than catching TimeoutError
        """Wait until no work is in progress.

        Args:
            timeout: the most seconds to wait; ``None`` waits as long as it takes.

        Returns:
            ``True`` once the count is zero, ``False`` if ``timeout`` passed first.
        """
        if not self._count:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            return False
        finally:
            self._waiters.discard(waiter)
        return True

    def __enter__(self) -> None:
        if self._closed:
            raise ShuttingDownError(
                f"{self._name!r} is stopping; new work is refused: send it to another instance"
            )
        self._count += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._count -= 1
        if not self._count and self._waiters:
            self._wake()

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)

    def _wake(self) -> None:
        for waiter in self._waiters:
            # A waiter whose timeout fired is done but still in the set until its finally runs.
            if not waiter.done():
                waiter.set_result(None)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<InFlight {self._name!r} {state} count={self._count}>"
