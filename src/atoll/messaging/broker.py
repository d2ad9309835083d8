"""The broker port: how envelopes travel between processes, and how they are settled.

A broker carries three things:

- **events**, published to their topic (the event type's name, :func:`message_name`): every
  service subscribed to the topic receives each one, and within a service the instances
  compete, one of them handling it;
- **sends**, to one service's own durable queue: the commands it owns, and the dead letters
  redriven to it;
- **requests**, answered by one instance of a service within a timeout: broker RPC, which
  carries JSON-RPC bodies so that :class:`~atoll.clients.remote.RemoteService` calls over a
  broker exactly as over HTTP, with headers as HTTP has them (the caller's credentials,
  ``authorization: Bearer <token>``): names lower-case ASCII, values printable ASCII,
  :data:`MAX_REQUEST_HEADERS` bytes in all (:func:`request_headers` checks them).

An instance that must see every event of a topic itself (to drop a cache, say), rather than
share them with the other instances of its service, takes them with :meth:`Broker.broadcast`:
a copy each, at most once, for as long as it runs (:mod:`atoll.messaging.broadcast`).

A consuming service :meth:`Broker.subscribe` s and takes :class:`Received` messages in
batches. Each is settled once: acknowledged (its effect is committed), returned to be tried
again after a delay, or moved to the service's dead-letter queue with the error. One that is
never settled (its consumer died) is delivered again, to any instance, once its ``ack_wait``
has passed, and its :attr:`Received.attempt` counts every delivery, so that a message that
kills its consumers still ends in the dead-letter queue.

:class:`~atoll.messaging.consumer.BrokerConsumer` is the one loop that drives every adapter:
the adapters carry, they do not decide. Each adapter passes the conformance suite in
:mod:`atoll.testing.broker_contract`.
"""

from __future__ import annotations

import importlib
import random
import re
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol, TypeAlias

from atoll.errors import BrokerError, ConfigError
from atoll.kernel.options import masked_url
from atoll.messaging.envelope import Envelope

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence

__all__ = [
    "ADAPTERS",
    "MAX_REQUEST_HEADERS",
    "Broker",
    "DeadLetter",
    "Received",
    "Receiver",
    "Responder",
    "RetryPolicy",
    "Serving",
    "Subscription",
    "envelope_from_headers",
    "envelope_headers",
    "masked_url",
    "open_broker",
    "request_headers",
]

ADAPTERS = {
    "memory": ("atoll.messaging.memory_broker", "MemoryBroker"),
    "nats": ("atoll.adapters.nats", "NatsBroker"),
    "amqp": ("atoll.adapters.rabbitmq", "RabbitBroker"),
    "amqps": ("atoll.adapters.rabbitmq", "RabbitBroker"),
    "redis": ("atoll.adapters.redis", "RedisBroker"),
    "rediss": ("atoll.adapters.redis", "RedisBroker"),
}
"""The broker adapter of each URL scheme: its module and class, loaded by name."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:[.-][A-Za-z0-9_]+)*")
_CHECKED: set[str] = set()
"""Names found fit already: each publish checks its type's name, and most are seen before."""
_CHECKED_AT_MOST = 10_000

MAX_REQUEST_HEADERS = 8 * 1024
"""Bytes a request's headers may take at the most, names and values together.

As an HTTP server's limit on a request's head: a bearer token is far shorter."""
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-z]+")
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?")
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})

ID_HEADER = "atoll-id"
TYPE_HEADER = "atoll-type"
STREAM_HEADER = "atoll-stream"
_OWN_HEADERS = (ID_HEADER, TYPE_HEADER, STREAM_HEADER)


def check_name(name: str, what: str) -> str:
    """``name`` (a service's name, a message type's name) if every broker can carry it.

    Letters, digits and ``_``, in parts joined by ``.`` or ``-``: NATS subjects, AMQP routing
    keys and Redis keys all take that.

    Raises:
        ConfigError: ``name`` has another character, or an empty part.
    """
    if name not in _CHECKED and not _NAME.fullmatch(name):
        raise ConfigError(
            f"the {what} {name!r} cannot travel through a broker: use letters, digits and _, "
            "in parts joined by . or - (a type defined inside a function has no such name; "
            "define it at a module's top level)"
        )
    if len(_CHECKED) < _CHECKED_AT_MOST:
        _CHECKED.add(name)
    return name


