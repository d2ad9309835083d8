"""Outages: a dependency out of reach, told apart from a failure of the code, and told once.

A handler that fails because what it needs does not answer (its database, its broker, another
service) did nothing wrong: running it again once the dependency is back will succeed. Such a
failure is :func:`out_of_reach`, and it is not a poison message: the consumer pauses, without
spending the message's deliveries, and the outbox relay waits, until the dependency answers.

The rule, one place for every caller: a failure is out of reach when it is

- an :class:`~atoll.errors.UnavailableError` (the database, the broker, a remote service:
  every adapter translates its library's connection failures into one);
- a :class:`ConnectionError` (refused, reset, aborted, a broken pipe) or a
  :class:`TimeoutError` (``asyncio.timeout`` and every ``wait_for`` raise it), which a handler's
  own client raised;
- a :class:`socket.gaierror`: a host name that does not resolve now.

Any other exception, other :class:`OSError` s included (a file not found, a permission
denied: running again would not help), is the handler's own failure, which counts towards the
message's deliveries. A handler that meets an outage of its own dependency and raises its own
exception for it should raise :class:`~atoll.errors.UnavailableError` from it instead.

:class:`Outage` tells one outage the way an operator wants to read it: a WARNING when it
starts, with what to check; a reminder at a bounded rate while it lasts; an INFO when it ends.
"""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING

from atoll.errors import BrokerUnavailableError, DatabaseUnavailableError, UnavailableError

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable

__all__ = ["Outage", "dependency_of", "out_of_reach"]

REMINDER_EVERY = 60.0
"""Seconds between two reminders that an outage goes on."""


def out_of_reach(error: BaseException) -> bool:
    """Whether ``error`` says a dependency did not answer, rather than the code failed."""
    return isinstance(error, ConnectionError | TimeoutError | socket.gaierror)


def dependency_of(error: BaseException) -> str:
    """What an out-of-reach ``error`` could not reach, in a word: ``"database"``, ``"broker"``."""
    if isinstance(error, DatabaseUnavailableError):
        return "database"
    if isinstance(error, BrokerUnavailableError):
        return "broker"
    if isinstance(error, UnavailableError):
        return "remote service"
    return "dependency"


class Outage:
    """One dependency out of reach, as a component that depends on it lives through it.

    :meth:`failed` is called on each failure (its first starts the outage), :meth:`recovered`
    once the dependency answered again; each logs only what an operator needs to read.

    Args:
        logger: where to tell it.
        who: who meets the outage, for the messages: ``"the consumer of runs"``.
        doing: what it does meanwhile, for the first message: ``"it takes no new message"``.
        remind: seconds between two reminders while it lasts.
        clock: the time in seconds, for the reminders and the duration.
    """

    def __init__(
        self,
        logger: logging.Logger,
        who: str,
        doing: str,
        *,
        remind: float = REMINDER_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.who = who
        self.doing = doing
        self.remind = remind
        self.clock = clock
        self.error: BaseException | None = None
        self.failures = 0
        self._since = 0.0
        self._told = 0.0

    @property
    def active(self) -> bool:
        """Whether the dependency is out of reach now (a failure since the last recovery)."""
        return self.error is not None

    def failed(self, error: BaseException) -> bool:
        """Count a failure; True if it starts the outage (told at WARNING) rather than goes on.

        While it goes on, a reminder is told at WARNING once every ``remind`` seconds at most.
        """
        now = self.clock()
        started = self.error is None
        self.error = error
        self.failures += 1
        if started:
            self._since = self._told = now
            self.failures = 1
            self.logger.warning(
                "%s cannot reach its %s (%s: %s); %s until it answers, and tries again with "
                "backoff. Check that the %s is running and reachable: %s",
                self.who,
                dependency_of(error),
                type(error).__name__,
                error,
                self.doing,
                dependency_of(error),
                _what_to_check(error),
            )
        elif now - self._told >= self.remind:
            self._told = now
            self.logger.warning(
                "%s still cannot reach its %s, for %.0f s now (%d failures; last: %s: %s)",
                self.who,
                dependency_of(error),
                now - self._since,
                self.failures,
                type(error).__name__,
                error,
            )
        return started

    def recovered(self) -> bool:
        """The dependency answered: end the outage (told at INFO); True if there was one."""
        error, self.error = self.error, None
        if error is None:
            return False
        self.logger.info(
            "%s reaches its %s again, after %.1f s out of reach (%d failures); it goes on",
            self.who,
            dependency_of(error),
            self.clock() - self._since,
            self.failures,
        )
        return True

    def reason(self) -> str:
        """Why the component is not ready, while the outage lasts."""
        error = self.error
        if error is None:
            return ""
        lasted = self.clock() - self._since
        return (
            f"{self.who} cannot reach its {dependency_of(error)}, for {lasted:.0f} s now "
            f"({type(error).__name__}: {error}); {self.doing}"
        )


def _what_to_check(error: BaseException) -> str:
    # atoll's own errors name the host and the option to check; a library's rarely do.
    if isinstance(error, UnavailableError):
        return "the error above names it"
    return "the handler's own connections (the error above)"
