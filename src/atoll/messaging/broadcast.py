"""Broadcast delivery: every running instance gets its own copy of each event of a topic.

:meth:`~atoll.messaging.broker.Broker.broadcast` gives a
:class:`~atoll.messaging.broker.Receiver` of what is published to some topics from then on,
apart from every other instance (for a cache to invalidate, say). A subscription's queue is
durable and shared, its instances competing for each message; a broadcast receiver holds
nothing for an instance that is not running, and is delivered at most once:

- what it receives is a :class:`BroadcastCopy`, whose :attr:`~BroadcastCopy.attempt` is 1
  and whose settling only lets it go: nothing is delivered again, neither after a failure
  (``retry``) nor to a dead-letter queue (``dead_letter``);
- what is published while it is not connected (before it was made, after it was closed,
  while its broker reconnects) it never gets.

:class:`BroadcastBuffer` is what the receivers of the brokers that push (memory, NATS,
RabbitMQ) hold until received; it keeps :data:`MAX_HELD` copies at the most, and drops the
oldest past that, so that an instance that stops receiving cannot take its process's memory.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from atoll.errors import ConfigError
from atoll.messaging.broker import check_name

if TYPE_CHECKING:
    from collections.abc import Sequence

    from atoll.messaging.broker import Received
    from atoll.messaging.envelope import Envelope

__all__ = ["MAX_HELD", "BroadcastBuffer", "BroadcastCopy", "broadcast_topics"]

logger = logging.getLogger("atoll.broker")

MAX_HELD = 10_000
"""Broadcast copies a receiver holds unreceived at the most; past it, the oldest are dropped."""


def broadcast_topics(topics: Sequence[str]) -> tuple[str, ...]:
    """``topics``, each once, in order, if every broker can carry them.

    Raises:
        ConfigError: none given, one given as a bare string, or a name no broker carries
            (:func:`~atoll.messaging.broker.check_name`).
    """
    if isinstance(topics, str):
        raise ConfigError(
            f"broadcast() takes a sequence of topics, and got the string {topics!r}; "
            f"write broadcast([{topics!r}])"
        )
    if not topics:
        raise ConfigError("broadcast() needs a topic at the least; it got none")
    return tuple(dict.fromkeys(check_name(topic, "event type name") for topic in topics))


@dataclass(frozen=True, slots=True)
class BroadcastCopy:
    """One instance's copy of a broadcast event: there is nothing to settle.

    Its four settling methods do nothing: the copy is this instance's alone, no other instance
    waits for it, and it is never delivered again (at most once).
    """

    envelope: Envelope
    attempt: int = 1

    async def ack(self) -> None:
        """Let it go."""

    async def in_progress(self) -> None:
        """Nothing: no ack wait runs for a broadcast copy."""

    async def retry(self, delay: float) -> None:
        """Let it go: a broadcast copy is never delivered again."""
        del delay

    async def dead_letter(self, error: str) -> None:
        """Let it go: a broadcast copy has no dead-letter queue."""
        del error


class BroadcastBuffer:
    """The copies pushed to one broadcast receiver, until it receives them.

    Args:
        what: what the receiver takes, for the warning when copies are dropped.
        held: copies held at the most; past it, the oldest are dropped.
    """

    def __init__(self, what: str, held: int = MAX_HELD) -> None:
        self.what = what
        self.closed = False
        self._held = held
        self._ready: collections.deque[Envelope] = collections.deque()
        self._waiting: list[asyncio.Future[None]] = []
        self._dropped = 0

    def __len__(self) -> int:
        return len(self._ready)

    def put(self, envelope: Envelope) -> None:
        """Hold ``envelope`` for the next receive (nothing once closed)."""
        if self.closed:
            return
        ready = self._ready
        if len(ready) >= self._held:
            ready.popleft()
            if not self._dropped:
                logger.warning(
                    "a broadcast receiver of %s holds %d events unreceived; it drops the "
                    "oldest until it receives again",
                    self.what,
                    self._held,
                )
            self._dropped += 1
        ready.append(envelope)
        if self._waiting:
            waiting, self._waiting = self._waiting, []
            for waiter in waiting:
                _wake(waiter)

    async def receive(self, limit: int, wait: float) -> list[Received]:
        """Up to ``limit`` copies, as soon as there is one; ``[]`` after ``wait`` seconds."""
        if not self._ready and not self.closed and wait > 0:
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiting.append(waiter)
            timer = loop.call_later(wait, _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                if waiter in self._waiting:
                    self._waiting.remove(waiter)
        ready = self._ready
        taken: list[Received] = [
            BroadcastCopy(ready.popleft()) for _ in range(min(limit, len(ready)))
        ]
        if self._dropped:
            logger.warning(
                "a broadcast receiver of %s dropped %d events it held unreceived",
                self.what,
                self._dropped,
            )
            self._dropped = 0
        return taken

    def close(self) -> None:
        """Take nothing more; drop what was not received, and end the receives waiting."""
        self.closed = True
        self._ready.clear()
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            _wake(waiter)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
