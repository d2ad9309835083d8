"""The circuit breaker: stop calling a remote service that keeps failing, and try it again later.

A remote service that is down makes every call to it wait for a timeout, and every retry adds
to its load as it tries to come back. A breaker watches the outcome of the calls to one
service and, once too many of them fail, refuses the next calls at once, without sending
them, with :class:`~atoll.errors.CircuitOpenError`::

    breaker.admit()             # raises CircuitOpenError while the breaker is open
    try:
        answer = await call()
    except (ConnectionError, TimeoutError):
        breaker.failed()
        raise
    ...
    breaker.succeeded()

It has three states (Michael Nygard, *Release It!*, 2007):

- ``closed``: calls go through, and their outcomes are counted over a rolling window of
  ``window`` seconds. Once the window holds at least ``minimum_calls`` calls and the share of
  failures among them reaches ``failure_ratio``, it opens.
- ``open``: every call is refused, for ``open_for`` seconds.
- ``half-open``: up to ``probes`` calls go through as probes, the others are refused. If every
  probe succeeds, it closes with an empty window; if one fails, it opens again.

The window is a ring of ten buckets, each a tenth of it: recording an outcome adds to the
current bucket and to running totals, and moving on drops the buckets that left the window,
so each record costs the same however busy the service is. :meth:`CircuitBreaker.admit` on a
closed breaker reads one attribute. A breaker is used from the event loop's thread only, so
it holds no lock.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

from atoll.errors import CircuitOpenError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["CircuitBreaker"]

State = Literal["closed", "open", "half-open"]

_BUCKETS = 10
"""The buckets the window is cut into: it moves on by a tenth of itself at a time."""


class CircuitBreaker:
    """Refuses the calls to a remote service while too many of its calls fail.

    Call :meth:`admit` before each call, then exactly one of :meth:`succeeded` and
    :meth:`failed` once it is over. A failure is what says the service is unwell (it could not
    be reached, it did not answer in time); an error the service answered with is a success
    here, since the service answered. An outcome that comes while the breaker is open is
    ignored; one that comes while it is half-open, with a probe in flight, counts as that
    probe's, since the breaker cannot tell calls apart.

    Args:
        name: the remote service's name, given in the error that refuses a call.
        failure_ratio: the share of failed calls in the window that opens the breaker, more
            than 0 and at most 1.
        minimum_calls: the calls the window must hold before the breaker may open, so that
            a few failures on a quiet service do not open it.
        window: the seconds of outcomes counted.
        open_for: the seconds the breaker stays open before it lets a probe through.
        probes: the calls let through when half-open; all must succeed for it to close.
        clock: the current time in seconds.

    Raises:
        ValueError: an argument is out of its range.
    """

    __slots__ = (
        "_calls",
        "_clock",
        "_epoch",
        "_failure_ratio",
        "_failures",
        "_minimum_calls",
        "_name",
        "_open_for",
        "_probes",
        "_probes_admitted",
        "_probes_passed",
        "_reason",
        "_reopen_at",
        "_state",
        "_total_calls",
        "_total_failures",
        "_width",
    )

    def __init__(
        self,
        name: str,
        *,
        failure_ratio: float = 0.5,
        minimum_calls: int = 10,
        window: float = 30.0,
        open_for: float = 5.0,
        probes: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Written as "not in range" so that NaN is refused too.
        if not 0 < failure_ratio <= 1:
            raise ValueError(
                f"the circuit breaker of {name}: failure_ratio={failure_ratio} is not a share of"
                " calls; give a number more than 0 and at most 1, such as 0.5 to open it when"
                " half the calls fail"
            )
        if minimum_calls < 1:
            raise ValueError(
                f"the circuit breaker of {name}: minimum_calls={minimum_calls} must be 1 or more,"
                " such as 10, the calls its window holds before it may open"
            )
        if not window > 0:
            raise ValueError(
                f"the circuit breaker of {name}: window={window} counts no time; give the"
                " seconds of calls to count, more than 0, such as 30.0"
            )
        if not open_for > 0:
            raise ValueError(
                f"the circuit breaker of {name}: open_for={open_for} would never hold it open;"
                " give the seconds to refuse calls for, more than 0, such as 5.0"
            )
        if probes < 1:
            raise ValueError(
                f"the circuit breaker of {name}: probes={probes} could never close it again;"
                " give 1 or more calls to let through when half-open"
            )
        self._name = name
        self._failure_ratio = failure_ratio
        self._minimum_calls = minimum_calls
        self._width = window / _BUCKETS
        self._open_for = open_for
        self._probes = probes
        self._clock = clock
        self._state: State = "closed"
        self._calls = [0] * _BUCKETS
        self._failures = [0] * _BUCKETS
        self._total_calls = 0
        self._total_failures = 0
        self._epoch = self._epoch_at(clock())
        self._reopen_at = 0.0
        self._reason = ""
        self._probes_admitted = 0
        self._probes_passed = 0

    @property
    def name(self) -> str:
        """The remote service's name."""
        return self._name

    @property
    def state(self) -> State:
        """``"closed"``, ``"open"`` or ``"half-open"``, as of now."""
        if self._state == "open" and self._clock() >= self._reopen_at:
            self._half_open()
        return self._state

    def admit(self) -> None:
        """Let a call through, or refuse it.

        Raises:
            CircuitOpenError: the breaker is open, or half-open with all its probes in flight.
        """
        if self._state == "closed":
            return
        if self._state == "open":
            left = self._reopen_at - self._clock()
            if left > 0:
                raise CircuitOpenError(
                    f"the circuit breaker of {self._name} is open: {self._reason}; it lets a"
                    f" probe through in {left:.1f} s",
                    service=self._name,
                    probe_in=left,
                )
            self._half_open()
        if self._probes_admitted < self._probes:
            self._probes_admitted += 1
            return
        in_flight = self._probes_admitted - self._probes_passed
        probes = "1 probe is" if in_flight == 1 else f"{in_flight} probes are"
        they = "it succeeds" if in_flight == 1 else "they succeed"
        raise CircuitOpenError(
            f"the circuit breaker of {self._name} is half-open: {probes} in flight; calls go"
            f" through again once {they}",
            service=self._name,
            probe_in=0.0,
        )

    def succeeded(self) -> None:
        """Record that an admitted call succeeded (the service answered)."""
        if self._state == "closed":
            self._record(failed=False)
        elif self._state == "half-open" and self._probes_passed < self._probes_admitted:
            self._probes_passed += 1
            if self._probes_passed == self._probes:
                self._close()
        # While open, outcomes of calls admitted before it opened say nothing new.

    def failed(self) -> None:
        """Record that an admitted call failed (the service was unreachable or too slow)."""
        if self._state == "closed":
            self._record(failed=True)
        elif self._state == "half-open" and self._probes_passed < self._probes_admitted:
            reason = "its probe failed" if self._probes == 1 else "one of its probes failed"
            self._open(reason)

    def _record(self, *, failed: bool) -> None:
        epoch = self._epoch_at(self._clock())
        if epoch > self._epoch:
            self._move_on(epoch)
        bucket = self._epoch % _BUCKETS
        self._calls[bucket] += 1
        self._total_calls += 1
        if failed:
            self._failures[bucket] += 1
            self._total_failures += 1
        calls = self._total_calls
        if calls >= self._minimum_calls and self._total_failures / calls >= self._failure_ratio:
            failures = self._total_failures
            self._open(
                "its last call failed"
                if calls == 1
                else f"{failures} of its last {calls} calls failed"
            )

    def _epoch_at(self, now: float) -> int:
        return int(now // self._width)

    def _move_on(self, epoch: int) -> None:
        """Empty the buckets between the current one and ``epoch``'s, which becomes current."""
        for passed in range(self._epoch + 1, self._epoch + 1 + min(epoch - self._epoch, _BUCKETS)):
            bucket = passed % _BUCKETS
            self._total_calls -= self._calls[bucket]
            self._total_failures -= self._failures[bucket]
            self._calls[bucket] = 0
            self._failures[bucket] = 0
        self._epoch = epoch

    def _open(self, reason: str) -> None:
        self._state = "open"
        self._reason = reason
        self._reopen_at = self._clock() + self._open_for

    def _half_open(self) -> None:
        self._state = "half-open"
        self._probes_admitted = 0
        self._probes_passed = 0

    def _close(self) -> None:
        self._state = "closed"
        self._calls = [0] * _BUCKETS
        self._failures = [0] * _BUCKETS
        self._total_calls = 0
        self._total_failures = 0
        self._epoch = self._epoch_at(self._clock())

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self._name!r} {self._state}>"
