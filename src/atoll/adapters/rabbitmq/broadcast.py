"""The broadcast receivers of the RabbitMQ adapter: a queue of one instance's own per receiver.

A :class:`RabbitBroadcast` consumes a queue made for it alone, ``atoll.broadcast.<random>``,
bound to the events exchange with each topic's name as the key, exactly as a service's queue
is: each event published from then on is routed to it as to every other queue bound so. The
queue is

- **exclusive** (the broker deletes it with its connection: a process that dies leaves
  nothing behind) and **auto-delete** (deleted once its consumer is cancelled), and
  :meth:`RabbitBroadcast.close` deletes it outright too;
- **named by the client**, not by the server: aio-pika's robust channel declares it again,
  with its bindings and its consumer, on the next connection after one is lost, and RabbitMQ
  refuses a client's declaring a name of the ``amq.`` prefix it gives server-named queues;
- consumed with **automatic acknowledgement**: a copy is settled by being delivered (at most
  once), so no acknowledgement crosses the wire. What the consumer has not received waits in
  its :class:`~atoll.messaging.broadcast.BroadcastBuffer`, which drops the oldest past its
  bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from atoll.adapters.rabbitmq.delivery import envelope_of, quietly
from atoll.messaging.broadcast import BroadcastBuffer

if TYPE_CHECKING:
    from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustChannel

    from atoll.adapters.rabbitmq.delivery import Connected
    from atoll.messaging.broker import Received

__all__ = ["RabbitBroadcast"]

logger = logging.getLogger("atoll.broker")

_CLOSE_WAIT = 5.0
"""Seconds a close waits for the broker to cancel the consumer and delete the queue."""


class RabbitBroadcast:
    """One instance's exclusive queue of some topics' events, and what it delivered."""

    def __init__(
        self,
        broker: Connected,
        channel: AbstractRobustChannel,
        queue: AbstractQueue,
        topics: tuple[str, ...],
    ) -> None:
        self.queue_name = queue.name
        self._broker = broker
        self._tag: str | None = None
        self.buffer = BroadcastBuffer(", ".join(topics))
        self._channel = channel
        self._queue = queue

    async def consume(self) -> None:
        """Have the broker push the queue's messages, acknowledged as they are delivered."""
        self._tag = await self._queue.consume(self._arrive, no_ack=True, exclusive=True)

    async def _arrive(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope = envelope_of(message)
        except ValueError as error:
            logger.warning(
                "a message to %s is no atoll envelope; dropped: %s", self.queue_name, error
            )
            return
        self.buffer.put(envelope)

    async def receive(self, limit: int, wait: float) -> list[Received]:
        """Up to ``limit`` copies, as soon as there is one; ``[]`` after ``wait`` seconds."""
        return await self.buffer.receive(limit, wait)

    async def close(self) -> None:
        """Cancel the consumer, delete the queue, close the channel; drop what it held.

        While the connection is down the broker has deleted the queue with it already (it is
        exclusive), and a robust channel would hold the cancel and the delete until the next
        connection: the channel is closed at once.
        """
        if self.buffer.closed:
            return
        self.buffer.close()
        tag, self._tag = self._tag, None
        if self._broker.connected:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_CLOSE_WAIT):
                    if tag is not None:
                        await quietly(self._queue.cancel(tag))
                    await quietly(self._queue.delete(if_unused=False, if_empty=False))
        await quietly(self._channel.close())
