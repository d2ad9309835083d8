"""Conflict retry: a call whose unit of work lost to a concurrent change runs again.

A :class:`~atoll.errors.ConflictError` carries how many times its database allows the run
again and the first backoff; the runs wait longer each time (doubling, capped, with jitter,
so that runs that collided do not collide again in step). Past the allowance, the call fails
with :class:`~atoll.errors.TooManyConflictsError`, which is never retried itself.
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, TypeVar

from atoll.errors import ConflictError, TooManyConflictsError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["LONGEST_BACKOFF", "retrying_conflicts"]

T = TypeVar("T")

LONGEST_BACKOFF = 1.0
"""Seconds a retry after a conflict waits at the most, however many came before."""


async def retrying_conflicts(
    run: Callable[[], Awaitable[T]], label: str, *, first: ConflictError | None = None
) -> T:
    """``await run()``, again after a conflict, while the conflict's database allows.

    Args:
        run: one run, from scratch (a fresh scope and unit of work).
        label: what runs, for the error: ``command handler 'record_run' of service 'runs'``.
        first: the conflict a first run (made by the caller) met already, if any.

    Raises:
        TooManyConflictsError: every run allowed met a concurrent change.
        ConflictError: the first run met one, and its database allows no retry.
    """
    runs = 0
    conflict = first
    while True:
        if conflict is not None:
            runs += 1
            if runs > conflict.retries:
                if conflict.retries == 0:
                    raise conflict
                raise TooManyConflictsError(
                    f"{label} met a concurrent change on each of its {runs} runs, and gave up: "
                    f"{conflict}. Raise the database's conflict-retries, or make fewer calls "
                    "change the same aggregate at once",
                    retries=0,
                ) from conflict
            wait = min(conflict.backoff * 2 ** (runs - 1), LONGEST_BACKOFF)
            await asyncio.sleep(wait * random.uniform(0.5, 1.5))  # noqa: S311 - not crypto
        try:
            return await run()
        except TooManyConflictsError:
            raise
        except ConflictError as met:
            conflict = met
