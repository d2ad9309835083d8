"""The delivery side of the NATS adapter: its receivers, what they deliver, its servings.

A :class:`NatsReceiver` pulls a service's messages for one instance from its durable JetStream
consumers (one per topic, and one of its sends) and hands them out as :class:`_Received`
messages, each settled once: acked, kept in progress, given back, or dead-lettered. A
:class:`NatsServing` answers a service's core NATS requests, each in a task of its own.

They are apart from :mod:`atoll.adapters.nats.broker`, which keeps
:class:`~atoll.adapters.nats.broker.NatsBroker`: the connection, the streams, the publishing and
the dead letters. A receiver reaches it only through what :class:`Connected` describes, so that
this module does not import the broker's. The broker imports from here what both sides read:
how an envelope travels in headers, what nats-py raises when the server is out of reach, and
how an error's lines are kept in a header.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import re
import time
from typing import TYPE_CHECKING, Protocol

import msgspec

from atoll.errors import BrokerError, BrokerUnavailableError, MissingDependencyError
from atoll.messaging.broker import DEAD_ERROR, dead_letter_headers, envelope_from_headers
from atoll.messaging.envelope import Envelope

try:
    import nats.errors
    from nats.js.errors import APIError, NotFoundError
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("nats-py", "nats") from error

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription as CoreSubscription
    from nats.js import JetStreamContext

    from atoll.messaging.broker import Responder

    PullSubscription = JetStreamContext.PullSubscription

__all__ = [
    "MSG_ID",
    "UNREACHABLE",
    "Connected",
    "NatsReceiver",
    "NatsServing",
    "envelope_of",
    "own_headers",
    "unescape",
    "wire",
]

logger = logging.getLogger("atoll.broker")

MSG_ID = "Nats-Msg-Id"
_V1_TOKENS = 9
"""The tokens of a v1 ack subject: $JS.ACK.stream.consumer.delivered.sseq.cseq.time.pending."""

UNREACHABLE = (
    OSError,
    TimeoutError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionDrainingError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
)

_ESCAPED = re.compile(r"\\([\\nr])")
_UNESCAPE = {"\\": "\\", "n": "\n", "r": "\r"}


def _escape(text: str) -> str:
    # A header value cannot hold a line break (nats-py turns it into a space): keep the
    # error's lines, a traceback's in particular, as \n.
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def unescape(text: str) -> str:
    """The text ``escape`` was given: an error's lines, read back from a header."""
    return _ESCAPED.sub(lambda match: _UNESCAPE[match[1]], text)


_PACKED = "Atoll"
"""The one header an event or a send travels with beside ``Nats-Msg-Id`` (its id): the type, the
stream and the envelope's headers, as JSON. nats-py parses headers in Python, name by name:
two cost a third of seven."""

_pack = msgspec.json.Encoder().encode
_unpack = msgspec.json.Decoder(tuple[str, str, dict[str, str]]).decode


def wire(envelope: Envelope) -> dict[str, str]:
    """The headers of an event or a send: its id for de-duplication, the rest packed."""
    packed = _pack((envelope.type, envelope.stream, envelope.headers)).decode()
    return {MSG_ID: envelope.id, _PACKED: packed}


def envelope_of(msg: Msg) -> Envelope:
    """The envelope a delivered message carries: packed, or header by header (redriven).

    Raises:
        ValueError: it carries none.
    """
    headers = msg.headers or {}
    packed = headers.get(_PACKED)
    if packed is None or MSG_ID not in headers:
        return envelope_from_headers(own_headers(msg), msg.data)
    try:
        kind, stream, carried = _unpack(packed)
    except msgspec.DecodeError as error:
        raise ValueError(f"its {_PACKED} header is not atoll's: {error}") from None
    return Envelope(headers[MSG_ID], kind, msg.data, stream, carried)


def own_headers(msg: Msg) -> dict[str, str]:
    """A delivered message's headers, without the one the adapter adds for JetStream."""
    headers = msg.headers or {}
    headers.pop(MSG_ID, None)
    return headers


