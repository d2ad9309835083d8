"""The broadcast receivers of the NATS adapter: core NATS subscriptions of the event subjects.

An event is published to ``atoll.event.<type>``, which the stream ``ATOLL_EVENTS`` captures; the
server also delivers each message published there to every core NATS subscription of the
subject. A :class:`NatsBroadcast` is such a subscription per topic, without a queue group, so
that each instance gets its own copy. Core subscriptions rather than an ephemeral ordered
JetStream consumer (``DeliverPolicy.NEW``) of each topic, because:

- a core subscription is live once the server has it (a flush after the ``SUB`` confirms it),
  and from then on misses nothing published while the connection is up, which is all a
  broadcast promises (at most once, while running);
- it keeps nothing on the server: an instance that dies without closing leaves nothing behind,
  where an ephemeral consumer stays until its inactive threshold passes, and needs a call to
  the JetStream API to make and one to delete, and flow control while it runs;
- what an ordered consumer would add is the events published while the connection was down,
  delivered after it comes back: a guarantee broadcast does not give on any broker.

nats-py subscribes again by itself after a reconnection. A publish repeated by its publisher
(after a lost acknowledgement) is stored once in the stream, de-duplicated by its
``Nats-Msg-Id``, but each publish reaches the core subscriptions: a broadcast receiver may get
that event twice, as on the other brokers.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from atoll.adapters.nats.delivery import UNREACHABLE, envelope_of
from atoll.errors import MissingDependencyError
from atoll.messaging.broadcast import BroadcastBuffer

try:
    import nats.errors
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("nats-py", "nats") from error

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription as CoreSubscription

    from atoll.adapters.nats.delivery import Connected
    from atoll.messaging.broker import Received

__all__ = ["NatsBroadcast"]

logger = logging.getLogger("atoll.broker")


class NatsBroadcast:
    """One instance's core subscriptions of some topics' subjects, holding what they deliver."""

    def __init__(self, broker: Connected, topics: tuple[str, ...]) -> None:
        self.broker = broker
        self.topics = topics
        self.buffer = BroadcastBuffer(", ".join(topics))
        self.subscriptions: list[CoreSubscription] = []

    async def take(self, msg: Msg) -> None:
        """Hold the envelope ``msg`` carries; log and drop a message that carries none."""
        try:
            envelope = envelope_of(msg)
        except ValueError as error:
            logger.warning("a message on %s is no atoll envelope; dropped: %s", msg.subject, error)
            return
        self.buffer.put(envelope)

    async def receive(self, limit: int, wait: float) -> list[Received]:
        """Up to ``limit`` copies, as soon as there is one; ``[]`` after ``wait`` seconds.

        Raises:
            BrokerUnavailableError: nothing held, and the connection is down (it comes back
                by itself, subscribed again; what is published meanwhile is missed).
        """
        if not self.buffer and not self.buffer.closed:
            self.broker.connection()
        return await self.buffer.receive(limit, wait)

    async def close(self) -> None:
        """Unsubscribe; drop what was delivered and not received."""
        if self.buffer.closed:
            return
        self.buffer.close()
        subscriptions, self.subscriptions = self.subscriptions, []
        for subscription in subscriptions:
            with contextlib.suppress(*UNREACHABLE, nats.errors.Error):
                await subscription.unsubscribe()
