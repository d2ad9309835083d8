"""The bulkhead: a bound on the calls in flight to one remote service.

A remote service that slows down holds every call to it for longer, so calls pile up: left
unbounded, they take the caller's memory, connections and tasks, and a service that is slow
makes its callers slow for everything else too. A bulkhead, named for the walls that keep a
leak in one compartment of a ship, lets at most ``limit`` calls to the service be in flight;
a call beyond them waits for room, a bounded time, or is refused at once with
:class:`~atoll.errors.BulkheadFullError`::

    async with bulkhead.slot(timeout=2.0):
        answer = await call()

Room goes to the calls that wait in the order they came: a slot freed is handed to the
longest waiter, never taken by a call that arrives in between. A waiter that gives up, timed
out or cancelled, leaves no slot taken. Like :class:`~atoll.kernel.inflight.InFlight`, a
bulkhead is used from the event loop's thread only, so it holds no lock, and a call that
finds room costs a comparison and an addition.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from atoll.errors import BulkheadFullError

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["Bulkhead", "BulkheadSlot"]


class Bulkhead:
    """Lets at most ``limit`` calls to one remote service be in flight at once.

    Call :meth:`enter` before each call and :meth:`leave` after it, or use :meth:`slot`,
    which does both.

    Args:
        name: the remote service's name, given in the error that refuses a call.
        limit: the calls that may be in flight at once.
        wait: whether a call that finds no room waits for it; if not, it is refused at once.

    Raises:
        ValueError: ``limit`` is less than 1.
    """

    __slots__ = ("_in_flight", "_limit", "_name", "_wait", "_waiters")

    def __init__(self, name: str, limit: int, *, wait: bool = True) -> None:
        if limit < 1:
            raise ValueError(
                f"the bulkhead of {name}: limit={limit} lets no call through; give the calls"
                " that may be in flight at once, 1 or more, such as 10"
            )
        self._name = name
        self._limit = limit
        self._wait = wait
        self._in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def name(self) -> str:
        """The remote service's name."""
        return self._name

    @property
    def limit(self) -> int:
        """The calls that may be in flight at once."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """The calls in flight: those that entered and have not left."""
        return self._in_flight

    @property
    def waiting(self) -> int:
        """The calls waiting for room."""
        return len(self._waiters)

    async def enter(self, timeout: float | None) -> None:  # noqa: ASYNC109 - the wait for room is the bulkhead's own, and its error names it
        """Take a slot, waiting for room if there is none and the bulkhead waits.

        Args:
            timeout: the most seconds to wait for room; ``None`` waits as long as it takes.

        Raises:
            BulkheadFullError: no room came within ``timeout``, or there was none and the
                bulkhead does not wait.
        """
        if self._in_flight < self._limit and not self._waiters:
            self._in_flight += 1
            return
        if not self._wait:
            raise BulkheadFullError(
                self._full("it does not wait for room (--clients-concurrency-wait off)"),
                service=self._name,
                limit=self._limit,
            )
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            if self._granted(waiter):
                return  # the slot came as the time ran out: take it
            self._forget(waiter)
            raise BulkheadFullError(
                self._full(f"no room came within {timeout:.1f} s"),
                service=self._name,
                limit=self._limit,
            ) from None
        except BaseException:
            if self._granted(waiter):
                self.leave()  # the slot came as the caller gave up: hand it on
            else:
                self._forget(waiter)
            raise

    def leave(self) -> None:
        """Give back the slot of a call that is over, to the longest waiter if there is one.

        Raises:
            RuntimeError: no call is in flight: ``leave()`` was called more often than
                :meth:`enter` returned.
        """
        if not self._in_flight:
            # A count gone below zero would raise the limit for good, silently.
            raise RuntimeError(
                f"the bulkhead of {self._name} has no call in flight to leave: call leave() once"
                " after each enter() that returned, or use slot()"
            )
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                # The slot passes straight to the waiter: the count stays, and no call that
                # arrives before the waiter runs can take it.
                waiter.set_result(None)
                return
        self._in_flight -= 1

    def slot(self, timeout: float | None) -> BulkheadSlot:
        """The async context manager that holds a slot while its block runs.

        Args:
            timeout: the most seconds to wait for room; ``None`` waits as long as it takes.

        Raises:
            BulkheadFullError: on entering the block, as :meth:`enter` does.
        """
        return BulkheadSlot(self, timeout)

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        # A cancelled waiter may be gone already: leave() drops those it meets.
        if waiter in self._waiters:
            self._waiters.remove(waiter)

    @staticmethod
    def _granted(waiter: asyncio.Future[None]) -> bool:
        return waiter.done() and not waiter.cancelled()

    def _full(self, why: str) -> str:
        calls = "1 call" if self._limit == 1 else f"{self._limit} calls"
        return (
            f"{self._name} has {calls} in flight, as many as its bulkhead holds"
            f" (--clients-concurrency); {why}"
        )

    def __repr__(self) -> str:
        return (
            f"<Bulkhead {self._name!r} in_flight={self._in_flight}/{self._limit}"
            f" waiting={len(self._waiters)}>"
        )


class BulkheadSlot:
    """A slot of a :class:`Bulkhead`: taken on entering an ``async with`` block, then given back."""

    __slots__ = ("_bulkhead", "_timeout")

    def __init__(self, bulkhead: Bulkhead, timeout: float | None) -> None:
        self._bulkhead = bulkhead
        self._timeout = timeout

    async def __aenter__(self) -> None:
        await self._bulkhead.enter(self._timeout)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._bulkhead.leave()