class Connected(Protocol):
    """What a receiver needs of its broker: the connection, and the words for its failures."""

    def describe(self) -> str:
        """The broker's URL without its password."""
        ...

    def connection(self) -> Client:
        """The connection, while connected; raises BrokerUnavailableError otherwise."""
        ...

    def reaching(self, what: str) -> contextlib.AbstractContextManager[None]:
        """Turn the connection's failures into BrokerUnavailableError, saying ``what`` failed."""
        ...

    def unreachable(self, what: str, error: BaseException) -> BrokerUnavailableError:
        """The error saying that ``what`` failed because the connection did."""
        ...

    async def store(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        """Store a message on a JetStream subject, confirmed."""
        ...


class _Received:
    """A delivered JetStream message, until it is settled."""

    __slots__ = ("_msg", "_receiver", "_settled", "envelope")

    def __init__(self, msg: Msg, envelope: Envelope, receiver: NatsReceiver) -> None:
        self._msg = msg
        self.envelope = envelope
        self._receiver = receiver
        self._settled = False

    @property
    def attempt(self) -> int:
        """The delivery count JetStream keeps for the message: redeliveries of any cause."""
        # Read from the ack subject ($JS.ACK.<stream>.<consumer>.<delivered>... in the v1 form,
        # two tokens more in v2), which is what msg.metadata parses, without its timestamp's
        # datetime: this is read for every message.
        tokens = self._msg.reply.split(".")
        return int(tokens[4] if len(tokens) == _V1_TOKENS else tokens[6])

    def _settle(self) -> bool:
        if self._settled:
            return False
        self._settled = True
        self._receiver.unsettled.discard(self)
        return True

    async def ack(self) -> None:
        """Acknowledge it: JetStream never delivers it again."""
        if self._settle():
            try:
                await self._msg.ack()
            except UNREACHABLE as error:  # no context manager here: this runs for every message
                raise self._receiver.broker.unreachable("acknowledge a message", error) from error

    async def in_progress(self) -> None:
        """Tell JetStream it is still in hand: its ack wait starts again."""
        if not self._settled:
            try:
                await self._msg.in_progress()
            except UNREACHABLE as error:
                raise self._receiver.broker.unreachable("keep a message", error) from error

    async def retry(self, delay: float) -> None:
        """Nak it with ``delay``: JetStream delivers it again no sooner."""
        if self._settle():
            with self._receiver.broker.reaching("return a message"):
                await self._msg.nak(delay=delay if delay > 0 else None)

    async def dead_letter(self, error: str) -> None:
        """Publish it to the service's dead letters, then terminate its deliveries."""
        if self._settled:
            return
        broker, service = self._receiver.broker, self._receiver.service
        metadata = self._msg.metadata
        headers = dead_letter_headers(self.envelope, error, metadata.num_delivered)
        headers[DEAD_ERROR] = _escape(headers[DEAD_ERROR])
        # Dead-lettered twice (its term was lost, and it came back), it is kept once.
        headers[MSG_ID] = f"{self.envelope.id}.dead.{metadata.stream}.{metadata.sequence.stream}"
        await broker.store(f"atoll.dead.{service}", self._msg.data, headers)
        if self._settle():
            with broker.reaching("terminate a dead-lettered message"):
                await self._msg.term()


class NatsReceiver:
    """One instance's pull subscriptions of a service's durable consumers."""

    check_every = 10.0
    """Seconds between the checks, while fetches come back empty, that a consumer exists.

    A fetch from a deleted consumer does not fail on server 2.9: it only ever times out.
    """

    def __init__(
        self, broker: Connected, service: str, pulls: list[PullSubscription], names: list[str]
    ) -> None:
        self.broker = broker
        self.service = service
        self._pulls = pulls
        self._names = names
        self._ready: collections.deque[Msg] = collections.deque()
        self._fetching: dict[int, asyncio.Task[list[Msg]]] = {}
        self.unsettled: set[_Received] = set()
        self.closed = False
        self._checked = [time.monotonic()] * len(pulls)

    async def receive(self, limit: int, wait: float) -> list[_Received]:
        """Up to ``limit`` messages from the consumers, as soon as one has any."""
        if self.closed:
            return []
        deadline = time.monotonic() + wait
        while not self._ready and not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.broker.connection()  # raises while disconnected
            await self._pull(limit, left)
        taken: list[_Received] = []
        while self._ready and len(taken) < limit:
            msg = self._ready.popleft()
            try:
                envelope = envelope_of(msg)
            except ValueError as error:
                await self._refuse(msg, error)
                continue
            received = _Received(msg, envelope, self)
            self.unsettled.add(received)
            taken.append(received)
        return taken

    async def _pull(self, limit: int, wait: float) -> None:
        if len(self._pulls) == 1:
            self._ready.extend(await self._fetch(0, limit, wait))
            return
        for index in range(len(self._pulls)):
            if index not in self._fetching:
                fetch = self._fetch(index, limit, wait)
                self._fetching[index] = asyncio.ensure_future(fetch)
        # Each fetch returns when its consumer has messages; the others go on, and what they
        # take is returned by the next receive.
        done, _ = await asyncio.wait(
            self._fetching.values(), timeout=wait, return_when=asyncio.FIRST_COMPLETED
        )
        for index, task in list(self._fetching.items()):
            if task in done:
                del self._fetching[index]
                self._ready.extend(task.result())

    async def _fetch(self, index: int, limit: int, wait: float) -> list[Msg]:
        try:
            return await self._pulls[index].fetch(limit, timeout=wait)
        except TimeoutError:
            await self._check(index)
            return []  # nothing came within the wait
        except APIError as error:
            raise BrokerError(
                f"the consumer {self._names[index]} on the broker at {self.broker.describe()} "
                f"refused a fetch: {error.description}; if it was deleted, start the service "
                "again to make it anew"
            ) from error
        except UNREACHABLE as error:
            raise self.broker.unreachable("take messages", error) from error

    async def _check(self, index: int) -> None:
        if time.monotonic() - self._checked[index] < self.check_every:
            return
        self._checked[index] = time.monotonic()
        try:
            with self.broker.reaching("check a consumer"):
                await self._pulls[index].consumer_info()
        except NotFoundError as error:
            raise BrokerError(
                f"the consumer {self._names[index]} is gone from the broker at "
                f"{self.broker.describe()} (deleted?); start the service again to make it anew"
            ) from error

    async def _refuse(self, msg: Msg, error: ValueError) -> None:
        logger.error(
            "a message on %s (stream sequence %d) is no atoll envelope; terminated, it stays in "
            "the stream for inspection: %s",
            msg.subject,
            msg.metadata.sequence.stream,
            error,
        )
        with self.broker.reaching("terminate a foreign message"):
            await msg.term()

    async def close(self) -> None:
        """Take no more; nak what was received and not settled, so that it comes back now."""
        if self.closed:
            return
        self.closed = True
        # A fetch still running is let finish (within its wait), not cancelled: one the server
        # has answered already holds messages counted as delivered to this receiver, which a
        # cancel would drop, to come back only once their ack wait has passed.
        fetched = await asyncio.gather(*self._fetching.values(), return_exceptions=True)
        self._fetching.clear()
        for outcome in fetched:
            if isinstance(outcome, list):
                self._ready.extend(outcome)
        for received in list(self.unsettled):
            with contextlib.suppress(BrokerUnavailableError):
                await received.retry(0)
        while self._ready:
            with contextlib.suppress(*UNREACHABLE):
                await self._ready.popleft().nak()
        for pull in self._pulls:
            # Unsubscribing leaves the durable consumer, and what it keeps, in place.
            with contextlib.suppress(*UNREACHABLE, nats.errors.BadSubscriptionError):
                await pull.unsubscribe()


class NatsServing:
    """The requests one instance answers: each in a task of its own, to answer many at once."""

    def __init__(self, service: str, respond: Responder) -> None:
        self._service = service
        self._respond = respond
        self._calls: set[asyncio.Task[None]] = set()
        self.subscription: CoreSubscription | None = None

    async def take(self, msg: Msg) -> None:
        """Answer ``msg`` in a task of its own, so that the next request is taken at once."""
        # nats-py awaits a subscription's callback before it hands over the next message.
        task = asyncio.ensure_future(self._answer(msg))
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    async def _answer(self, msg: Msg) -> None:
        try:
            reply = await self._respond(msg.data, msg.headers or {})
        except Exception:
            logger.exception("answering a request to %r failed", self._service)
            return
        try:
            await msg.respond(reply)
        except (*UNREACHABLE, nats.errors.Error) as error:
            logger.warning("the reply to a request to %r was not sent: %r", self._service, error)

    async def close(self) -> None:
        """Take no more requests; answer those taken first."""
        subscription, self.subscription = self.subscription, None
        if subscription is not None:
            try:
                await subscription.drain()  # type: ignore[no-untyped-call] # answers those delivered
            except (*UNREACHABLE, nats.errors.Error):
                with contextlib.suppress(*UNREACHABLE, nats.errors.Error):
                    await subscription.unsubscribe()
        if self._calls:
            await asyncio.wait(set(self._calls))