def request_headers(headers: Mapping[str, str] | None) -> Mapping[str, str]:
    """``headers`` if every broker can carry them with a request, exactly; empty for ``None``.

    Names are HTTP tokens in lower case (``authorization``, ``traceparent``); values are
    printable ASCII without spaces at either end (what HTTP keeps of a field's value); the
    names and values take :data:`MAX_REQUEST_HEADERS` bytes at the most.

    Raises:
        BrokerError: a name or a value no broker carries as it is, or too many bytes. The
            message names the header, never its value (it may be a token).
    """
    if not headers:
        return _NO_HEADERS
    size = 0
    for name, value in headers.items():
        if type(name) is not str or not _HEADER_NAME.fullmatch(name):
            raise BrokerError(
                f"a request cannot carry the header {name!r}: a name is lower-case ASCII, "
                "letters, digits and !#$%&'*+-.^_`|~ (write it in lower case, like "
                "'authorization')"
            )
        if type(value) is not str or not _HEADER_VALUE.fullmatch(value):
            raise BrokerError(
                f"a request cannot carry the value of the header {name!r}: a value is "
                "printable ASCII, without spaces at either end and without line breaks "
                "(encode other text first, such as with urllib.parse.quote)"
            )
        size += len(name) + len(value)
    if size > MAX_REQUEST_HEADERS:
        raise BrokerError(
            f"a request's headers take {size} bytes, more than the {MAX_REQUEST_HEADERS} "
            f"a broker carries ({', '.join(sorted(headers)[:8])}); send less in headers, "
            "and the rest in the body"
        )
    return headers


def envelope_headers(envelope: Envelope) -> dict[str, str]:
    """The headers an envelope travels with: its own (``atoll-id``...) and those it carries."""
    headers = dict(envelope.headers)
    headers[ID_HEADER] = envelope.id
    headers[TYPE_HEADER] = envelope.type
    if envelope.stream:
        headers[STREAM_HEADER] = envelope.stream
    return headers


def envelope_from_headers(headers: Mapping[str, str], payload: bytes) -> Envelope:
    """The envelope :func:`envelope_headers` and a payload travelled as.

    Raises:
        ValueError: the headers lack the id or the type: the message is no envelope.
    """
    if ID_HEADER not in headers or TYPE_HEADER not in headers:
        raise ValueError(
            f"a message without the {ID_HEADER} and {TYPE_HEADER} headers is no atoll "
            f"envelope (headers: {sorted(headers)[:8]})"
        )
    return Envelope(
        id=headers[ID_HEADER],
        type=headers[TYPE_HEADER],
        payload=payload,
        stream=headers.get(STREAM_HEADER, ""),
        headers={k: v for k, v in headers.items() if k not in _OWN_HEADERS},
    )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a failed message is tried again, and when it is given up for the dead-letter queue.

    Attributes:
        deliveries: deliveries at the most; a message that failed on the last goes to the
            dead-letter queue. Counts the deliveries a dead consumer took, too.
        backoff: seconds before the first retry.
        factor: each retry waits this many times longer than the one before.
        longest: seconds a retry waits at the most.
    """

    deliveries: int = 5
    backoff: float = 0.5
    factor: float = 2.0
    longest: float = 60.0

    def __post_init__(self) -> None:
        if self.deliveries < 1:
            raise ConfigError(
                f"deliveries must be at least 1 (a message is delivered once at the least); "
                f"got {self.deliveries}"
            )
        if self.backoff < 0 or self.longest < self.backoff or self.factor < 1:
            raise ConfigError(
                "a retry policy needs 0 <= backoff <= longest and factor >= 1; got "
                f"backoff={self.backoff}, longest={self.longest}, factor={self.factor}"
            )

    def delay(self, attempt: int) -> float:
        """Seconds before the delivery after ``attempt`` (1 for the first), with jitter.

        The jitter (within 20%) keeps messages that failed together from retrying in step.
        """
        base = min(self.backoff * self.factor ** max(attempt - 1, 0), self.longest)
        return base * random.uniform(0.8, 1.2)  # noqa: S311 - not cryptography


@dataclass(frozen=True, slots=True)
class Subscription:
    """What one service consumes: what is sent to it, and the events of some topics.

    Every instance of a service subscribes alike; they compete for its messages.

    Attributes:
        service: the consuming service; names its durable queue(s) and its dead letters.
        events: the topics it takes: the :func:`message_name` of each event type it handles.
        deliveries: the deliveries of a message the broker makes at the least before it may
            drop it; the consumer dead-letters a message before that.
        ack_wait: seconds a delivered message may stay unsettled before it is delivered
            again (to another instance: its consumer is taken for dead).
        prefetch: messages an instance holds unsettled at the most.
    """

    service: str
    events: tuple[str, ...] = ()
    deliveries: int = 5
    ack_wait: float = 30.0
    prefetch: int = 64

    def __post_init__(self) -> None:
        check_name(self.service, "service name")
        for topic in self.events:
            check_name(topic, "event type name")
        if self.ack_wait <= 0 or self.prefetch < 1 or self.deliveries < 1:
            raise ConfigError(
                "a subscription needs ack_wait > 0, prefetch >= 1 and deliveries >= 1; got "
                f"ack_wait={self.ack_wait}, prefetch={self.prefetch}, "
                f"deliveries={self.deliveries}"
            )


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message a service gave up on, kept with the reason.

    Attributes:
        id: the broker's handle of the dead letter, for :meth:`Broker.redrive` and
            :meth:`Broker.purge`.
        service: whose dead letter it is.
        envelope: the message, as it was delivered.
        error: why it was given up: the last failure.
        deliveries: how many times it was delivered.
        failed_at: when it was given up (Unix time).
    """

    id: str
    service: str
    envelope: Envelope
    error: str
    deliveries: int
    failed_at: float = field(default_factory=time.time)


