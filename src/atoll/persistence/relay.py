"""The outbox relay: publishes what units of work committed to the outbox, then marks it sent.

A relay is an app-scoped component. Once started, it claims a batch of outbox records (which
no other relay on the database can claim meanwhile), hands each to its
:class:`~atoll.messaging.publishing.Publisher` in order, and marks those published as sent.
It wakes as soon as a unit of work of this process commits events, and otherwise looks every
``relay-interval`` seconds, for records another process committed or left behind when it died.

Delivery is at least once: a relay that dies after publishing and before marking the record
sent publishes it again when it (or another) comes back. Consumers skip what they have seen by
the message id, with the inbox their unit of work keeps.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from atoll.errors import DatabaseUnavailableError, DeliveryError

if TYPE_CHECKING:
    from atoll.messaging.publishing import Publisher
    from atoll.persistence.ports import Database

__all__ = ["OutboxRelay"]

logger = logging.getLogger("atoll.outbox")

_LONGEST_PAUSE = 5.0
"""Seconds a relay waits at the most after failures, before it tries again."""


class OutboxRelay:
    """Moves committed events from a database's outbox to a publisher.

    Args:
        database: whose outbox to relay.
        publisher: where to hand the envelopes.
        batch: records claimed at once.
        interval: seconds between looks at the outbox when nothing wakes the relay.
        enabled: whether :meth:`start` starts relaying (``--db-relay false`` turns it off).
    """

    def __init__(
        self,
        database: Database,
        publisher: Publisher,
        *,
        batch: int = 100,
        interval: float = 0.5,
        enabled: bool = True,
    ) -> None:
        self.database = database
        self.publisher = publisher
        self.batch = batch
        self.interval = interval
        self.enabled = enabled
        self.published = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # One batch at a time in this process: on SQLite a claim locks nothing, so a flush
        # beside the background loop must not claim the same records.
        self._turn = asyncio.Lock()

    async def start(self) -> None:
        """Start relaying in the background, unless disabled."""
        if not self.enabled:
            return
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"outbox relay of {self.database}")

    async def stop(self) -> None:
        """Finish the batch in hand, then stop; what is left waits for the next start."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self.database.outbox_signal.notify()
        await task

    def kill(self) -> None:
        """Stop at once; the records of the batch in hand are published again later."""
        if self._task is not None:
            self._task.cancel()

    async def relay_once(self) -> int:
        """Claim one batch, publish it in order, mark what was published; the count published.

        Raises:
            Exception: what the publisher raised; the records before it are marked sent, it
                and the ones after it are left for the next try.
        """
        async with self._turn:
            claim = await self.database.claim_outbox(self.batch)
            sent: list[int] = []
            try:
                for record in claim.records:
                    await self.publisher.publish(record.envelope)
                    sent.append(record.position)
            finally:
                await claim.settle(sent)
                self.published += len(sent)
            return len(sent)

    async def flush(self) -> int:
        """Relay batches until the outbox has nothing this relay can claim; the count published."""
        total = 0
        while count := await self.relay_once():
            total += count
        return total

    async def _run(self) -> None:
        failures = 0
        signal = self.database.outbox_signal
        while not self._stopping:
            try:
                count = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                pause = min(self.interval * 2 ** (failures - 1), _LONGEST_PAUSE)
                # Told already (a database out of reach says what to check; a failed handler
                # was logged with its traceback): a warning, with no traceback of the relay's.
                told = isinstance(error, DatabaseUnavailableError | DeliveryError)
                level = logging.WARNING if told else 0
                logger.log(
                    level or logging.ERROR,
                    "the outbox relay of %s failed (%s: %s); trying again in %.1f s",
                    self.database.describe(),
                    type(error).__name__,
                    error,
                    pause,
                    exc_info=not level,
                )
                await signal.wait(pause)
                continue
            failures = 0
            if not count:  # while the outbox has work, no pause
                await signal.wait(self.interval)

    def __repr__(self) -> str:
        return f"OutboxRelay({self.database.describe()})"
