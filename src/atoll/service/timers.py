"""Timers: handlers that run every N seconds, or on a cron schedule.

::

    @service.every(60)
    async def expire_sessions(uow: SessionsUnitOfWork) -> None: ...

    @service.cron("0 3 * * *", singleton=True)       # at 03:00 UTC, on one instance only
    async def close_week(uow: RunsUnitOfWork) -> None: ...

A timer's handler runs through the bus like any other: in a request scope of its own, with its
unit of work, its events published after it commits, its middleware, its span and log context
(a correlation id of its own). It takes no input: every parameter is provided.

Ticks are wall-clock times: ``every(60)`` runs at each whole minute (multiples of 60 s since
the Unix epoch), so that every instance of a service agrees on them; ``cron`` reads its
expression in UTC. A tick missed (the process was busy, or the last run overran) is skipped,
never run late twice: a timer never runs beside itself. A run that fails is logged with its
traceback, and the timer runs again at its next tick.

By default each instance of a service runs its timers. ``singleton=True`` runs each tick on
one instance of the fleet: at each tick, the instances ask the service's database for the
timer's lease (:mod:`atoll.persistence.leases`), and the one that holds it runs the tick. The
lease lasts until shortly before the next tick (``--timers-lease`` seconds at the most), so a
killed holder is replaced at the first tick after its lease ran out.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from atoll.kernel.logs import reset_log_context, set_log_context
from atoll.kernel.options import option
from atoll.observability.correlation import RequestContext, made_id
from atoll.persistence.ports import Database

if TYPE_CHECKING:
    from atoll.kernel.container import Container
    from atoll.messaging.bus import MessageBus
    from atoll.service.schedules import Timer

__all__ = ["Timers", "TimersOptions"]

logger = logging.getLogger("atoll.timers")

MIN_LEASE = 0.5
"""The shortest lease a singleton tick holds, in seconds, however close its next tick."""

RELEASE_WITHIN = 2.0
"""Seconds a stopping process gives the release of its leases."""


@dataclass(frozen=True)
class TimersOptions:
    """Whether this process runs the timers, and how long a singleton's lease lasts."""

    enabled: bool = option(
        default=True,
        help="run the services' timers; --no-timers-enabled for a process that must not "
        "(an instance kept for HTTP only)",
    )
    lease: float = option(
        30.0,
        help="seconds a singleton timer's lease lasts at the most: a killed holder is "
        "replaced at the first tick after it ran out",
    )

    def __post_init__(self) -> None:
        if not self.lease >= MIN_LEASE:
            raise ValueError(f"lease must be {MIN_LEASE} s or more, such as 30; got {self.lease}")


class Timers:
    """Runs the timers of the services of one process: a background task.

    Args:
        timers: the timers, each with the name of its service.
        options: the ``[timers]`` options.
        bus: the bus every tick runs through.
    """

    def __init__(self, timers: list[Timer], options: TimersOptions, bus: MessageBus) -> None:
        self.timers = timers
        self.options = options
        self.bus = bus
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{made_id()}"
        """This instance, as a lease names its holder."""
        self.container: Container | None = None

    def bind(self, container: Container) -> None:
        """Take the container the singletons' databases come from (a build hook)."""
        self.container = container

    async def run(self) -> None:
        """Run every timer at its ticks, until cancelled."""
        if not self.options.enabled or not self.timers:
            return
        try:
            async with asyncio.TaskGroup() as group:
                for timer in self.timers:
                    group.create_task(self._keep(timer), name=f"timer {timer.label}")
        finally:  # stopping: another instance takes the singletons' next ticks at once
            with contextlib.suppress(Exception):
                async with asyncio.timeout(RELEASE_WITHIN):
                    await self.release()

    async def _keep(self, timer: Timer) -> None:
        """Run ``timer`` at each of its ticks; a tick missed is skipped."""
        schedule = timer.schedule
        tick = schedule.following(time.time())
        while True:
            await asyncio.sleep(max(tick - time.time(), 0.0))
            following = schedule.following(max(time.time(), tick))
            if not timer.singleton or await self._leased(timer, following - tick):
                await self._tick(timer, tick)
            tick = following

    async def _leased(self, timer: Timer, period: float) -> bool:
        """Whether this instance holds ``timer``'s lease for this tick (it asks for it)."""
        assert self.container is not None  # noqa: S101 - bound at build, before any tick
        database = await self.container.aget(Database, timer.handler.service)
        ttl = max(min(period * 0.9, self.options.lease), MIN_LEASE)
        try:
            return await database.leases.acquire(timer.lease, self.holder, ttl)
        except Exception:
            logger.exception(
                "timer %s skips its tick: its lease could not be asked for", timer.label
            )
            return False

    async def _tick(self, timer: Timer, tick: float) -> None:
        """One run of ``timer``'s handler through the bus, in a log context of its own.

        Its correlation id names the tick (``runs.close_week@2026-12-07T03:00:00.000+00:00``),
        the same on every instance: two runs of one tick would show in the logs as one id.
        """
        token = set_log_context(RequestContext.carrying(f"{timer.label}@{_shown(tick)}"))
        started = time.monotonic()
        try:
            await self.bus.call(timer.handler, {})
        except Exception:
            logger.exception(
                "timer %s failed at its tick of %s; it runs again at its next",
                timer.label,
                _shown(tick),
            )
        else:
            logger.debug(
                "timer %s ran in %.1f ms", timer.label, (time.monotonic() - started) * 1000
            )
        finally:
            reset_log_context(token)

    async def release(self) -> None:
        """Give up the leases this instance holds, so that another takes them at once."""
        if self.container is None:
            return
        for timer in self.timers:
            if timer.singleton:
                database = await self.container.aget(Database, timer.handler.service)
                await database.leases.release(timer.lease, self.holder)


def _shown(tick: float) -> str:
    """``tick`` in RFC 3339, UTC, to the millisecond."""
    return dt.datetime.fromtimestamp(tick, dt.UTC).isoformat(timespec="milliseconds")
