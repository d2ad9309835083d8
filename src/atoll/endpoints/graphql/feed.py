"""The event feed: every event of the subscribed types, offered to this instance's subscribers.

GraphQL subscriptions (``@service.subscription(RunRecorded)``) watch events as they are
published, wherever: by the service itself, by another service of the process, or by one
apart. The feed takes what goes through the broker (the events committed to an outbox) on a
receiver of this instance's own (:meth:`~atoll.messaging.broker.Broker.broadcast`, which
``memory://`` serves in the process too), and what a handler raises to be handled in the
process alone from the bus (:meth:`~atoll.messaging.bus.MessageBus.observe`), and hands each
to every subscriber of its type on this instance.

The guarantee is the broadcast's: at most once per subscriber connected when the event is
published. A subscriber that falls behind by :data:`DEPTH` events loses the oldest it has not
read, and a warning says so: a slow WebSocket must not hold the others back. A process that
takes signed messages only (``--messages-require-signed``) offers its subscribers only the
events whose signature holds, as its consumers handle only those.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from atoll.errors import BrokerUnavailableError, UnavailableError, UnverifiedMessageError
from atoll.messaging.broadcast_consumer import take_forever
from atoll.messaging.envelope import message_name, open_envelope
from atoll.messaging.signing import opened

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from atoll.messaging.broker import Broker, Received, Receiver
    from atoll.messaging.envelope import Envelope
    from atoll.messaging.signing import EnvelopeVerifier

__all__ = ["DEPTH", "EventFeed"]

logger = logging.getLogger("atoll.graphql")

DEPTH = 100
"""The events a subscriber may fall behind by before it loses the oldest."""


class EventFeed:
    """Every event of ``types`` published, offered to each subscriber of its type; a component.

    Args:
        broker: where the events come from.
        types: the event types subscribed to.
        verifier: what checks the signature of each event taken from the broker, when the
            process takes signed messages only: an event whose signature fails is dropped.
    """

    def __init__(
        self, broker: Broker, types: Sequence[type], verifier: EnvelopeVerifier | None = None
    ) -> None:
        self.broker = broker
        self.types = {message_name(kind): kind for kind in types}
        self.verifier = verifier
        self.offered = 0
        """The events offered to subscribers since the start."""
        self._listeners: dict[type, set[asyncio.Queue[object]]] = {}
        self._receiver: Receiver | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open this instance's receiver of the types' events.

        Raises:
            BrokerUnavailableError: the broker is out of reach.
        """
        if not self.types:
            return
        self._receiver = await self.broker.broadcast(list(self.types))
        self._task = asyncio.create_task(self._take(), name="graphql event feed")

    async def stop(self) -> None:
        """Take no more events; the subscriptions' streams end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        receiver, self._receiver = self._receiver, None
        if receiver is not None:
            with contextlib.suppress(BrokerUnavailableError):
                await receiver.close()

    @contextlib.asynccontextmanager
    async def events(self, kind: type) -> AsyncIterator[asyncio.Queue[object]]:
        """A queue of the events of ``kind`` published from now on, while the block lasts."""
        queue: asyncio.Queue[object] = asyncio.Queue(DEPTH)
        listeners = self._listeners.setdefault(kind, set())
        listeners.add(queue)
        try:
            yield queue
        finally:
            listeners.discard(queue)

    def listening(self, kind: type) -> int:
        """How many subscribers wait for events of ``kind`` now."""
        return len(self._listeners.get(kind, ()))

    async def _take(self) -> None:
        receiver = self._receiver
        assert receiver is not None  # noqa: S101 - started

        async def offer(received: Received) -> None:
            await self._offer(received)
            with contextlib.suppress(BrokerUnavailableError):
                await received.ack()

        await take_forever(receiver, offer, "the GraphQL event feed")

    async def _offer(self, received: Received) -> None:
        envelope = received.envelope
        kind = self.types.get(envelope.type)
        if kind is None or not self._listeners.get(kind):
            return
        checked = await self._opened(envelope)
        if checked is None:
            return
        try:
            event = open_envelope(checked, kind)
        except Exception:  # a payload of another shape: the subscribers are not told
            logger.exception("the GraphQL event feed cannot read event %s", envelope.id)
            return
        self.offer(event)

    async def _opened(self, envelope: Envelope) -> Envelope | None:
        """``envelope`` once its signature holds (when asked), or None: dropped, and said."""
        try:
            return await opened(envelope, self.verifier)
        except UnverifiedMessageError as error:
            logger.error("the GraphQL event feed drops event %s: %s", envelope.id, error)  # noqa: TRY400 - the refusal says it all
        except UnavailableError as error:  # at most once: not kept for later
            logger.warning(
                "the GraphQL event feed drops event %s: its signature cannot be checked now: %s",
                envelope.id,
                error,
            )
        return None

    def offer(self, event: object) -> None:
        """Hand ``event`` to every subscriber of its type on this instance, now."""
        listeners = self._listeners.get(type(event))
        if not listeners:
            return
        self.offered += 1
        for queue in listeners:
            if queue.full():
                queue.get_nowait()
                logger.warning(
                    "a subscriber to %s fell %d events behind: the oldest is dropped",
                    type(event).__qualname__,
                    DEPTH,
                )
            queue.put_nowait(event)
