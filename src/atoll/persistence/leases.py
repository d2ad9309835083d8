"""Leases in a service's database: which instance of a fleet does a thing now.

Instances of one service share its database. A *lease* is a row in it, by name, that says
which instance (its *holder*) may do what the lease guards, until when: a timer declared
``singleton=True`` runs on the holder of its lease only, so that one instance of the fleet
runs it at each tick. The holder renews the lease before it runs out; an instance that stops
cleanly releases it, and one that dies lets it run out, after which another takes it.

A lease guards by time, not by a lock held on a connection: a holder that stalls past its
``ttl`` (a long pause of its process, a network partition) may find that another instance
took the lease meanwhile, so that for a moment both believe they hold it. Renew well before
``ttl`` (a third of it is usual), and keep what the lease guards safe to run twice.

Each database keeps its leases: the in-memory one (:class:`MemoryLeaseStore`) and the SQL one
(``atoll_leases``) pass the same contract suite.
"""

from __future__ import annotations

import math
import reprlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["MAX_LENGTH", "LeaseStore", "MemoryLeaseStore", "check_lease", "check_ttl"]

MAX_LENGTH = 200
"""The most characters a lease's name or holder has (the SQL table's column width)."""


class LeaseStore(Protocol):
    """The leases of one database; each method is a short transaction of its own.

    Raises:
        ValueError: a name or holder is empty or longer than :data:`MAX_LENGTH`, or a ttl is
            not a finite number of seconds above 0.
        DatabaseUnavailableError: the database cannot be reached (SQL).
    """

    async def acquire(self, name: str, holder: str, ttl: float) -> bool:
        """Take or renew the lease ``name`` for ``holder`` for ``ttl`` seconds from now.

        Atomic: of two holders asking at once, at most one gets True.

        Returns:
            True if ``holder`` holds it now: it was free, expired, or already ``holder``'s
            (renewed). False if another holder holds it and its time has not run out.
        """
        ...

    async def release(self, name: str, holder: str) -> None:
        """Give the lease up, if ``holder`` holds it (a clean stop): another may take it at once.

        Nothing changes when another holds it, or nobody does.
        """
        ...

    async def holder(self, name: str) -> str | None:
        """Who holds the lease now; None when nobody does (free or expired)."""
        ...


def check_lease(name: str, holder: str | None = None) -> None:
    """Refuse a lease's name, or its holder, that is empty or too long.

    Raises:
        ValueError: one is; the message shows it and says what to give instead.
    """
    _check_text("name", name, "'timers', after what it guards")
    if holder is not None:
        _check_text("holder", holder, "the instance's host and process id")


def check_ttl(ttl: float) -> None:
    """Refuse a lease's time to live that is not a finite number of seconds above 0.

    Raises:
        ValueError: it is not; the message shows it and says what to give instead.
    """
    if isinstance(ttl, bool) or not (math.isfinite(ttl) and ttl > 0):
        raise ValueError(
            f"a lease's ttl is a finite number of seconds above 0; got {reprlib.repr(ttl)}: "
            "give how long the holder keeps it without renewing, such as 30"
        )


def _check_text(what: str, value: object, example: str) -> None:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_LENGTH:
        found = f"{len(value)} characters" if isinstance(value, str) else type(value).__name__
        raise ValueError(
            f"a lease's {what} is a string of 1 to {MAX_LENGTH} characters; got "
            f"{reprlib.repr(value)} ({found}): give one such as {example}"
        )


@dataclass(slots=True)
class _Lease:
    holder: str
    expires_at: float


class MemoryLeaseStore:
    """The leases of an in-memory database, kept with it in this process.

    A memory database is a database of its own: another, even of the same service and URL,
    keeps other leases, as it keeps other aggregates (and another process sees none of them).

    Args:
        clock: what "now" is, in seconds: the monotonic clock, which neither jumps nor steps
            back when the system's clock is set; a test gives a clock of its own.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.leases: dict[str, _Lease] = {}

    async def acquire(self, name: str, holder: str, ttl: float) -> bool:
        """Take or renew the lease; atomic, as nothing awaits between the look and the write."""
        check_lease(name, holder)
        check_ttl(ttl)
        now = self.clock()
        there = self.leases.get(name)
        if there is not None and there.holder != holder and there.expires_at > now:
            return False
        self.leases[name] = _Lease(holder, now + ttl)
        return True

    async def release(self, name: str, holder: str) -> None:
        """Forget the lease, if ``holder`` holds it."""
        check_lease(name, holder)
        there = self.leases.get(name)
        if there is not None and there.holder == holder:
            del self.leases[name]

    async def holder(self, name: str) -> str | None:
        """Who holds the lease now, if its time has not run out."""
        check_lease(name)
        there = self.leases.get(name)
        if there is None or there.expires_at <= self.clock():
            return None
        return there.holder
