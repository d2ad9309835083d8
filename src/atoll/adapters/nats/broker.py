"""The NATS adapter of the broker port: JetStream for events and sends, core NATS for RPC.

:class:`NatsBroker` is the broker when ``--broker-url`` is ``nats://``. It maps the port so:

- an **event** is published to the subject ``atoll.event.<type>`` and kept in the stream
  ``ATOLL_EVENTS``; each service subscribed to the type has one durable pull consumer of that
  subject (made at its first subscribe, delivering what is published from then on), which
  its instances share, and so compete for;
- a **send** goes to ``atoll.send.<service>``, kept in ``ATOLL_SENDS``; the service's one
  durable consumer of it delivers everything, so what was sent before it first subscribed
  waits for it;
- a **dead letter** is published to ``atoll.dead.<service>``, kept in ``ATOLL_DEAD`` with the
  error in its headers; its handle is its sequence in that stream;
- a **broadcast** receiver is a core NATS subscription of each topic's ``atoll.event.<type>``,
  without a queue group: each gets a copy of what is published there while it is subscribed
  (:mod:`atoll.adapters.nats.broadcast`);
- a **request** is a core NATS request to ``atoll.rpc.<service>``, which the instances
  serving it answer in the queue group named for the service; no stream keeps it. Its
  headers are the message's NATS headers (none at all when it has none).

The three streams (file storage, limits retention) are made at start when missing. Every
publish waits for JetStream's acknowledgement, and carries the envelope's id as
``Nats-Msg-Id``, so that a publish repeated within the stream's de-duplication window (two
minutes by default) is stored once. A consumer's ``max_deliver`` is one more than the
subscription's deliveries: the consuming loop dead-letters a message on the delivery after the
last allowed, which the broker must still make. Server 2.9 filters a consumer on one subject
only, so a service with several topics has one consumer per topic, and its receiver pulls from
them all at once.

This module holds :class:`NatsBroker`: the connection, the streams, the publishing and the dead
letters. The delivery side, the receivers that pull a service's consumers and the servings that
answer its requests, is in :mod:`atoll.adapters.nats.delivery`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import re
import uuid
from typing import TYPE_CHECKING, Any

from atoll.adapters.nats.broadcast import NatsBroadcast
from atoll.adapters.nats.delivery import (
    MSG_ID,
    UNREACHABLE,
    NatsReceiver,
    NatsServing,
    own_headers,
    unescape,
    wire,
)
from atoll.errors import (
    BrokerError,
    BrokerUnavailableError,
    DeadlineExceededError,
    MissingDependencyError,
    RemoteUnavailableError,
)
from atoll.messaging.broadcast import broadcast_topics
from atoll.messaging.broker import (
    DEAD_ERROR,
    check_name,
    dead_letter_from,
    envelope_headers,
    masked_url,
    request_headers,
)

try:
    import nats.errors
    from nats.aio.client import Client
    from nats.js import api
    from nats.js.errors import APIError, NoStreamResponseError, NotFoundError
    from nats.js.errors import ServiceUnavailableError as JetStreamUnavailableError
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("nats-py", "nats") from error

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Mapping, Sequence

    from nats.aio.client import Server
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext

    from atoll.messaging.broker import DeadLetter, Responder, Subscription
    from atoll.messaging.envelope import Envelope

    PullSubscription = JetStreamContext.PullSubscription

__all__ = ["NatsBroker", "next_server"]

logger = logging.getLogger("atoll.broker")

EVENTS, SENDS, DEAD = "ATOLL_EVENTS", "ATOLL_SENDS", "ATOLL_DEAD"
STREAMS = {EVENTS: "atoll.event.>", SENDS: "atoll.send.>", DEAD: "atoll.dead.>"}
"""The streams the adapter keeps, and the subjects each captures."""

ALL, NEW = api.DeliverPolicy.ALL, api.DeliverPolicy.NEW
"""Sends are delivered from the stream's start, events from a consumer's making on."""

CONNECT_TIMEOUT = 2
"""Seconds the first connection may take; after it, the connection is retried forever."""
API_TIMEOUT = 5.0
"""Seconds a JetStream call (a publish's acknowledgement, a stream's info) may take."""
LONGEST_RECONNECT_WAIT = 5.0

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def durable_name(kind: str, service: str, topic: str = "") -> str:
    """The durable consumer's name of ``service``'s sends, or of its events of ``topic``.

    Consumer names cannot hold ``.``: the readable part has it as ``_``, and a hash of the
    exact names keeps ``a.b`` and ``a_b`` apart.
    """
    digest = hashlib.sha256(f"{kind}\0{service}\0{topic}".encode()).hexdigest()[:10]
    readable = _UNSAFE.sub("_", f"{service}__{topic}" if topic else service)[:80]
    return f"atoll_{kind}_{readable}_{digest}"


async def _subscribed(nc: Client) -> None:
    """Return once the server has every subscription ``nc`` made so far.

    ``Client.flush`` writes its PING straight to the socket, ahead of the commands nats-py
    still holds for its flusher task (the SUB just made among them), so that the PONG can
    come back before the server has read the SUB: an event another connection published as
    soon as ``broadcast`` returned missed the receiver about once in thirty tries. The first
    flush's round trip lets the flusher write the SUB; the second PING follows it on the
    wire, and its PONG comes once the server has read it.
    """
    await nc.flush(timeout=round(API_TIMEOUT))
    await nc.flush(timeout=round(API_TIMEOUT))


def next_server(servers: list[Server], _info: dict[str, Any]) -> tuple[Server | None, float]:
    """Reconnect to the server, waiting longer after each failed attempt (with jitter)."""
    server = servers[0]
    wait = min(0.1 * 2.0 ** min(server.reconnects, 10), LONGEST_RECONNECT_WAIT)
    return server, wait * random.uniform(0.8, 1.2)  # noqa: S311 - not cryptography


class NatsBroker:
    """The broker port over NATS JetStream (events, sends, dead letters) and core NATS (RPC).

    Args:
        url: ``nats://[user:password@]host:port``; ``tls://`` for TLS. Nothing connects until
            :meth:`start`.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._receivers: list[NatsReceiver] = []
        self._servings: list[NatsServing] = []
        self._broadcasts: list[NatsBroadcast] = []
        self._errors: list[Exception] = []
        self._stopping = False

    def describe(self) -> str:
        """The URL without its password."""
        return masked_url(self.url)

    def __repr__(self) -> str:
        return f"NatsBroker({self.describe()!r})"

    # -- connection --------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, and make the streams that are missing.

        Raises:
            BrokerUnavailableError: no NATS server answers at the URL, or it runs without
                JetStream.
            BrokerError: a stream of the adapter's name exists with other subjects.
        """
        if self._nc is not None and not self._nc.is_closed:
            return
        self._stopping = False
        self._errors.clear()
        nc = Client()
        try:
            await nc.connect(
                self.url,
                name="atoll",
                connect_timeout=CONNECT_TIMEOUT,
                # One more attempt, then give up: the first connection fails fast...
                max_reconnect_attempts=1,
                reconnect_time_wait=0.2,  # type: ignore[arg-type] # nats-py hints int seconds
                reconnect_to_server_handler=next_server,
                error_cb=self._on_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
                drain_timeout=5,
            )
        except (*UNREACHABLE, nats.errors.Error) as error:
            reason = self._errors[-1] if self._errors else error
            raise BrokerUnavailableError(
                f"cannot reach the broker at {self.describe()}: {reason!r}; is NATS running "
                "there with JetStream (nats-server -js)? check --broker-url"
            ) from error
        # ...and, once connected, reconnecting goes on for as long as it takes.
        nc.options["max_reconnect_attempts"] = -1
        self._nc, self._js = nc, nc.jetstream(timeout=API_TIMEOUT)
        try:
            for name, subject in STREAMS.items():
                await self._make_stream(name, subject)
        except BaseException:
            await self._close_connection()
            raise

    async def _make_stream(self, name: str, subject: str) -> None:
        js = self.jetstream()
        try:
            try:
                info = await js.stream_info(name)
            except NotFoundError:
                config = api.StreamConfig(
                    name=name,
                    subjects=[subject],
                    retention=api.RetentionPolicy.LIMITS,
                    storage=api.StorageType.FILE,
                )
                info = await js.add_stream(config)
        except JetStreamUnavailableError as error:
            raise BrokerUnavailableError(
                f"the NATS server at {self.describe()} answers, but JetStream is not enabled "
                "there: start it with -js (nats-server -js), or point --broker-url at one that "
                "has it"
            ) from error
        except APIError as error:
            raise BrokerError(
                f"cannot make the stream {name} (subjects {subject}) on the broker at "
                f"{self.describe()}: {error.description}; a stream of another name may capture "
                f"those subjects: remove it (nats stream rm NAME) or change its subjects"
            ) from error
        if subject not in (info.config.subjects or ()) or (
            info.config.retention == api.RetentionPolicy.WORK_QUEUE
        ):
            raise BrokerError(
                f"the stream {name} on the broker at {self.describe()} has subjects "
                f"{info.config.subjects} and {info.config.retention} retention, and atoll needs "
                f"{subject!r} with limits retention: fix it with nats stream edit {name}, or "
                f"remove it (nats stream rm {name}, losing its messages) for atoll to make it"
            )

    async def stop(self) -> None:
        """Close the servings and receivers made here, then drain the connection."""
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
        await self._close_connection()

    async def _close_connection(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is None or nc.is_closed:
            return
        try:
            if nc.is_connected:
                await nc.drain()
        except (*UNREACHABLE, nats.errors.Error) as error:
            logger.debug("draining the connection to %s failed: %r", self.describe(), error)
        finally:
            try:
                await nc.close()
            except (*UNREACHABLE, RuntimeError) as error:
                # nats-py first writes what it buffered while reconnecting (acks, whose messages
                # the server delivers again), and a lost connection refuses it: with OSError, or
                # on uvloop with RuntimeError ("the handler is closed"), where asyncio's own
                # loop drops the write.
                logger.debug("closing the connection to %s failed: %r", self.describe(), error)

    async def ping(self) -> None:
        """Return if the server answers a round trip now.

        Raises:
            BrokerUnavailableError: not connected, or no answer within two seconds.
        """
        nc = self.connection()
        with self.reaching("answer a ping"):
            await nc.flush(timeout=2)

    def connection(self) -> Client:
        """The connection, while connected.

        Raises:
            BrokerUnavailableError: never started, stopped, or reconnecting now.
        """
        nc = self._nc
        if nc is None or not nc.is_connected:
            state = "reconnecting" if nc is not None and nc.is_reconnecting else "not connected"
            raise BrokerUnavailableError(
                f"the broker at {self.describe()} is out of reach ({state}); is NATS running "
                "there? check --broker-url"
            )
        return nc

    def jetstream(self) -> JetStreamContext:
        """The JetStream context, while connected."""
        self.connection()
        assert self._js is not None  # noqa: S101 - set with the connection
        return self._js

    @contextlib.contextmanager
    def reaching(self, what: str) -> Iterator[None]:
        """Turn the connection's failures into BrokerUnavailableError, saying ``what`` failed."""
        try:
            yield
        except UNREACHABLE as error:
            raise self.unreachable(what, error) from error

    def unreachable(self, what: str, error: BaseException) -> BrokerUnavailableError:
        """The error saying that ``what`` failed because the connection did."""
        return BrokerUnavailableError(
            f"could not {what} on the broker at {self.describe()}: {error!r}; is NATS running "
            "there? check --broker-url"
        )

    async def _on_error(self, error: Exception) -> None:
        if self._nc is None:
            self._errors.append(error)  # the first connection's: start's error names it
        else:
            logger.debug("the connection to %s: %r", self.describe(), error)

    async def _on_disconnected(self) -> None:
        if self._nc is not None and not self._stopping:
            logger.warning("lost the connection to the broker at %s; reconnecting", self.describe())

    async def _on_reconnected(self) -> None:
        logger.info("reconnected to the broker at %s", self.describe())

    # -- publishing --------------------------------------------------------------------------

    async def store(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        """Publish to a stream's subject and wait for JetStream's acknowledgement.

        Raises:
            BrokerUnavailableError: not acknowledged; publish it again.
            BrokerError: no stream captures the subject, or JetStream refused the message.
        """
        js = self.jetstream()
        try:  # no context manager here: this runs for every message
            await js.publish(subject, payload, headers=headers)
        except UNREACHABLE as error:
            raise self.unreachable(f"publish to {subject} (publish it again)", error) from error
        except NoStreamResponseError as error:
            raise BrokerError(
                f"no stream keeps {subject} on the broker at {self.describe()}; was one of "
                f"{', '.join(STREAMS)} removed? start the service again to make it"
            ) from error
        except APIError as error:
            raise BrokerError(
                f"the broker at {self.describe()} refused a message to {subject}: "
                f"{error.description}"
            ) from error

    async def publish(self, envelope: Envelope) -> None:
        """Publish an event to ``atoll.event.<type>``, kept once per envelope id."""
        check_name(envelope.type, "event type name")
        await self.store(f"atoll.event.{envelope.type}", envelope.payload, wire(envelope))

    async def send(self, envelope: Envelope, service: str) -> None:
        """Publish ``envelope`` to ``atoll.send.<service>``, kept once per envelope id."""
        check_name(service, "service name")
        await self.store(f"atoll.send.{service}", envelope.payload, wire(envelope))

    # -- consuming ---------------------------------------------------------------------------

    async def subscribe(self, subscription: Subscription) -> NatsReceiver:
        """Bind to the service's durable consumers, making or updating them as needed."""
        service = subscription.service
        wanted = [(SENDS, f"atoll.send.{service}", durable_name("send", service), ALL)]
        wanted += [
            (EVENTS, f"atoll.event.{topic}", durable_name("event", service, topic), NEW)
            for topic in subscription.events
        ]
        pulls: list[PullSubscription] = []
        try:
            for stream, subject, name, deliver in wanted:
                pulls.append(await self._consumer(stream, subject, name, deliver, subscription))
        except BaseException:
            for pull in pulls:
                with contextlib.suppress(*UNREACHABLE, nats.errors.Error):
                    await pull.unsubscribe()
            raise
        receiver = NatsReceiver(self, service, pulls, [name for _, _, name, _ in wanted])
        self._receivers.append(receiver)
        return receiver

    async def _consumer(
        self,
        stream: str,
        subject: str,
        name: str,
        deliver: api.DeliverPolicy,
        subscription: Subscription,
    ) -> PullSubscription:
        js = self.jetstream()
        config = api.ConsumerConfig(
            name=name,
            durable_name=name,
            deliver_policy=deliver,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=subscription.ack_wait,
            max_deliver=subscription.deliveries + 1,
            filter_subject=subject,
            max_ack_pending=max(1024, subscription.prefetch * 16),
        )
        try:
            with self.reaching(f"make the consumer {name}"):
                # Made if missing; an existing one keeps its messages and takes these settings.
                await js.add_consumer(stream, config)
        except APIError as error:
            raise BrokerError(
                f"the consumer {name} of the stream {stream} on the broker at "
                f"{self.describe()} cannot take the settings of {subscription.service!r}: "
                f"{error.description}; remove it (nats consumer rm {stream} {name}; what it "
                "has not delivered is lost for this service) and start again"
            ) from error
        with self.reaching(f"bind to the consumer {name}"):
            return await js.pull_subscribe_bind(name, stream=stream)

    async def broadcast(self, topics: Sequence[str]) -> NatsBroadcast:
        """Core NATS subscriptions of ``atoll.event.<topic>``, live when this returns.

        No queue group, no JetStream consumer: see :mod:`atoll.adapters.nats.broadcast` for why.
        """
        names = broadcast_topics(topics)
        nc = self.connection()
        broadcast = NatsBroadcast(self, names)
        try:
            with self.reaching(f"broadcast {', '.join(names)}"):
                for topic in names:
                    broadcast.subscriptions.append(
                        await nc.subscribe(f"atoll.event.{topic}", cb=broadcast.take)
                    )
                # The server has the subscriptions once it answers a ping after them: an event
                # published as soon as this returns, by this process or another, reaches them.
                await _subscribed(nc)
        except BaseException:
            await broadcast.close()
            raise
        self._broadcasts.append(broadcast)
        return broadcast

    # -- requests ----------------------------------------------------------------------------

    async def request(
        self,
        service: str,
        body: bytes,
        wait: float,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """Ask one instance serving ``service`` (core NATS request/reply), within ``wait``."""
        check_name(service, "service name")
        carried = request_headers(headers)
        try:
            nc = self.connection()
            reply = await nc.request(
                f"atoll.rpc.{service}",
                body,
                timeout=wait,
                headers=dict(carried) if carried else None,  # none: a plain PUB, cheaper
            )
        except nats.errors.NoRespondersError:
            raise RemoteUnavailableError(
                f"no instance of {service!r} serves requests on the broker at "
                f"{self.describe()}, so the call did not run; check that it runs with the same "
                "--broker-url"
            ) from None
        except TimeoutError:
            raise DeadlineExceededError(
                f"{service!r} did not answer within {wait} s on the broker at "
                f"{self.describe()}; the call may have run"
            ) from None
        except (BrokerUnavailableError, *UNREACHABLE) as error:
            raise RemoteUnavailableError(
                f"cannot call {service!r}: the broker at {self.describe()} is out of reach "
                f"({error}); the call did not run"
            ) from error
        return reply.data

    async def serve(self, service: str, respond: Responder) -> NatsServing:
        """Answer requests to ``service`` in its queue group, each in a task of its own."""
        check_name(service, "service name")
        nc = self.connection()
        serving = NatsServing(service, respond)
        with self.reaching(f"serve {service!r}"):
            serving.subscription = await nc.subscribe(
                f"atoll.rpc.{service}", queue=service, cb=serving.take
            )
            # The server has the subscription once it answers a ping after it: a request sent
            # as soon as this returns, by this process or another, finds it.
            await _subscribed(nc)
        self._servings.append(serving)
        return serving

    # -- dead letters ------------------------------------------------------------------------

    async def _dead(self, service: str, limit: int | None) -> list[tuple[int, Msg]]:
        """The oldest ``limit`` (or all) messages of ``atoll.dead.<service>``, with their seqs."""
        check_name(service, "service name")
        js = self.jetstream()
        subject = f"atoll.dead.{service}"
        with self.reaching("read the dead letters"):
            info = await js.stream_info(DEAD, subjects_filter=subject)
        count = (info.state.subjects or {}).get(subject, 0)
        wanted = count if limit is None else min(limit, count)
        if wanted <= 0:
            return []
        name = f"atoll_dead_{uuid.uuid4().hex}"
        config = api.ConsumerConfig(
            name=name,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.NONE,
            filter_subject=subject,
            inactive_threshold=30.0,
            mem_storage=True,
        )
        msgs: list[Msg] = []
        with self.reaching("read the dead letters"):
            await js.add_consumer(DEAD, config)
            pull = await js.pull_subscribe_bind(name, stream=DEAD)
            try:
                while len(msgs) < wanted:
                    try:
                        msgs += await pull.fetch(wanted - len(msgs), timeout=1.0)
                    except TimeoutError:  # some were removed meanwhile
                        break
            finally:
                await pull.unsubscribe()
                with contextlib.suppress(APIError):
                    await js.delete_consumer(DEAD, name)
        return [(msg.metadata.sequence.stream, msg) for msg in msgs]

    def _letter(self, service: str, seq: int, msg: Msg) -> DeadLetter | None:
        headers = own_headers(msg)
        if DEAD_ERROR in headers:
            headers[DEAD_ERROR] = unescape(headers[DEAD_ERROR])
        try:
            return dead_letter_from(str(seq), service, headers, msg.data)
        except ValueError as error:
            logger.warning(
                "the message %d of %s on %s is no atoll dead letter; skipped: %s",
                seq,
                DEAD,
                msg.subject,
                error,
            )
            return None

    async def _chosen(self, service: str, ids: Collection[str] | None) -> list[DeadLetter]:
        letters = [self._letter(service, seq, msg) for seq, msg in await self._dead(service, None)]
        return [d for d in letters if d is not None and (ids is None or d.id in ids)]

    async def dead_letter_count(self, service: str) -> int:
        """The messages of ``atoll.dead.<service>``, as the stream counts them per subject."""
        check_name(service, "service name")
        subject = f"atoll.dead.{service}"
        with self.reaching("count the dead letters"):
            info = await self.jetstream().stream_info(DEAD, subjects_filter=subject)
        return (info.state.subjects or {}).get(subject, 0)

    async def dead_letters(self, service: str, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters of ``service``; each one's id is its sequence."""
        letters = [self._letter(service, seq, msg) for seq, msg in await self._dead(service, limit)]
        return [d for d in letters if d is not None]

    async def redrive(self, service: str, ids: Collection[str] | None = None) -> int:
        """Send dead letters back to ``service`` as new messages, and delete them."""
        count = 0
        for letter in await self._chosen(service, ids):
            headers = envelope_headers(letter.envelope)
            # Its envelope id is in the de-duplication window if it died young: another id.
            headers[MSG_ID] = f"{letter.envelope.id}.redrive.{letter.id}"
            await self.store(f"atoll.send.{service}", letter.envelope.payload, headers)
            count += await self._delete(int(letter.id))
        return count

    async def purge(self, service: str, ids: Collection[str] | None = None) -> int:
        """Delete dead letters of ``service``: all (one purge of the subject), or those named."""
        if ids is not None:
            count = 0
            for letter in await self._chosen(service, ids):
                count += await self._delete(int(letter.id))
            return count
        check_name(service, "service name")
        nc = self.connection()
        request = json.dumps({"filter": f"atoll.dead.{service}"}).encode()
        with self.reaching("purge the dead letters"):
            reply = await nc.request(f"$JS.API.STREAM.PURGE.{DEAD}", request, timeout=API_TIMEOUT)
        answer: dict[str, Any] = json.loads(reply.data)
        if "error" in answer:
            raise BrokerError(
                f"the broker at {self.describe()} refused to purge {DEAD}: {answer['error']}"
            )
        return int(answer.get("purged", 0))

    async def _delete(self, seq: int) -> int:
        js = self.jetstream()
        try:
            with self.reaching("delete a dead letter"):
                await js.delete_msg(DEAD, seq)
        except NotFoundError:
            return 0  # deleted meanwhile, by another instance
        return 1