DEAD_ERROR = "atoll-error"
DEAD_DELIVERIES = "atoll-deliveries"
DEAD_AT = "atoll-failed-at"


def dead_letter_headers(envelope: Envelope, error: str, deliveries: int) -> dict[str, str]:
    """The headers a dead letter travels with to its queue: the envelope's, and why."""
    headers = envelope_headers(envelope)
    headers[DEAD_ERROR] = error[:2000]
    headers[DEAD_DELIVERIES] = str(deliveries)
    headers[DEAD_AT] = repr(time.time())
    return headers


def dead_letter_from(
    handle: str, service: str, headers: Mapping[str, str], payload: bytes
) -> DeadLetter:
    """The dead letter :func:`dead_letter_headers` and a payload travelled as."""
    own = {k: v for k, v in headers.items() if k not in {DEAD_ERROR, DEAD_DELIVERIES, DEAD_AT}}
    return DeadLetter(
        id=handle,
        service=service,
        envelope=envelope_from_headers(own, payload),
        error=headers.get(DEAD_ERROR, ""),
        deliveries=int(headers.get(DEAD_DELIVERIES, "0") or 0),
        failed_at=float(headers.get(DEAD_AT, "0") or 0),
    )


class Received(Protocol):
    """A delivered message, until it is settled by exactly one of its three methods."""

    @property
    def envelope(self) -> Envelope:
        """The message."""
        ...

    @property
    def attempt(self) -> int:
        """Which delivery this is: 1 for the first; redeliveries of any cause count."""
        ...

    async def ack(self) -> None:
        """Its effect is committed: never deliver it again."""
        ...

    async def in_progress(self) -> None:
        """Still in hand: its ack wait starts again, so that no other instance gets it."""
        ...

    async def retry(self, delay: float) -> None:
        """Deliver it again, to any instance, no sooner than ``delay`` seconds from now."""
        ...

    async def dead_letter(self, error: str) -> None:
        """Move it to the service's dead-letter queue with ``error``, until it is redriven."""
        ...


class Receiver(Protocol):
    """One instance's share of a subscription's messages."""

    async def receive(self, limit: int, wait: float) -> list[Received]:
        """Up to ``limit`` messages, as soon as there is one; ``[]`` after ``wait`` seconds.

        May be cancelled: what it had taken and not returned is delivered again (at the latest
        once its ``ack_wait`` has passed).

        Raises:
            BrokerUnavailableError: the broker is out of reach (the adapter reconnects).
        """
        ...

    async def close(self) -> None:
        """Take no more; the messages received and not settled are delivered again."""
        ...


Responder: TypeAlias = "Callable[[bytes, Mapping[str, str]], Awaitable[bytes]]"
"""What answers a request: its body and headers in, the reply's body out (a JSON-RPC engine).

The headers are those the request was sent with, exactly (an empty mapping for none)."""


class Serving(Protocol):
    """The requests one instance answers, until closed."""

    async def close(self) -> None:
        """Take no more requests; those being answered are answered first."""
        ...


