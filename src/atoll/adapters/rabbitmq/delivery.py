"""The delivery side of the RabbitMQ adapter: its receivers, what they deliver, its servings.

A :class:`RabbitReceiver` consumes a service's quorum queue for one instance: it buffers what
RabbitMQ pushes (up to the subscription's prefetch) and hands it out as :class:`_Received`
messages, each settled once. It keeps the ack wait, which RabbitMQ has none of: a message not
settled within it is given back, and if its receiver has not received since, the receiver
stops consuming until it receives again. What a channel delivered before a reconnection comes
again on the restored one: the receiver forgets it. A :class:`RabbitServing` answers a service's
requests, each in a task of its own.

They are apart from :mod:`atoll.adapters.rabbitmq.broker`, which keeps
:class:`~atoll.adapters.rabbitmq.broker.RabbitBroker`: the connection, the publishing and the
declaring. A receiver reaches it only through what :class:`Connected` describes (a retry's
delay queue, a dead letter, a foreign message, and whether the connection is up), so that this
module does not import the broker's. The broker imports from here what both sides read:
:data:`ATTEMPT_HEADER`, the envelope's headers among a message's, what aio-pika raises when a
channel is gone, and settling that ignores it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from atoll.errors import BrokerUnavailableError, MissingDependencyError
from atoll.messaging.broker import dead_letter_headers, envelope_from_headers
from atoll.messaging.envelope import Envelope

try:
    import aio_pika
    from aio_pika.exceptions import ChannelInvalidStateError
    from aiormq.exceptions import AMQPError
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("aio-pika", "rabbitmq") from error

if TYPE_CHECKING:
    from collections.abc import Awaitable, Mapping

    from aio_pika.abc import (
        AbstractChannel,
        AbstractIncomingMessage,
        AbstractQueue,
        AbstractRobustChannel,
    )

    from atoll.messaging.broker import Received, Responder, Subscription

__all__ = [
    "ATTEMPT_HEADER",
    "GONE",
    "PACKED_HEADER",
    "Connected",
    "RabbitReceiver",
    "RabbitServing",
    "envelope_of",
    "own_headers",
    "packed",
    "quietly",
]

logger = logging.getLogger("atoll.broker")

ATTEMPT_HEADER = "atoll-attempt"
"""The deliveries a message had before it was copied to a delay queue."""
GONE = (AMQPError, ChannelInvalidStateError, OSError)
"""What aio-pika raises when the channel or the connection is gone (OSError: timeouts too)."""
_CANCEL_WAIT = 5.0
"""How long a consumer's cancel waits for the broker's reply while connected."""


PACKED_HEADER = "atoll"
"""The one header an event or a send travels with: its stream and its envelope's headers, as
JSON; the id and the type are the message's own properties. pamqp reads and writes a header
table in Python, field by field: one field costs a fraction of seven."""

_pack = msgspec.json.Encoder().encode
_unpack = msgspec.json.Decoder(tuple[str, dict[str, str]]).decode


def packed(envelope: Envelope) -> str:
    """The :data:`PACKED_HEADER` of ``envelope``."""
    return _pack((envelope.stream, envelope.headers)).decode()


def envelope_of(message: AbstractIncomingMessage) -> Envelope:
    """The envelope a message carries: packed, or header by header (a dead letter's).

    Raises:
        ValueError: it carries none.
    """
    headers = message.headers
    carried = headers.get(PACKED_HEADER)
    if type(carried) is not str or not message.message_id or not message.type:
        return envelope_from_headers(own_headers(headers), message.body)
    try:
        stream, own = _unpack(carried)
    except msgspec.DecodeError as error:
        raise ValueError(f"its {PACKED_HEADER} header is not atoll's: {error}") from None
    return Envelope(message.message_id, message.type, message.body, stream, own)


def own_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    """The envelope's own headers among a message's: not the broker's (``x-``) nor ours."""
    return {
        k: v for k, v in headers.items() if type(v) is str and k[:2] != "x-" and k != ATTEMPT_HEADER
    }


def _sent_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    """The headers a request was sent with: its header table's text fields, as they came."""
    return {k: v for k, v in headers.items() if type(v) is str}


def _attempt(headers: Mapping[str, Any]) -> int:
    """Which delivery this is: the queue's count, and those before a delayed retry."""
    count = headers.get("x-delivery-count") or 0
    before = headers.get(ATTEMPT_HEADER) or 0
    return int(count) + 1 + int(before)


async def quietly(settling: Awaitable[object]) -> None:
    """Settle, or close; a channel already gone has given the message back by itself."""
    try:
        await settling
    except GONE as error:
        logger.debug("not settled, the channel is gone (it is delivered again): %s", error)


async def _cancel_consumer(queue: AbstractQueue, tag: str, *, connected: bool) -> None:
    """Cancel the consumer ``tag`` of ``queue``, waiting for the broker only while connected.

    aio-pika forgets the consumer at once, so that it is not restored on the next connection,
    then sends the cancel. With the connection gone the broker has forgotten the consumer with
    it, and a robust channel would hold the cancel until the next connection: a shutdown while
    the broker is away would wait for the broker to come back.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_CANCEL_WAIT if connected else 0):
            await quietly(queue.cancel(tag))


class Connected(Protocol):
    """What a receiver and a serving need of their broker."""

    @property
    def connected(self) -> bool:
        """Whether the connection is open now (not closed, not reconnecting)."""
        ...

    def unreachable(self, what: str, error: BaseException | None = None) -> str:
        """The message of a BrokerUnavailableError about ``what`` (an action)."""
        ...

    async def delay(self, service: str, envelope: Envelope, attempt: int, delay: float) -> None:
        """Put a copy of ``envelope`` in the delay queue that returns it after ``delay`` s."""
        ...

    async def bury(self, service: str, headers: Mapping[str, str], payload: bytes) -> None:
        """Put a dead letter in ``service``'s dead-letter queue."""
        ...

    async def foreign(
        self, service: str, message: AbstractIncomingMessage, error: ValueError
    ) -> None:
        """Dead-letter a message that is no atoll envelope, so that it kills no consumer."""
        ...


class _Received:
    """A delivered message, until settled once; settling it again is a no-op."""

    __slots__ = ("_message", "_receiver", "_settled", "_taken", "_turn", "attempt", "envelope")

    def __init__(
        self, receiver: RabbitReceiver, message: AbstractIncomingMessage, envelope: Envelope
    ) -> None:
        self._receiver = receiver
        self._message = message
        self._settled = False
        self._taken: float | None = None  # when it was handed out, or last kept in progress
        self._turn = 0
        self.envelope = envelope
        self.attempt = _attempt(message.headers)

    @property
    def stale(self) -> bool:
        """Whether it came on a channel since closed (it is delivered again)."""
        try:
            _ = self._message.channel
        except ChannelInvalidStateError:
            return True
        return False

    def take(self, now: float, turn: int) -> None:
        """Handed out in the receiver's ``turn``, at loop time ``now``: its ack wait starts."""
        self._turn = turn
        self._taken = now

    def overdue(self, now: float, ack_wait: float) -> bool:
        """Whether its ack wait has passed unsettled by loop time ``now``."""
        return self._taken is not None and now - self._taken >= ack_wait

    async def in_progress(self) -> None:
        """Its ack wait starts again (the broker has none: the receiver's sweep keeps it)."""
        if not self._settled and self._taken is not None:
            self._taken = asyncio.get_running_loop().time()

    def settle(self) -> bool:
        """Mark it settled; False if it already was."""
        if self._settled:
            return False
        self._settled = True
        self._receiver.unsettled.discard(self)
        return True

    def expire(self) -> None:
        """Its ack wait passed: give it back (the receiver says whether it is taken for dead)."""
        if self.settle():
            self._receiver.expired(self, self._turn)

    async def give_back(self) -> None:
        """Return it to the queue, to be delivered again at once (counted)."""
        await quietly(self._message.nack(requeue=True))

    async def ack(self) -> None:
        if self.settle():
            message = self._message
            try:  # as quietly does, inlined: this runs for every message
                # Queued for the connection's writer, not waited for: no reply confirms a
                # basic.ack, and the worker goes on to its next message.
                await message.channel.basic_ack(message.delivery_tag, wait=False)  # type: ignore[arg-type]
            except GONE as error:
                logger.debug("not settled, the channel is gone (it is delivered again): %s", error)

    async def retry(self, delay: float) -> None:
        if not self.settle():
            return
        if delay <= 0:
            await self.give_back()
            return
        try:
            await self._receiver.broker.delay(
                self._receiver.service, self.envelope, self.attempt, delay
            )
        except BaseException:
            await self.give_back()
            raise
        await quietly(self._message.ack())

    async def dead_letter(self, error: str) -> None:
        if not self.settle():
            return
        try:
            await self._receiver.broker.bury(
                self._receiver.service,
                dead_letter_headers(self.envelope, error, self.attempt),
                self.envelope.payload,
            )
        except BaseException:
            await self.give_back()
            raise
        await quietly(self._message.ack())


class RabbitReceiver:
    """One instance's consumer of a service's queue, buffering what the broker pushes."""

    def __init__(
        self,
        broker: Connected,
        subscription: Subscription,
        channel: AbstractRobustChannel,
        queue: AbstractQueue,
    ) -> None:
        self.broker = broker
        self.service = subscription.service
        self.unsettled: set[_Received] = set()
        self.ack_wait = subscription.ack_wait
        self._channel = channel
        self._queue = queue
        self._ready: collections.deque[_Received] = collections.deque()
        self._arrived = asyncio.Event()
        self._tag: str | None = None
        self._turns = 0
        self._waiting = False
        self._paused = False
        self._closed = False
        self._switch = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        channel.reopen_callbacks.add(self._reopened)

    async def consume(self) -> None:
        """Have the broker push messages, up to the prefetch unsettled."""
        self._tag = await self._queue.consume(self._arrive)

    async def _arrive(self, message: AbstractIncomingMessage) -> None:
        if self._closed or self._paused:
            await quietly(message.nack(requeue=True))
            return
        try:
            envelope = envelope_of(message)
        except ValueError as error:
            await self.broker.foreign(self.service, message, error)
            return
        self._ready.append(_Received(self, message, envelope))
        self._arrived.set()

    def _reopened(self, _channel: AbstractRobustChannel | None, /) -> None:
        # A new channel after a reconnection: what the old one delivered comes again, and
        # what the new one delivered already stays.
        for received in [r for r in self.unsettled if r.stale]:
            received.settle()
        self._ready = collections.deque(r for r in self._ready if not r.stale)

    async def receive(self, limit: int, wait: float) -> list[Received]:
        """Up to ``limit`` messages, as soon as there is one; ``[]`` after ``wait`` seconds."""
        if self._closed:
            return []
        self._turns += 1
        ready = self._ready
        # Nothing to hand out (a paused receiver gave back what it held) and nothing to wait
        # for: consuming again, on a robust channel, would wait for the next connection.
        if not ready and not self.broker.connected:
            raise BrokerUnavailableError(self.broker.unreachable("a receiver of"))
        if self._paused:
            await self._resume()
        if not ready:
            self._arrived.clear()
            self._waiting = True
            try:
                async with asyncio.timeout(wait):
                    await self._arrived.wait()
            except TimeoutError:
                return []
            finally:
                self._waiting = False
        taken: list[Received] = []
        now = asyncio.get_running_loop().time()
        while ready and len(taken) < limit:
            received = ready.popleft()
            received.take(now, self._turns)
            self.unsettled.add(received)
            taken.append(received)
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        return taken

    async def _sweep(self) -> None:
        """Give back what outstayed its ack wait: one timer for all, not one per message.

        A quarter of the ack wait apart, so that a message comes back at the latest 1.25 ack
        waits after it was handed out.
        """
        every = max(self.ack_wait / 4, 0.01)
        loop = asyncio.get_running_loop()
        while not self._closed:
            await asyncio.sleep(every)
            now = loop.time()
            for received in [r for r in self.unsettled if r.overdue(now, self.ack_wait)]:
                received.expire()

    def expired(self, received: _Received, turn: int) -> None:
        """``received`` was not settled within its ack wait: give it back.

        If no message was received since, this instance is taken for dead: it consumes no
        more until it receives again, and the message goes to another instance.
        """
        dead = turn == self._turns and not self._waiting
        task = asyncio.get_running_loop().create_task(self._expire(received, pause=dead))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _expire(self, received: _Received, *, pause: bool) -> None:
        if pause:
            await self._pause()
        await received.give_back()

    async def _pause(self) -> None:
        async with self._switch:
            if self._paused or self._closed:
                return
            self._paused = True
            logger.warning(
                "a message of %r was not settled within %s s: this instance consumes no more "
                "until it receives again",
                self.service,
                self.ack_wait,
            )
            await self._cancel()
            await self._give_back_ready()

    async def _resume(self) -> None:
        async with self._switch:
            if self._paused and not self._closed:
                self._paused = False
                await self.consume()

    async def _cancel(self) -> None:
        if self._tag is not None:
            tag, self._tag = self._tag, None
            await _cancel_consumer(self._queue, tag, connected=self.broker.connected)

    async def _give_back_ready(self) -> None:
        while self._ready:
            await self._ready.popleft().give_back()

    async def close(self) -> None:
        """Consume no more; give back what was received and not settled."""
        if self._closed:
            return
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        async with self._switch:
            await self._cancel()
        for received in list(self.unsettled):
            received.settle()
            await received.give_back()
        await self._give_back_ready()
        self._arrived.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await quietly(self._channel.close())


class RabbitServing:
    """One instance's consumer of a service's request queue; each request its own task."""

    def __init__(
        self,
        broker: Connected,
        service: str,
        respond: Responder,
        channel: AbstractChannel,
        queue: AbstractQueue,
    ) -> None:
        self._broker = broker
        self._service = service
        self._respond = respond
        self._channel = channel
        self._queue = queue
        self._tag: str | None = None
        self._calls: set[asyncio.Task[Any]] = set()

    async def consume(self) -> None:
        """Take requests."""
        self._tag = await self._queue.consume(self._answer)

    async def _answer(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - aio-pika runs each delivery in a task
        self._calls.add(task)
        try:
            reply = await self._respond(message.body, _sent_headers(message.headers))
            if message.reply_to:
                await self._channel.default_exchange.publish(
                    aio_pika.Message(reply, correlation_id=message.correlation_id),
                    message.reply_to,
                    mandatory=False,
                )
            await message.ack()
        except GONE as error:
            logger.warning(
                "a reply of %r was not sent, the channel is gone: %s", self._service, error
            )
        except Exception:  # a responder's failure must not end the consumer
            logger.exception("answering a request to %r failed; it gets no reply", self._service)
            await quietly(message.reject(requeue=False))
        finally:
            self._calls.discard(task)

    async def close(self) -> None:
        """Take no more requests; answer those being answered first."""
        if self._tag is not None:
            tag, self._tag = self._tag, None
            await _cancel_consumer(self._queue, tag, connected=self._broker.connected)
            await asyncio.sleep(0)  # let the requests delivered before the cancel start
        if self._calls:
            await asyncio.wait(list(self._calls))
        await quietly(self._channel.close())
