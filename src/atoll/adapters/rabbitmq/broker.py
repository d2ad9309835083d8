"""The RabbitMQ adapter of the broker port, through aio-pika: ``amqp://`` and ``amqps://`` URLs.

How the port maps onto AMQP 0-9-1:

- **events** go to the durable topic exchange ``atoll.events`` with the event type's name as
  the routing key; each service binds its queue with the exact names of its topics (a name
  without ``*`` or ``#`` matches only itself). Nobody bound: the event is dropped, as asked.
- **sends** go to the durable direct exchange ``atoll.sends`` with the service's name as the
  key. They are published *mandatory*: one that no queue takes comes back, and the service's
  queue is declared and bound, and the send published again, so that it waits for the service.
- A message's id and type are its AMQP ``message_id`` and ``type``; its stream and its headers
  travel packed in one ``atoll`` header (JSON), since each field of a header table costs
  pamqp a round of Python on both ends.
- Each service has one durable **quorum queue**, ``atoll.<service>``, bound to both
  exchanges; its instances consume it and compete. The quorum queue counts every delivery
  (``x-delivery-count``: a nack, a closed channel or a dead connection all count), which
  :attr:`Received.attempt` is made of. Its ``x-delivery-limit`` is one fixed number for every
  queue (RabbitMQ drops a message after *limit + 1* deliveries), not the subscription's
  ``deliveries``: a sender declares the queue without knowing it, and a queue cannot be
  declared again with other arguments; the consumer dead-letters a message long before.
- A **retry** after a delay is a copy of the message published to a delay queue,
  ``atoll.<service>.retry.<ms>`` (a per-queue TTL that dead-letters, through the default
  exchange, into the service's queue, and that expires when unused), carrying the deliveries
  so far in the ``atoll-attempt`` header; then the original is acknowledged. Delays are
  rounded up to at most 1/8 longer, so that jittered delays share a few queues, and one queue
  per delay keeps a long delay from holding back a short one.
- The **ack wait** is the client's: RabbitMQ has none per consumer. A message taken and not
  settled within it (one sweep per receiver, every quarter of it, looks) is given back
  (nacked, to be delivered again); if its receiver took no more messages since, the instance
  is taken for dead and stops consuming until it receives again, so that the message goes to
  another instance.
- **Dead letters** are published to the durable queue ``atoll.<service>.dead`` with the error
  in headers. Reading them takes them without acknowledging them, and gives them back in
  their order; their handle is the envelope's id.
- A **broadcast** receiver consumes an exclusive, auto-delete queue of its own,
  ``atoll.broadcast.<random>``, bound to ``atoll.events`` with its topics' names, with
  automatic acknowledgement (:mod:`atoll.adapters.rabbitmq.broadcast`).
- **Requests** go to the queue ``atoll.<service>.rpc`` (auto-deleted with its last server),
  published mandatory, so that one nobody serves comes back at once; replies come by direct
  reply-to (``amq.rabbitmq.reply-to``), matched to their requests by correlation id. A
  request's headers are the message's AMQP headers, one field each.

The connection is aio-pika's robust one: it reconnects by itself, and restores the channels,
queues and consumers; disconnections and reconnections are logged on ``atoll.broker``. Every
error names the URL with its password masked.

A publish waits for its confirm without a deadline of its own (a timer per publish cost a
third of what the adapter adds to aio-pika's): a lost connection fails the confirms it had
pending, at once when it is reset, within a few heartbeats (60 s each unless the URL says
``?heartbeat=N``) when it goes silent; a request has its own deadline. A broker out of memory
or disk blocks its publishers until it has room again, and aiormq logs it.

This module holds :class:`RabbitBroker`: the connection, the publishing and the declaring. The
delivery side, the receivers that consume a service's queue and the servings that answer its
requests, is in :mod:`atoll.adapters.rabbitmq.delivery`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any

from atoll.errors import (
    BrokerError,
    BrokerUnavailableError,
    ConfigError,
    DeadlineExceededError,
    MissingDependencyError,
    RemoteUnavailableError,
)
from atoll.messaging.broadcast import broadcast_topics
from atoll.messaging.broker import (
    ID_HEADER,
    check_name,
    dead_letter_from,
    dead_letter_headers,
    masked_url,
    request_headers,
)
from atoll.messaging.envelope import Envelope

try:
    import aio_pika
    from aiormq.abc import DeliveredMessage
    from aiormq.exceptions import AMQPChannelError, AMQPError, ChannelPreconditionFailed
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("aio-pika", "rabbitmq") from error

from atoll.adapters.rabbitmq.broadcast import RabbitBroadcast
from atoll.adapters.rabbitmq.delivery import (
    ATTEMPT_HEADER,
    GONE,
    PACKED_HEADER,
    RabbitReceiver,
    RabbitServing,
    own_headers,
    packed,
    quietly,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence

    from aio_pika.abc import (
        AbstractChannel,
        AbstractConnection,
        AbstractExchange,
        AbstractIncomingMessage,
        AbstractRobustChannel,
        AbstractRobustConnection,
        HeadersType,
    )

    from atoll.messaging.broker import DeadLetter, Responder, Subscription

__all__ = ["ATTEMPT_HEADER", "EVENTS", "SENDS", "RabbitBroker", "delay_bucket"]

logger = logging.getLogger("atoll.broker")

EVENTS = "atoll.events"
"""The topic exchange events are published to, keyed by their type's name."""
SENDS = "atoll.sends"
"""The direct exchange sends are published to, keyed by the service's name."""