class Broker(Protocol):
    """A connection to a message broker. A component: start connects, stop closes."""

    def describe(self) -> str:
        """The broker's URL without its password, for messages."""
        ...

    async def start(self) -> None:
        """Connect.

        Raises:
            BrokerUnavailableError: the broker is out of reach; the message names its URL.
        """
        ...

    async def stop(self) -> None:
        """Close the connection; subscriptions and servings close first."""
        ...

    async def ping(self) -> None:
        """Return if the broker is reachable now; raise BrokerUnavailableError if not."""
        ...

    def publish(self, envelope: Envelope) -> Awaitable[None]:
        """Publish an event to its topic; done once the broker has it for good.

        A coroutine (``async def``), or a future for a broker that takes the message when
        called (the memory broker): a relay publishing side by side makes no task for a
        future.

        Raises:
            BrokerUnavailableError: it was not taken; publish it again.
        """
        ...

    async def send(self, envelope: Envelope, service: str) -> None:
        """Put ``envelope`` in ``service``'s own queue; return once the broker has it for good.

        Sent before the service first subscribed, it waits for it.
        """
        ...

    async def subscribe(self, subscription: Subscription) -> Receiver:
        """Take a share of ``subscription``'s messages, making the durable queues it needs.

        The share holds what was sent to the service, and the events of its topics published
        since the service first subscribed to them.
        """
        ...

    async def broadcast(self, topics: Sequence[str]) -> Receiver:
        """Take every event of ``topics`` published from now on, apart from every other instance.

        Each broadcast receiver gets its own copy of each event published after it was made, as
        long as it is open: at most once (nothing is kept for an instance that is not running,
        and a message is not delivered again after a failure; settling it (ack, retry,
        dead_letter) only lets it go). Closing it drops what it had not received.

        The subscription is live when this returns: an event published after, by this process
        or another, reaches it. What it receives are
        :class:`~atoll.messaging.broadcast.BroadcastCopy` messages, whose ``attempt`` is 1;
        it does not take from the services' queues, whose subscribers get each event as
        before.

        Raises:
            ConfigError: a topic is no name a broker carries (:func:`check_name`).
            BrokerUnavailableError: the broker is out of reach.
        """
        ...

    async def request(
        self,
        service: str,
        body: bytes,
        wait: float,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """Send ``body`` with ``headers`` to one instance of ``service`` and return its reply.

        The responder serving it receives the headers exactly as given (see
        :func:`request_headers`).

        Raises:
            BrokerError: the headers cannot travel (:func:`request_headers`); nothing was sent.
            DeadlineExceededError: no instance answered within ``wait`` seconds (the
                request may have been run); a ``RemoteUnavailableError``.
            RemoteUnavailableError: no instance serves it.
            BrokerUnavailableError: the broker is out of reach (or this one is stopped): the
                request was not sent (an adapter may say so as a RemoteUnavailableError).
        """
        ...

    async def serve(self, service: str, respond: Responder) -> Serving:
        """Answer requests to ``service`` with ``respond``, competing with its other instances.

        ``respond`` is given each request's body and headers.
        """
        ...

    async def dead_letters(self, service: str, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters of ``service``."""
        ...

    async def dead_letter_count(self, service: str) -> int:
        """How many dead letters ``service`` has, without reading them; 0 for one never seen."""
        ...

    async def redrive(self, service: str, ids: Collection[str] | None = None) -> int:
        """Send dead letters (all, or those of ``ids``) back to ``service``; the count.

        A redriven message starts its deliveries anew.
        """
        ...

    async def purge(self, service: str, ids: Collection[str] | None = None) -> int:
        """Delete dead letters (all, or those of ``ids``) of ``service``; the count."""
        ...


def open_broker(url: str) -> Broker:
    """The broker adapter for ``url``; nothing is connected until it starts.

    Raises:
        ConfigError: no adapter reads the URL's scheme.
        MissingDependencyError: the adapter's library is not installed.
    """
    scheme = url.partition(":")[0].lower()
    if "://" not in url or scheme not in ADAPTERS:
        raise ConfigError(
            f"the broker URL {masked_url(url)!r} starts with no scheme an adapter reads; use "
            f"one of {', '.join(f'{s}://' for s in ADAPTERS)} (nats://127.0.0.1:4222, "
            "amqp://guest:guest@127.0.0.1:5672/, redis://127.0.0.1:6379/0, memory://)"
        )
    module_name, class_name = ADAPTERS[scheme]
    module = importlib.import_module(module_name)
    broker: Broker = getattr(module, class_name)(url)
    return broker
