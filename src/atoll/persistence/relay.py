"""The outbox relay: publishes what units of work committed to the outbox, then marks it sent.

A relay is an app-scoped component. Once started, it claims a batch of outbox records (which
no other relay on the database can claim meanwhile), hands each to its
:class:`~atoll.messaging.publishing.Publisher` in order, and marks those published as sent.
It wakes as soon as a unit of work of this process commits events, and otherwise looks every
``relay-interval`` seconds, for records another process committed or left behind when it died.

An outage is told once, not per record: while the publisher's broker (or the database) is out
of reach, the relay logs a WARNING when the outage begins, a reminder at a bounded rate, and an
INFO when it ends; the events wait in the outbox meanwhile, and go in order once it is back.

Delivery is at least once: a relay that dies after publishing and before marking the record
sent publishes it again when it (or another) comes back. Consumers skip what they have seen by
the message id, with the inbox their unit of work keeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from atoll.errors import DeliveryError
from atoll.messaging.outage import Outage, out_of_reach

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from atoll.messaging.publishing import Publisher
    from atoll.persistence.ports import Database, OutboxRecord

__all__ = ["OutboxRelay"]

logger = logging.getLogger("atoll.outbox")

_LONGEST_PAUSE = 30.0
"""Seconds a relay waits at the most before it tries again what failed."""


class OutboxRelay:
    """Moves committed events from a database's outbox to a publisher.

    Args:
        database: whose outbox to relay.
        publisher: where to hand the envelopes.
        batch: records claimed at once.
        interval: seconds between looks at the outbox when nothing wakes the relay.
        enabled: whether :meth:`start` starts relaying (``--no-db-relay`` turns it off).
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
        # One batch at a time in this process: on SQLite a claim locks nothing, so a flush
        # beside the background loop must not claim the same records.
        self._turn = asyncio.Lock()
        self._stopped = asyncio.Event()
        # A failed record's attempts so far, and when it may be tried again (loop time).
        self._retries: dict[int, tuple[int, float]] = {}
        self._flush_errors: dict[int, Exception] | None = None
        who = f"the outbox relay of {database.describe()}"
        self.outage = Outage(logger, who, "its events wait in the outbox")
        """Its publisher's outage (the broker out of reach), told once."""
        self.database_outage = Outage(logger, who, "its events wait in the outbox")
        """Its database's outage, told once."""

    async def start(self) -> None:
        """Start relaying in the background, unless disabled."""
        if not self.enabled:
            return
        self._stopped.clear()
        self._task = asyncio.create_task(self._run(), name=f"outbox relay of {self.database}")

    async def stop(self) -> None:
        """Finish the batch in hand, then stop; what is left waits for the next start."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopped.set()
        self.database.outbox_signal.notify()
        await task

    def kill(self) -> None:
        """Stop at once; the records of the batch in hand are published again later."""
        if self._task is not None:
            self._task.cancel()

    async def relay_once(self, *, due_only: bool = True) -> int:
        """Claim one batch, publish it in order, mark what was published; the count published.

        Each stream's records are published one after the other, in order; the streams (and
        the records of no stream) side by side. A record whose publish fails is left unsent,
        and tried again after a backoff that doubles with each failure (``due_only=False``
        tries it at once); the later records of its stream wait for it, and the other streams
        go on.

        Raises:
            Exception: what claiming or settling raised (the database out of reach).
        """
        async with self._turn:
            claim = await self.database.claim_outbox(self.batch)
            sent: list[int] = []
            now = asyncio.get_running_loop().time()
            # One chain per stream, published in order; the streams side by side, so that a
            # publisher that returns once the message is handled (memory://) has them
            # handled side by side too. Records of no stream ("") are in no order.
            chains: dict[str, list[OutboxRecord]] = {}
            for record in claim.records:
                stream = record.envelope.stream
                chains.setdefault(stream or f"#{record.position}", []).append(record)
            try:
                await self._publish_side_by_side(
                    list(chains.values()), sent, now, due_only=due_only
                )
            finally:
                await claim.settle(sent)
                self.published += len(sent)
            return len(sent)

    async def _publish_side_by_side(
        self,
        chains: list[list[OutboxRecord]],
        sent: list[int],
        now: float,
        *,
        due_only: bool,
    ) -> None:
        """Publish each chain in order, up to its first record left unpublished.

        A publisher whose ``publish`` returns a future takes the message when called (the
        memory broker's): every record of every chain is handed to it at once, in order, and
        the futures are awaited after; no task, and no wait between the records of a stream.
        Another's coroutines go in rounds: the first record of every chain at once (a task
        each), then the next of each chain whose record went, and so on, so that a stream's
        records reach the broker in order whatever fails.
        """
        going = [chain for chain in chains if not self._waits(chain[0], now, due_only=due_only)]
        if not going:
            return
        first = self.publisher.publish(going[0][0].envelope)
        if isinstance(first, asyncio.Future):
            await self._hand_all(going, first, sent, now, due_only=due_only)
        else:
            await self._in_rounds(going, first, sent, now, due_only=due_only)

    async def _hand_all(
        self,
        chains: list[list[OutboxRecord]],
        first: Awaitable[None],
        sent: list[int],
        now: float,
        *,
        due_only: bool,
    ) -> None:
        """Every record handed over at once; each chain marked sent up to its first failure."""
        handed: list[list[tuple[OutboxRecord, Awaitable[None]]]] = []
        for index, chain in enumerate(chains):
            mine: list[tuple[OutboxRecord, Awaitable[None]]] = []
            for place, record in enumerate(chain):
                if index == place == 0:
                    mine.append((record, first))
                    continue
                if place and self._waits(record, now, due_only=due_only):
                    break  # it waits for its backoff, and the rest of its stream with it
                mine.append((record, self.publisher.publish(record.envelope)))
            handed.append(mine)
        outcomes = iter(await self._outcomes([pending for mine in handed for _, pending in mine]))
        for mine in handed:
            failed = False
            for record, _ in mine:
                error = next(outcomes)
                if failed:
                    continue  # behind a failure of its stream: published again after it
                if error is None:
                    self._published(record, sent)
                else:
                    self._failed(record, error, now)
                    failed = True

    async def _in_rounds(
        self,
        chains: list[list[OutboxRecord]],
        first: Awaitable[None],
        sent: list[int],
        now: float,
        *,
        due_only: bool,
    ) -> None:
        """The first record of every chain at once, then the next of each whose record went."""
        place = [0] * len(chains)  # each chain's next record
        going = list(range(len(chains)))
        pending: list[Awaitable[None]] = [first]
        while going:
            round_ = [(index, chains[index][place[index]]) for index in going]
            if pending:  # the first round, whose heads were chosen already
                pending += [self.publisher.publish(r.envelope) for _, r in round_[1:]]
            else:  # those waiting for their backoff stay, and the rest of their stream
                round_ = [(i, r) for i, r in round_ if not self._waits(r, now, due_only=due_only)]
                pending = [self.publisher.publish(r.envelope) for _, r in round_]
            if not round_:
                return
            errors = await self._outcomes(pending)
            pending = []
            going = []
            for (index, record), error in zip(round_, errors, strict=True):
                if error is not None:
                    self._failed(record, error, now)  # the rest of its chain waits for it
                    continue
                self._published(record, sent)
                place[index] += 1
                if place[index] < len(chains[index]):
                    going.append(index)

    async def _outcomes(self, pending: list[Awaitable[None]]) -> list[Exception | None]:
        """Await every publish in ``pending``, side by side; what each raised, or None."""
        if len(pending) == 1:
            try:
                await pending[0]
            except Exception as error:  # noqa: BLE001 - kept, logged, tried again
                return [error]
            return [None]
        handed = [asyncio.ensure_future(publishing) for publishing in pending]
        errors: list[Exception | None] = []
        try:
            # One after the other: once the first is done, the rest often are too, and a done
            # future is awaited without a wake-up (a callback on each would cost one apiece).
            for publishing in handed:
                try:
                    await publishing
                except Exception as error:  # noqa: BLE001 - kept, logged, tried again
                    errors.append(error)
                else:
                    errors.append(None)
        except BaseException:  # killed: what is in hand is published again later
            for publishing in handed:
                publishing.cancel()
            raise
        return errors

    def _waits(self, record: OutboxRecord, now: float, *, due_only: bool) -> bool:
        """Whether ``record`` waits for the backoff of its last failure."""
        if not (due_only and self._retries):
            return False
        retry = self._retries.get(record.position)
        return retry is not None and retry[1] > now

    def _published(self, record: OutboxRecord, sent: list[int]) -> None:
        if self._retries:
            self._retries.pop(record.position, None)
        if self.outage.active:
            self.outage.recovered()
        if self._flush_errors is not None:
            self._flush_errors.pop(record.position, None)
        sent.append(record.position)

    async def flush(self) -> int:
        """Relay batches until the outbox has nothing this relay can claim; the count published.

        Each record is tried once, even one waiting for its backoff.

        Raises:
            Exception: the error of the first record left unpublished, once the rest is
                relayed.
        """
        self._flush_errors = {}
        total = 0
        try:
            while count := await self.relay_once(due_only=False):
                total += count
            errors = [error for _, error in sorted(self._flush_errors.items())]
        finally:
            self._flush_errors = None
        if errors:
            raise errors[0]
        return total

    def _failed(self, record: OutboxRecord, error: Exception, now: float) -> None:
        attempts = self._retries.get(record.position, (0, now))[0] + 1
        pause = min(self.interval * 2 ** (attempts - 1), _LONGEST_PAUSE)
        self._retries[record.position] = (attempts, now + pause)
        if self._flush_errors is not None:
            self._flush_errors.setdefault(record.position, error)
        unreached = _unreached(error)
        if unreached is not None:  # the outage is told once, not for each record
            self.outage.failed(unreached)
            return
        # A failed handler was logged with its traceback: a warning, with none of the relay's.
        told = isinstance(error, DeliveryError)
        logger.log(
            logging.WARNING if told else logging.ERROR,
            "the outbox relay of %s could not publish %s (message %s) (%s: %s); trying it "
            "again in %.1f s, and the records of its stream after it",
            self.database.describe(),
            record.envelope.type,
            record.envelope.id,
            type(error).__name__,
            error,
            pause,
            exc_info=not told,
        )

    async def _run(self) -> None:
        failures = 0
        signal = self.database.outbox_signal
        while not self._stopped.is_set():
            try:
                count = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                pause = min(self.interval * 2 ** (failures - 1), _LONGEST_PAUSE)
                if out_of_reach(error):  # told once per outage
                    self.database_outage.failed(error)
                else:
                    logger.log(  # the level passed: a traceback, with the error's text
                        logging.ERROR,
                        "the outbox relay of %s failed (%s: %s); trying again in %.1f s",
                        self.database.describe(),
                        type(error).__name__,
                        error,
                        pause,
                        exc_info=True,
                    )
                # Not the outbox signal: commits must not cut short the pause of a failure.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), pause)
                continue
            failures = 0
            self.database_outage.recovered()
            if not count:  # while the outbox has work, no pause
                await signal.wait(self.interval)

    def __repr__(self) -> str:
        return f"OutboxRelay({self.database.describe()})"


def _unreached(error: Exception) -> BaseException | None:
    """What a publish could not reach (the broker, or what every handler here needs), if so."""
    if isinstance(error, DeliveryError):  # delivered in this process: its handlers failed
        if error.causes and all(map(out_of_reach, error.causes)):
            return error.causes[0]
        return None
    return error if out_of_reach(error) else None
