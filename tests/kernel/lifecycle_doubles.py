"""The journaling components and bounded waits that the lifecycle tests share."""

import asyncio
import logging

from atoll.kernel.lifecycle import BackgroundTask, Unit

LIMIT = 10.0  # every wait is bounded, so a bug fails the test instead of hanging it


async def within(awaitable, limit=LIMIT):
    async with asyncio.timeout(limit):
        return await awaitable


async def forever():
    await asyncio.Event().wait()


class Part:
    """A component that writes what happens to it in a shared journal.

    ``hold_start``/``hold_stop`` keep it inside start()/stop() until set; ``starting`` and
    ``stopping`` are set once it is inside.
    """

    def __init__(self, name, journal, *, start_error=None, stop_error=None):
        self.name = name
        self.journal = journal
        self.start_error = start_error
        self.stop_error = stop_error
        self.hold_start = None
        self.hold_stop = None
        self.starting = asyncio.Event()
        self.stopping = asyncio.Event()

    async def start(self):
        self.journal.append(f"start {self.name}")
        self.starting.set()
        if self.hold_start is not None:
            await self.hold_start.wait()
        if self.start_error is not None:
            raise self.start_error
        self.journal.append(f"started {self.name}")

    async def stop(self):
        self.journal.append(f"stop {self.name}")
        self.stopping.set()
        try:
            if self.hold_stop is not None:
                await self.hold_stop.wait()
        except asyncio.CancelledError:
            self.journal.append(f"stop {self.name} cancelled")
            raise
        if self.stop_error is not None:
            raise self.stop_error
        self.journal.append(f"stopped {self.name}")


class KillablePart(Part):
    def kill(self):
        self.journal.append(f"kill {self.name}")


def unit(part, *needs):
    return Unit(part.name, part, needs=frozenset(needs))


def stopper(lifecycle, code=0):
    async def run():
        lifecycle.request_stop(code)

    return BackgroundTask("stopper", run)


def messages(caplog, level=logging.DEBUG):
    return [r.getMessage() for r in caplog.records if r.levelno >= level]