DELIVERY_LIMIT = 1000
"""Every service queue's ``x-delivery-limit``: RabbitMQ drops a message after 1001 deliveries."""

_REPLY_TO = "amq.rabbitmq.reply-to"
_CONNECT_TIMEOUT = 5.0
_SERVE_PREFETCH = 256
_BUCKET_SPARE_MS = 60_000  # a delay queue outlives its TTL by this much once unused
_PERSISTENT = aio_pika.DeliveryMode.PERSISTENT


def delay_bucket(delay: float) -> int:
    """The delay queue's TTL in milliseconds for a retry after ``delay`` seconds.

    Never shorter than asked, and at most 1/8 longer: eight buckets for each doubling.
    """
    ms = max(1, math.ceil(round(delay * 1000, 6)))  # 0.45 s is 450 ms, not 451
    shift = max(ms.bit_length() - 4, 0)
    return -(-ms >> shift) << shift


def _queue(service: str) -> str:
    return f"atoll.{service}"


def _dead_queue(service: str) -> str:
    return f"atoll.{service}.dead"


def _rpc_queue(service: str) -> str:
    return f"atoll.{service}.rpc"


_QUEUE_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum", "x-delivery-limit": DELIVERY_LIMIT}


class RabbitBroker:
    """The broker port on RabbitMQ.

    Args:
        url: ``amqp://user:password@host:5672/vhost`` (or ``amqps://``); nothing connects
            until :meth:`start`.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._masked = masked_url(url)
        self._connection: AbstractRobustConnection | None = None
        self._publisher: AbstractRobustChannel | None = None
        self._admin: AbstractRobustChannel | None = None
        self._events: AbstractExchange | None = None
        self._sends: AbstractExchange | None = None
        self._replies: AbstractRobustChannel | None = None
        self._replies_on: object = None
        self._replies_lock = asyncio.Lock()
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self._receivers: list[RabbitReceiver] = []
        self._servings: list[RabbitServing] = []
        self._broadcasts: list[RabbitBroadcast] = []
        self._buckets: dict[str, float] = {}
        self._stopping = False

    def describe(self) -> str:
        """The URL, its password masked."""
        return self._masked

    def __repr__(self) -> str:
        return f"RabbitBroker({self._masked!r})"

    # -- connection --------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the connection is open now (not closed, not reconnecting)."""
        connection = self._connection
        return connection is not None and connection.connected.is_set()

    def unreachable(self, what: str, error: BaseException | None = None) -> str:
        """The message of a BrokerUnavailableError about ``what`` (an action)."""
        reason = f": {self._scrub(str(error))}" if error is not None else " (reconnecting)"
        return (
            f"{what} the broker at {self._masked} failed{reason}; is RabbitMQ running there? "
            "the adapter reconnects by itself"
        )

    def _scrub(self, text: str) -> str:
        password = urllib.parse.urlsplit(self._url).password
        text = masked_url(text)
        return text.replace(password, "********") if password else text

    async def start(self) -> None:
        """Connect, and declare the exchanges.

        Raises:
            BrokerUnavailableError: no broker answers at the URL, or it refused the user.
        """
        self._stopping = False
        try:
            connection = await aio_pika.connect_robust(self._url, timeout=_CONNECT_TIMEOUT)
        except (AMQPError, OSError) as error:
            raise BrokerUnavailableError(
                f"cannot reach the broker at {self._masked}: "
                f"{self._scrub(str(error) or type(error).__name__)}; is RabbitMQ running there, "
                "and are the user and password right? check --broker-url"
            ) from error
        self._connection = connection
        connection.close_callbacks.add(self._disconnected)
        connection.reconnect_callbacks.add(self._reconnected)
        try:
            self._publisher = await connection.channel(publisher_confirms=True)
            self._admin = await connection.channel(publisher_confirms=False)
            self._events = await self._publisher.declare_exchange(
                EVENTS, aio_pika.ExchangeType.TOPIC, durable=True
            )
            self._sends = await self._publisher.declare_exchange(
                SENDS, aio_pika.ExchangeType.DIRECT, durable=True
            )
        except ChannelPreconditionFailed as error:
            await self.stop()
            raise BrokerError(
                f"the broker at {self._masked} has the exchange {EVENTS!r} or {SENDS!r} of "
                f"another type ({error}); atoll needs {EVENTS} a durable topic exchange and "
                f"{SENDS} a durable direct one: delete the other, or use another vhost"
            ) from error

    def _disconnected(
        self, _connection: AbstractConnection | None, error: BaseException | None, /
    ) -> None:
        if not self._stopping:
            logger.warning(
                "the connection to the broker at %s was lost (%s); reconnecting",
                self._masked,
                error,
            )
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(
                        BrokerUnavailableError(self.unreachable("a request to", error))
                    )

    def _reconnected(self, _connection: AbstractRobustConnection | None, /) -> None:
        logger.info("reconnected to the broker at %s", self._masked)

    async def stop(self) -> None:
        """Close the servings and receivers made here, then the connection."""
        self._stopping = True
        servings, self._servings = self._servings, []
        receivers, self._receivers = self._receivers, []
        broadcasts, self._broadcasts = self._broadcasts, []
        for serving in servings:
            await serving.close()
        for receiver in receivers:
            await receiver.close()
        for broadcast in broadcasts:
            await broadcast.close()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(
                    BrokerUnavailableError(f"the broker at {self._masked} was stopped")
                )
        self._pending.clear()
        connection, self._connection = self._connection, None
        self._publisher = self._admin = self._replies = None
        if connection is not None:
            await quietly(connection.close())

    async def ping(self) -> None:
        """Raise BrokerUnavailableError unless the connection is open now."""
        self._open("a ping of")

    def _channel(self, channel: AbstractRobustChannel | None) -> AbstractRobustChannel:
        if channel is None:
            raise BrokerUnavailableError(
                f"the broker at {self._masked} is not started (or stopped); start it first"
            )
        return channel

    def _open(self, what: str) -> AbstractRobustConnection:
        connection = self._connection
        if connection is None:
            raise BrokerUnavailableError(
                f"the broker at {self._masked} is not started (or stopped); start it first"
            )
        if not self.connected:
            raise BrokerUnavailableError(self.unreachable(what))
        return connection

    # -- publishing --------------------------------------------------------------------------

    async def _publish(
        self, exchange: AbstractExchange, key: str, message: aio_pika.Message, *, mandatory: bool
    ) -> bool:
        """Publish, confirmed; whether a queue took it (always True unless ``mandatory``)."""
        if not self.connected:
            raise BrokerUnavailableError(self.unreachable(f"publishing {key!r} to"))
        try:
            result = await exchange.publish(message, key, mandatory=mandatory)
        except GONE as error:
            raise BrokerUnavailableError(
                self.unreachable(f"publishing {key!r} to", error) + "; publish it again"
            ) from error
        return not isinstance(result, DeliveredMessage)

    async def _keep(
        self,
        exchange: AbstractExchange,
        key: str,
        message: aio_pika.Message,
        declare: Callable[[], Awaitable[None]],
    ) -> None:
        """Publish to a queue that must take it: declared, then again, if it was missing."""
        if await self._publish(exchange, key, message, mandatory=True):
            return
        await declare()
        if not await self._publish(exchange, key, message, mandatory=True):
            raise BrokerError(
                f"the broker at {self._masked} routes {key!r} to no queue even after declaring "
                "it; was it deleted at once? publish it again"
            )

    async def _declare(
        self, name: str, arguments: dict[str, Any] | None = None, *binds: tuple[str, str]
    ) -> None:
        """Declare a durable queue and its bindings on the admin channel (never restored)."""
        channel = self._channel(self._admin)
        try:
            underlay = await channel.get_underlay_channel()
            await underlay.queue_declare(name, durable=True, arguments=arguments)
            for exchange, key in binds:
                await underlay.queue_bind(name, exchange, routing_key=key)
        except ChannelPreconditionFailed as error:
            raise BrokerError(self._inequivalent(name, error)) from error
        except AMQPChannelError as error:
            raise BrokerError(self._refused(f"declaring {name!r}", error)) from error
        except GONE as error:
            raise BrokerUnavailableError(
                self.unreachable(f"declaring {name!r} on", error)
            ) from error

    def _refused(self, what: str, error: BaseException) -> str:
        return (
            f"the broker at {self._masked} refused {what}: {error}; check that the user may "
            "configure, write and read atoll.* queues and exchanges in the vhost"
        )

    def _inequivalent(self, name: str, error: BaseException) -> str:
        return (
            f"the queue {name!r} on the broker at {self._masked} exists with other arguments "
            f"than atoll declares ({error}); it was made by another program or another atoll "
            f"version: move its messages away and delete it (rabbitmqctl delete_queue {name}), "
            "or use another service name"
        )

    def _message(self, envelope: Envelope, headers: HeadersType | None = None) -> aio_pika.Message:
        return aio_pika.Message(
            envelope.payload,
            headers={PACKED_HEADER: packed(envelope)} if headers is None else headers,
            message_id=envelope.id,
            type=envelope.type,
            delivery_mode=_PERSISTENT,
        )

    async def publish(self, envelope: Envelope) -> None:
        """Publish an event to its topic; return once RabbitMQ confirms it."""
        self._channel(self._publisher)
        assert self._events is not None  # noqa: S101 - declared with the publisher channel
        await self._publish(self._events, envelope.type, self._message(envelope), mandatory=False)

    async def send(self, envelope: Envelope, service: str) -> None:
        """Put ``envelope`` in ``service``'s queue, declaring it if the service never ran."""
        check_name(service, "service name")
        self._channel(self._publisher)
        assert self._sends is not None  # noqa: S101 - declared with the publisher channel
        await self._keep(
            self._sends,
            service,
            self._message(envelope),
            lambda: self._declare(_queue(service), _QUEUE_ARGUMENTS, (SENDS, service)),
        )

    async def delay(self, service: str, envelope: Envelope, attempt: int, delay: float) -> None:
        """Put a copy of ``envelope`` in the delay queue that returns it after ``delay`` s."""
        ttl = delay_bucket(delay)
        name = f"atoll.{service}.retry.{ttl}"
        arguments = {
            "x-message-ttl": ttl,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": _queue(service),
            "x-expires": ttl + _BUCKET_SPARE_MS,
        }

        loop = asyncio.get_running_loop()

        async def declare() -> None:
            await self._declare(name, arguments)
            self._buckets[name] = loop.time()

        # Declaring resets the queue's expiry: while it is in use, it is declared again in time.
        if loop.time() - self._buckets.get(name, -_BUCKET_SPARE_MS) > _BUCKET_SPARE_MS / 2000:
            await declare()
        headers: HeadersType = {PACKED_HEADER: packed(envelope), ATTEMPT_HEADER: attempt}
        publisher = self._channel(self._publisher)
        await self._keep(
            publisher.default_exchange, name, self._message(envelope, headers), declare
        )

    async def bury(self, service: str, headers: Mapping[str, str], payload: bytes) -> None:
        """Put a dead letter in ``service``'s dead-letter queue."""
        name = _dead_queue(service)
        publisher = self._channel(self._publisher)
        message = aio_pika.Message(
            payload,
            headers={**headers},
            message_id=headers.get(ID_HEADER),
            delivery_mode=_PERSISTENT,
        )
        await self._keep(publisher.default_exchange, name, message, lambda: self._declare(name))

    async def foreign(
        self, service: str, message: AbstractIncomingMessage, error: ValueError
    ) -> None:
        """Dead-letter a message that is no atoll envelope, so that it kills no consumer."""
        logger.warning(
            "a message in the queue of %r is no atoll envelope; it goes to %s: %s",
            service,
            _dead_queue(service),
            error,
        )
        envelope = Envelope(
            message.message_id or uuid.uuid4().hex,
            "amqp.ForeignMessage",
            message.body,
            headers=own_headers(message.headers),
        )
        try:
            await self.bury(service, dead_letter_headers(envelope, str(error), 1), message.body)
        except (BrokerError, BrokerUnavailableError) as failed:
            logger.warning("the foreign message goes back to its queue: %s", failed)
            await quietly(message.nack(requeue=True))
            return
        await quietly(message.ack())

    # -- consuming ---------------------------------------------------------------------------

    async def subscribe(self, subscription: Subscription) -> RabbitReceiver:
        """Consume ``subscription``'s queue, declaring it and its bindings.

        Raises:
            BrokerError: the queue exists with other arguments than atoll's.
            ConfigError: ``deliveries`` is more than RabbitMQ is asked to make.
        """
        if subscription.deliveries > DELIVERY_LIMIT:
            raise ConfigError(
                f"deliveries={subscription.deliveries} for {subscription.service!r}: the "
                f"RabbitMQ adapter's queues drop a message after {DELIVERY_LIMIT + 1} "
                f"deliveries; use at most {DELIVERY_LIMIT}"
            )
        connection = self._open("subscribing to")
        service = subscription.service
        name = _queue(service)
        channel = await connection.channel(publisher_confirms=False)
        try:
            await channel.set_qos(prefetch_count=subscription.prefetch)
            queue = await channel.declare_queue(name, durable=True, arguments=_QUEUE_ARGUMENTS)
            await queue.bind(SENDS, service)
            for topic in subscription.events:
                await queue.bind(EVENTS, topic)
            await channel.declare_queue(_dead_queue(service), durable=True)
            receiver = RabbitReceiver(self, subscription, channel, queue)
            await receiver.consume()
        except ChannelPreconditionFailed as error:
            await quietly(channel.close())
            raise BrokerError(self._inequivalent(name, error)) from error
        except AMQPChannelError as error:
            await quietly(channel.close())
            raise BrokerError(self._refused(f"subscribing {name!r}", error)) from error
        except GONE as error:
            await quietly(channel.close())
            raise BrokerUnavailableError(
                self.unreachable(f"subscribing {name!r} to", error)
            ) from error
        self._receivers.append(receiver)
        return receiver

    async def broadcast(self, topics: Sequence[str]) -> RabbitBroadcast:
        """Consume a queue of this receiver's own, bound to ``topics``, made when this returns.

        Exclusive and auto-delete: see :mod:`atoll.adapters.rabbitmq.broadcast`.
        """
        names = broadcast_topics(topics)
        connection = self._open("broadcasting on")
        channel = await connection.channel(publisher_confirms=False)
        name = f"atoll.broadcast.{uuid.uuid4().hex}"
        try:
            queue = await channel.declare_queue(name, exclusive=True, auto_delete=True)
            for topic in names:
                await queue.bind(EVENTS, topic)
            broadcast = RabbitBroadcast(self, channel, queue, names)
            await broadcast.consume()
        except AMQPChannelError as error:
            await quietly(channel.close())
            raise BrokerError(self._refused(f"broadcasting {', '.join(names)}", error)) from error
        except GONE as error:
            await quietly(channel.close())
            raise BrokerUnavailableError(
                self.unreachable(f"broadcasting {', '.join(names)} on", error)
            ) from error
        self._broadcasts.append(broadcast)
        return broadcast

    # -- requests ----------------------------------------------------------------------------

    async def _reply_channel(self) -> AbstractRobustChannel:
        """The channel that consumes the replies: direct reply-to, made again on each connection.

        (RabbitMQ forgets a reply consumer with its connection, and a restored one is refused.)
        """
        connection = self._open("a request to")
        if self._replies is not None and self._replies_on is connection.transport:
            return self._replies
        async with self._replies_lock:
            if self._replies is None or self._replies_on is not connection.transport:
                if self._replies is not None:
                    await quietly(self._replies.close())
                channel = await connection.channel(publisher_confirms=True)
                queue = await channel.get_queue(_REPLY_TO, ensure=False)
                await queue.consume(self._replied, no_ack=True)
                self._replies, self._replies_on = channel, connection.transport
            return self._replies

    async def _replied(self, message: AbstractIncomingMessage) -> None:
        future = self._pending.get(message.correlation_id or "")
        if future is not None and not future.done():
            future.set_result(message.body)

    async def request(
        self,
        service: str,
        body: bytes,
        wait: float,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """Send ``body`` with ``headers`` to one server of ``service``; its reply.

        Raises:
            BrokerError: the headers cannot travel; nothing was sent.
            RemoteUnavailableError: nobody serves ``service``, or none answered in time.
        """
        check_name(service, "service name")
        carried = request_headers(headers)
        channel = await self._reply_channel()
        correlation = uuid.uuid4().hex
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[correlation] = future
        message = aio_pika.Message(
            body,
            headers=dict(carried) if carried else None,
            correlation_id=correlation,
            reply_to=_REPLY_TO,
            expiration=wait,
        )
        try:
            async with asyncio.timeout(wait):
                taken = await self._publish(
                    channel.default_exchange, _rpc_queue(service), message, mandatory=True
                )
                if not taken:
                    raise RemoteUnavailableError(
                        f"no instance of {service!r} serves requests on the broker at "
                        f"{self._masked}; check that it runs with the same --broker-url"
                    )
                return await future
        except TimeoutError:
            raise DeadlineExceededError(
                f"{service!r} did not answer within {wait} s on the broker at {self._masked}; "
                "the call may have run"
            ) from None
        except BrokerUnavailableError as error:
            raise RemoteUnavailableError(
                f"{error}; the request to {service!r} may have run"
            ) from error
        finally:
            self._pending.pop(correlation, None)

    async def serve(self, service: str, respond: Responder) -> RabbitServing:
        """Answer requests to ``service``, competing with its other servers."""
        check_name(service, "service name")
        connection = self._open("serving on")
        channel = await connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=_SERVE_PREFETCH)
        queue = await channel.declare_queue(_rpc_queue(service), auto_delete=True)
        serving = RabbitServing(self, service, respond, channel, queue)
        await serving.consume()
        self._servings.append(serving)
        return serving

    # -- dead letters ------------------------------------------------------------------------

    async def _take_dead(
        self, service: str, limit: int | None
    ) -> tuple[AbstractChannel, list[tuple[DeadLetter, AbstractIncomingMessage]]] | None:
        """Take (unacknowledged) up to ``limit`` dead letters, on a channel of their own."""
        connection = self._open("reading dead letters from")
        channel = await connection.channel(publisher_confirms=False)
        try:
            queue = await channel.declare_queue(_dead_queue(service), passive=True)
        except AMQPError:  # no such queue: the service never subscribed
            await quietly(channel.close())
            return None
        taken: list[tuple[DeadLetter, AbstractIncomingMessage]] = []
        while limit is None or len(taken) < limit:
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            headers = own_headers(message.headers)
            letter = dead_letter_from(headers.get(ID_HEADER, ""), service, headers, message.body)
            taken.append((letter, message))
        return channel, taken

    async def dead_letters(self, service: str, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters of ``service``, left in their queue."""
        found = await self._take_dead(service, limit)
        if found is None:
            return []
        channel, taken = found
        await quietly(channel.close())  # gives them all back, in their order
        return [letter for letter, _ in taken]

    async def dead_letter_count(self, service: str) -> int:
        """The messages in the service's dead-letter queue, as the broker counts them."""
        connection = self._open("counting dead letters on")
        channel = await connection.channel(publisher_confirms=False)
        try:
            queue = await channel.declare_queue(_dead_queue(service), passive=True)
        except AMQPError:  # no such queue: the service never subscribed
            return 0
        finally:
            await quietly(channel.close())
        return int(queue.declaration_result.message_count or 0)

    async def redrive(self, service: str, ids: Collection[str] | None = None) -> int:
        """Send dead letters back to ``service`` as first deliveries; the count."""
        return await self._settle_dead(service, ids, redrive=True)

    async def purge(self, service: str, ids: Collection[str] | None = None) -> int:
        """Delete dead letters of ``service``; the count."""
        if ids is None:
            connection = self._open("purging dead letters on")
            channel = await connection.channel(publisher_confirms=False)
            try:
                queue = await channel.declare_queue(_dead_queue(service), passive=True)
                result = await queue.purge()
            except AMQPError:  # no such queue
                return 0
            finally:
                await quietly(channel.close())
            return int(result.message_count or 0)
        return await self._settle_dead(service, ids, redrive=False)

    async def _settle_dead(
        self, service: str, ids: Collection[str] | None, *, redrive: bool
    ) -> int:
        found = await self._take_dead(service, None)
        if found is None:
            return 0
        channel, taken = found
        chosen = None if ids is None else set(ids)
        count = 0
        try:
            for letter, message in taken:
                if chosen is not None and letter.id not in chosen:
                    continue
                if redrive:
                    await self.send(letter.envelope, service)
                await message.ack()
                count += 1
        finally:
            await quietly(channel.close())  # gives the others back
        return count
