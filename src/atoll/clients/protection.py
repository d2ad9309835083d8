"""What guards the calls to one remote service: a deadline, retries, a breaker and a bulkhead.

:class:`~atoll.clients.directory.Clients` gives each remote service it reaches over HTTP or a
broker a :class:`Protection`, made from the ``clients`` options (and their overrides for that
service), which :class:`~atoll.clients.remote.RemoteService` runs each call through::

    deadline   the call's timeout from now, or less if the work making it has less
    bulkhead   a slot among the calls in flight to the service, waited for within the deadline
    breaker    refuses at once while too many of the service's calls fail
    retries    tries again, with backoff and jitter, a call safe to repeat that found no one

A call is safe to repeat when its method is declared so (``--clients-safe users=get_*``) or it
carries an idempotency key; a command is tried once, whatever failed. Only an error that says
nothing answered is worth another try (connection refused, HTTP 502 to 504, the broker out of
reach); one the service answered, a deadline that passed, an open breaker or a full bulkhead is
raised at once.

For the breaker, a call failed when nothing answered in time or the service answered an
internal error (-32603); an error the service declared is an answer, hence a success.
"""

from __future__ import annotations

import asyncio
import fnmatch
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from atoll.endpoints.rpc.jsonrpc import INTERNAL_ERROR
from atoll.errors import (
    BulkheadFullError,
    CircuitOpenError,
    DeadlineExceededError,
    RemoteError,
    RemoteUnavailableError,
)
from atoll.resilience.deadlines import budget, current_deadline, reset_deadline, set_deadline
from atoll.resilience.retries import Retry, retried

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection

    from atoll.resilience.breaker import CircuitBreaker
    from atoll.resilience.bulkhead import Bulkhead

__all__ = ["Protection"]

T = TypeVar("T")


@dataclass(frozen=True)
class Protection:
    """The protections of the calls to one remote service.

    Args:
        service: the remote service's name, as errors name it.
        timeout: seconds a call may take in all, its retries and waits included.
        retry: how often, and after which waits, a call safe to repeat is tried again.
        safe: the methods safe to repeat, as :mod:`fnmatch` patterns (``get_*``).
        breaker: the service's circuit breaker, or None for none.
        bulkhead: the bound on the calls in flight to the service, or None for none.
        sleep: waits between tries (tests pass their own).
        draw: a float in ``[0, 1)`` for the jitter of each wait (tests pass their own).
    """

    service: str
    timeout: float
    retry: Retry = field(default_factory=Retry)
    safe: Collection[str] = ()
    breaker: CircuitBreaker | None = None
    bulkhead: Bulkhead | None = None
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
    draw: Callable[[], float] = random.random

    def repeatable(self, method: str, *, keyed: bool) -> bool:
        """Whether a call of ``method`` may be tried again: declared safe, or ``keyed``."""
        return keyed or any(fnmatch.fnmatchcase(method, pattern) for pattern in self.safe)

    async def call(self, attempt: Callable[[], Awaitable[T]], *, repeatable: bool) -> T:
        """``attempt()``'s result, under the call's deadline, retried if ``repeatable``.

        ``attempt`` makes and sends a fresh request each time it is called.

        Raises:
            RemoteUnavailableError: nothing answered (the last try's error), the deadline
                passed (:class:`~atoll.errors.DeadlineExceededError`), the breaker is open
                (:class:`~atoll.errors.CircuitOpenError`) or the bulkhead full
                (:class:`~atoll.errors.BulkheadFullError`).
            RemoteError: the service answered an error.
        """
        deadline = time.monotonic() + self.timeout
        inherited = current_deadline()
        if inherited is not None and inherited < deadline:
            deadline = inherited
        token = set_deadline(deadline)
        try:
            if not repeatable or self.retry.attempts == 1:
                return await self._once(attempt, deadline)
            return await retried(
                lambda: self._once(attempt, deadline),
                self.retry,
                retryable=_may_pass,
                deadline=deadline,
                sleep=self.sleep,
                draw=self.draw,
            )
        finally:
            reset_deadline(token)

    async def _once(self, attempt: Callable[[], Awaitable[T]], deadline: float) -> T:
        """One try: a slot of the bulkhead, the breaker's leave, then the call."""
        bulkhead, breaker = self.bulkhead, self.breaker
        if bulkhead is not None:
            await bulkhead.enter(max(deadline - time.monotonic(), 0.0))
        try:
            if breaker is None:
                return await attempt()
            budget(None, self.service)  # no time left: not sent, and not the remote's doing
            breaker.admit()
            try:
                result = await attempt()
            except RemoteError as error:
                if error.code == INTERNAL_ERROR:
                    breaker.failed()
                else:
                    breaker.succeeded()  # the service answered: it is up
                raise
            except RemoteUnavailableError:
                breaker.failed()
                raise
            except BaseException:
                breaker.succeeded()  # not the service's doing: cancelled, or never sent
                raise
            breaker.succeeded()
            return result
        finally:
            if bulkhead is not None:
                bulkhead.leave()


def _may_pass(error: BaseException) -> bool:
    """Whether another try may find the service: nothing answered, and nothing said why not."""
    return isinstance(error, RemoteUnavailableError) and not isinstance(
        error, DeadlineExceededError | CircuitOpenError | BulkheadFullError
    )
