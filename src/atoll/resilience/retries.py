"""Retries: run a call again after a failure that may pass, waiting longer before each try.

A call that failed because its remote could not be reached, or did not answer in time, may
succeed a moment later; one that failed because its arguments are wrong never will. So
:func:`retried` runs a call again only when the caller's ``retryable`` says the error may
pass, and only a call that is safe to repeat (a read, or a write with an idempotency key)
should be retried at all::

    profile = await retried(
        lambda: users.methods.get_profile(user_id=1),
        Retry(attempts=3),
        retryable=lambda error: isinstance(error, ConnectionError),
    )

Between tries it waits with exponential backoff and full jitter (Marc Brooker, "Exponential
Backoff And Jitter", AWS Architecture Blog, 2015): after the ``n``-th failure, a time drawn
uniformly from ``[0, min(cap, base * 2 ** (n - 1)))``. The ceiling doubles, so a remote that
is down is not hammered; the draw spreads the callers that failed together, so they do not
all come back at the same instant.

The clock, the sleep and the draw are arguments, so that tests run without waiting.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["Retry", "retried"]

T = TypeVar("T")

_LARGEST_EXPONENT = 1023
"""The largest power of 2 a float holds: a ceiling past it is the cap anyway."""


@dataclass(frozen=True, slots=True)
class Retry:
    """How often to try a call, and how long to wait between tries.

    Args:
        attempts: the tries in all, the first included; 1 never tries again.
        base: the ceiling of the wait after the first failure, in seconds; it doubles with
            each further failure.
        cap: the largest ceiling of a wait, in seconds.

    Raises:
        ValueError: ``attempts`` is less than 1, ``base`` is not more than 0, or ``cap`` is
            less than ``base``.
    """

    attempts: int = 3
    base: float = 0.1
    cap: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(
                f"Retry(attempts={self.attempts}) tries a call fewer than once: attempts counts"
                " every try, the first included; give 1 to never retry, 3 to retry twice"
            )
        # Written as "not more than" so that NaN is refused too.
        if not self.base > 0:
            raise ValueError(
                f"Retry(base={self.base}) is no wait: base is the most seconds to wait after"
                " the first failure, and must be more than 0, such as 0.1"
            )
        if not self.cap >= self.base:
            raise ValueError(
                f"Retry(base={self.base}, cap={self.cap}) caps the wait below its first"
                f" ceiling: give a cap of at least {self.base} seconds"
            )

    def delay(self, failures: int, draw: Callable[[], float] = random.random) -> float:
        """The seconds to wait before the next try, after ``failures`` failures in a row.

        Args:
            failures: the failures so far, 1 after the first.
            draw: returns a float in ``[0, 1)``; the wait is that share of the ceiling.

        Returns:
            A time in ``[0, min(cap, base * 2 ** (failures - 1)))``.

        Raises:
            ValueError: ``failures`` is less than 1.
        """
        if failures < 1:
            raise ValueError(
                f"a retry's delay comes after a failure: give failures of 1 or more, not {failures}"
            )
        exponent = min(failures - 1, _LARGEST_EXPONENT)
        return draw() * min(self.cap, self.base * 2.0**exponent)


async def retried(
    call: Callable[[], Awaitable[T]],
    retry: Retry,
    *,
    retryable: Callable[[BaseException], bool],
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    draw: Callable[[], float] = random.random,
) -> T:
    """Run ``call()`` until it returns, trying again after the errors that may pass.

    The error of the last try is raised as it is, not wrapped, so that the caller sees the
    remote's own error. An error ``retryable`` refuses is raised at once. Only an
    :class:`Exception` is ever retried: :class:`asyncio.CancelledError`,
    :class:`KeyboardInterrupt` and :class:`SystemExit` go through untouched.

    Args:
        call: makes a fresh awaitable of the call on each try (a coroutine is awaited once).
        retry: how many tries, and the waits between them.
        retryable: whether an error may pass, so that the call is worth trying again.
        deadline: a time of ``clock`` after which no try may start: when the wait before the
            next try would end at or after it, the last error is raised instead. ``None``
            sets no bound.
        clock: the current time in seconds, on the clock ``deadline`` is read on.
        sleep: waits the seconds given.
        draw: returns a float in ``[0, 1)``, for the jitter of each wait.

    Returns:
        What the first successful try returned.

    Raises:
        Exception: what the last try raised, once the tries, the deadline or ``retryable``
            allow no further try.
    """
    failures = 0
    while True:
        try:
            return await call()
        except Exception as error:
            failures += 1
            if failures >= retry.attempts or not retryable(error):
                raise
            wait = retry.delay(failures, draw)
            if deadline is not None and clock() + wait >= deadline:
                raise
        await sleep(wait)
