"""The Redis adapter of the broker port: Redis Streams through redis-py's asyncio client.

:class:`RedisBroker` is the broker when its URL is ``redis://`` or ``rediss://``. It maps the
port onto these keys (a service or a type is a name :func:`check_name` accepts)::

    atoll:event:<type>          stream: the events of a topic; each subscribed service is a
                                consumer group on it, created at ``$`` by its first
                                subscription (it takes the events published from then on)
    atoll:send:<service>        stream: what is sent to a service (and its retries, redrives
                                and given-back messages); its group is created at ``0``, so
                                what was sent before the service first subscribed waits for it
    atoll:dead:<service>        stream: its dead letters; a DeadLetter's id is the entry's id
    atoll:delay:<service>       sorted set: retried messages, scored by when they are due
    atoll:rpc:<service>         list: the requests to a service, which its instances pop
    atoll:rpc-servers:<service> sorted set: the instances serving it, scored by their last
                                heartbeat (every second; three seconds without one is death)
    atoll:reply:<broker>        pub/sub channel: the replies to one broker's requests

An entry holds one field, ``m``: the envelope's headers (:func:`envelope_headers`) as one JSON
object (which holds no raw line break), a line break, and the payload; a retried one holds
``a`` too, the deliveries it had. One field parses in half the time of two: redis-py parses
each field of a reply in Python, and msgspec decodes the headers in one call. A dead letter
holds ``p`` (the payload), ``h`` (the headers) and ``d``, why and when it died
(:func:`dead_letter_headers`' own headers); redriven, it is one ``m`` again.

Publishing is ``XADD``: its reply is Redis's confirmation. Redis 7.0 has no idempotent
``XADD``: a publish retried after a lost reply may add the message twice, which consumers
de-duplicate with the inbox. Event and send streams are trimmed approximately to
:data:`MAX_ENTRIES` entries each (``MAXLEN ~``): entries a slow group has not read by then are
dropped unread (and entries trimmed while pending are dropped from the group when reclaimed).
Dead-letter streams are never trimmed.

A broadcast receiver reads its topics' streams with ``XREAD``, in no group, after the last
entry each held when it was made (:mod:`atoll.adapters.redis.broadcast`); it keeps nothing on
Redis.

Each receiver is a consumer of its own name in its service's groups, reading with
``XREADGROUP`` on a connection of its own. A delivery's attempt is Redis's count of its
deliveries (``times_delivered``) plus the ``a`` it carries. A message left unsettled past its
``ack_wait`` is taken by ``XAUTOCLAIM``, which every receiver runs every half ``ack_wait``. A
retry moves the message (atomically with its ``XACK``) to the delay set, from which every
receiver moves due messages (in a Lua script, on Redis's clock) back to the service's send
stream: to that service only, never sooner than asked, and at most about a second late when
another instance asked. A closed receiver gives back what it held to the send stream at once.
Settling a message that another consumer has claimed since is a no-op, except an ack. Acks are
sent, not waited for (as NATS's and RabbitMQ's, which no reply confirms), those made meanwhile
in one ``XACK``; one that fails is logged, and its message delivered again after its ack wait.

Requests are pushed (after a check for a live server, in one Lua script) to the service's list,
carrying their deadline on Redis's clock: a server drops those it takes too late. An entry is
``deadline|channel|correlation|headers`` (a JSON object, which holds no raw line break; empty
for none), a line break, and the body. The reply is published to the requester's channel with
the call's correlation id.

Errors come out as atoll's: a Redis out of reach (or refusing the credentials) is a
:class:`~atoll.errors.BrokerUnavailableError` naming the URL, never its password. Redis Cluster
is not supported: a script touches keys of two services. The Lua scripts are in
:mod:`atoll.adapters.redis.scripts`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import msgspec

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
    check_name,
    dead_letter_from,
    envelope_headers,
    masked_url,
    request_headers,
)

try:
    import redis.asyncio as aioredis
    from redis import exceptions as redis_errors
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("redis", "redis") from error

from atoll.adapters.redis.broadcast import RedisBroadcast
from atoll.adapters.redis.delivery import RedisReceiver
from atoll.adapters.redis.layout import (
    MAX_BLOCK,
    MAX_ENTRIES,
    Entries,
    decode_headers,
    encode,
    instance_name,
)
from atoll.adapters.redis.scripts import Scripts
from atoll.adapters.redis.serving import BEAT_STALE, RedisServing

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    from atoll.messaging.broker import DeadLetter, Responder, Subscription
    from atoll.messaging.envelope import Envelope


__all__ = ["MAX_ENTRIES", "RedisBroker"]

logger = logging.getLogger("atoll.broker")

CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 5.0
POOL_SIZE = 64
"""Connections the shared pool opens at the most (the URL's ``?max_connections=`` wins)."""
_ENTRY_ID = re.compile(r"\d+-\d+")


class RedisBroker:
    """The broker port on Redis Streams (Redis 7.0 or later).

    Args:
        url: ``redis://[[user]:password@]host:port/db`` or ``rediss://`` for TLS.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._masked = masked_url(url)
        self._password = urlsplit(url).password or ""
        self._client: aioredis.Redis | None = None
        self._scripts: Scripts | None = None
        self._receivers: list[RedisReceiver] = []
        self._servings: list[RedisServing] = []
        self._broadcasts: list[RedisBroadcast] = []
        self._name = instance_name()
        self._replies: asyncio.Task[None] | None = None
        self._replies_ready = asyncio.Event()
        self._replies_lock = asyncio.Lock()
        self._calls: dict[bytes, asyncio.Future[bytes]] = {}
        self._correlation = itertools.count(1)

    def describe(self) -> str:
        """The URL, its password masked."""
        return self._masked

    def __repr__(self) -> str:
        return f"RedisBroker({self._masked!r})"

    # -- connections -------------------------------------------------------------------------

    def _new_client(self, *, pooled: bool = False, **options: Any) -> aioredis.Redis:
        """A client of the URL; ``pooled``: of a pool that waits for a free connection.

        redis-py's default pool raises at its 100th connection in use; the blocking one
        makes the 101st concurrent publish wait its turn instead.
        """
        try:
            if pooled:
                pool = aioredis.BlockingConnectionPool.from_url(
                    self.url,
                    protocol=2,
                    socket_connect_timeout=CONNECT_TIMEOUT,
                    max_connections=POOL_SIZE,
                    timeout=COMMAND_TIMEOUT,
                    **options,
                )
                return aioredis.Redis.from_pool(pool)
            return aioredis.from_url(
                self.url, protocol=2, socket_connect_timeout=CONNECT_TIMEOUT, **options
            )
        except ValueError as error:
            raise ConfigError(
                f"the broker URL {self._masked!r} cannot be read: {self._reason(error)}; "
                "write it as redis://[[user]:password@]host:port/db"
            ) from error

    def blocking_client(self, connected: Any) -> aioredis.Redis:
        """A client of one connection for blocking reads, which retries once.

        Once: a connection found broken is made again, but a Redis out of reach fails the
        receive at once (its caller backs off). ``connected`` runs on each connection made
        (it learns the connection's id, for CLIENT UNBLOCK).
        """
        return self._new_client(
            single_connection_client=True,
            socket_timeout=MAX_BLOCK + COMMAND_TIMEOUT,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 1),
            redis_connect_func=connected,
        )

    @property
    def client(self) -> aioredis.Redis:
        """The client of the shared pool: publishes, settles, scripts."""
        if self._client is None:
            raise BrokerUnavailableError(
                f"the broker at {self._masked} is not started; start it before using it"
            )
        return self._client

    @property
    def scripts(self) -> Scripts:
        """The Lua scripts, registered on :attr:`client`."""
        if self._scripts is None:
            raise BrokerUnavailableError(
                f"the broker at {self._masked} is not started; start it before using it"
            )
        return self._scripts

    def _reason(self, error: BaseException) -> str:
        reason = str(error) or type(error).__name__
        return reason.replace(self._password, "********") if self._password else reason

    def failure(self, error: redis_errors.RedisError) -> BrokerError:
        """The atoll error for what redis-py raised, naming the URL without its password."""
        reason = self._reason(error)
        if isinstance(error, redis_errors.AuthenticationError):
            return BrokerUnavailableError(
                f"the broker at {self._masked} refused the credentials: {reason}; check the "
                "user and password in --broker-url"
            )
        if isinstance(error, (redis_errors.ConnectionError, redis_errors.TimeoutError)):
            return BrokerUnavailableError(
                f"cannot reach the broker at {self._masked}: {reason}; is Redis running "
                "there? check --broker-url"
            )
        return BrokerError(f"the broker at {self._masked} refused a command: {reason}")

    async def start(self) -> None:
        """Connect, and check that Redis answers."""
        if self._client is not None:
            return
        client = self._new_client(
            pooled=True,
            socket_timeout=COMMAND_TIMEOUT,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
        )
        try:
            await client.ping()
        except redis_errors.RedisError as error:
            await client.aclose()
            failure = self.failure(error)
            if not isinstance(failure, BrokerUnavailableError):
                failure = BrokerUnavailableError(
                    f"cannot use the broker at {self._masked}: {self._reason(error)}; check "
                    "--broker-url"
                )
            raise failure from error
        self._client = client
        self._scripts = Scripts(client)

    async def stop(self) -> None:
        """Close the servings and the receivers, then the connections."""
        for serving in self._servings:
            await serving.close()
        for receiver in self._receivers:
            await receiver.close()
        for broadcast in self._broadcasts:
            await broadcast.close()
        self._servings.clear()
        self._receivers.clear()
        self._broadcasts.clear()
        if self._replies is not None:
            self._replies.cancel()
            await asyncio.gather(self._replies, return_exceptions=True)
            self._replies = None
        for future in self._calls.values():
            if not future.done():
                future.set_exception(
                    RemoteUnavailableError(f"the broker at {self._masked} stopped before the reply")
                )
        self._replies_ready = asyncio.Event()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
            self._scripts = None

    async def ping(self) -> None:
        """Return if Redis answers now; raise BrokerUnavailableError if not."""
        try:
            await self.client.ping()
        except redis_errors.RedisError as error:
            raise self.failure(error) from error

    # -- publishing --------------------------------------------------------------------------

    async def _add(self, stream: str, envelope: Envelope) -> None:
        # One field: the headers' JSON (which holds no raw line break), a line break, the
        # payload. redis-py parses a reply in Python, field by field: two cost twice one.
        message = encode(envelope_headers(envelope)) + b"\n" + envelope.payload
        try:
            await self.client.execute_command(  # type: ignore[no-untyped-call]
                "XADD", stream, "MAXLEN", "~", MAX_ENTRIES, "*", "m", message
            )
        except redis_errors.RedisError as error:
            raise self.failure(error) from error

    async def publish(self, envelope: Envelope) -> None:
        """XADD the event to its topic's stream; Redis's reply confirms it."""
        await self._add(f"atoll:event:{envelope.type}", envelope)

    async def send(self, envelope: Envelope, service: str) -> None:
        """XADD the message to the service's send stream."""
        check_name(service, "service name")
        await self._add(f"atoll:send:{service}", envelope)

    # -- consuming ---------------------------------------------------------------------------

    async def create_groups(self, service: str, streams: Sequence[str]) -> None:
        """Make the service's group on each stream; one already there is kept.

        A send stream's group starts at its first entry, an event stream's at its last.
        """
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for stream in streams:
                    start = "0" if stream.startswith("atoll:send:") else "$"
                    pipe.xgroup_create(stream, service, id=start, mkstream=True)
                results = await pipe.execute(raise_on_error=False)
        except redis_errors.RedisError as error:
            raise self.failure(error) from error
        for result in results:
            if isinstance(result, redis_errors.RedisError) and "BUSYGROUP" not in str(result):
                raise self.failure(result)

    async def subscribe(self, subscription: Subscription) -> RedisReceiver:
        """A consumer in the service's groups on its send stream and its topics' streams."""
        service = subscription.service
        streams = [f"atoll:send:{service}"] + [f"atoll:event:{t}" for t in subscription.events]
        await self.create_groups(service, streams)
        receiver = RedisReceiver(self, subscription, streams)
        try:
            await receiver.connect()
        except redis_errors.RedisError as error:
            await receiver.close()
            raise self.failure(error) from error
        self._receivers.append(receiver)
        return receiver

    async def broadcast(self, topics: Sequence[str]) -> RedisBroadcast:
        """A reader (``XREAD``, no group) of the topics' streams, from their last entries now.

        See :mod:`atoll.adapters.redis.broadcast`.
        """
        names = broadcast_topics(topics)
        broadcast = RedisBroadcast(self, names)
        try:
            await broadcast.start()
        except redis_errors.RedisError as error:
            await broadcast.close()
            raise self.failure(error) from error
        self._broadcasts.append(broadcast)
        return broadcast

    # -- requests ----------------------------------------------------------------------------

    @property
    def _channel(self) -> str:
        return f"atoll:reply:{self._name}"

    async def _listen(self, pubsub: Any) -> None:
        while True:
            try:
                message = await pubsub.get_message(timeout=None)
            except redis_errors.RedisError as error:
                logger.warning("the replies on %s are interrupted: %s", self._masked, error)
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            if message["type"] == "subscribe":
                self._replies_ready.set()
            elif message["type"] == "message":
                correlation, _, rest = message["data"].partition(b"|")
                future = self._calls.get(correlation)
                if future is not None and not future.done():
                    future.set_result(rest)

    async def _listening(self) -> None:
        if self._replies_ready.is_set():
            return
        async with self._replies_lock:
            if self._replies is None:
                pubsub = self.client.pubsub()
                await pubsub.subscribe(self._channel)
                self._replies = asyncio.create_task(self._closing(pubsub, self._listen(pubsub)))
            await self._replies_ready.wait()

    @staticmethod
    async def _closing(pubsub: Any, listen: Any) -> None:
        try:
            await listen
        finally:
            await pubsub.aclose()

    async def request(
        self,
        service: str,
        body: bytes,
        wait: float,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """Push the request to the service's list if one of its servers beats; await its reply.

        Raises:
            BrokerError: the headers cannot travel; nothing was sent.
            RemoteUnavailableError: no server of ``service`` beats, or none answered in time.
        """
        carried = request_headers(headers)
        head = encode(carried) if carried else b""
        correlation = b"%d" % next(self._correlation)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._calls[correlation] = future
        blob = b"%s|%s|%s\n%s" % (self._channel.encode(), correlation, head, body)
        try:
            async with asyncio.timeout(wait):
                await self._listening()
                taken = await self.scripts.request(
                    keys=[f"atoll:rpc-servers:{service}", f"atoll:rpc:{service}"],
                    args=[round(BEAT_STALE * 1_000_000), round(wait * 1_000_000), blob],
                )
                if not taken:
                    raise RemoteUnavailableError(
                        f"no instance of {service!r} serves requests on the broker "
                        f"{self._masked}; check that it runs with the same --broker-url"
                    )
                reply = await future
        except TimeoutError:
            raise DeadlineExceededError(
                f"{service!r} did not answer within {wait} s on the broker {self._masked}; the "
                "call may have run"
            ) from None
        except redis_errors.RedisError as error:
            raise RemoteUnavailableError(
                f"{service!r} cannot be asked: {self.failure(error)}"
            ) from error
        finally:
            self._calls.pop(correlation, None)
        if reply[:1] != b"0":
            raise RemoteUnavailableError(
                f"{service!r} failed to answer on the broker {self._masked}: "
                f"{reply[1:].decode(errors='replace')}"
            )
        return reply[1:]

    async def serve(self, service: str, respond: Responder) -> RedisServing:
        """Beat in the service's server set, and answer what is pushed to its list."""
        check_name(service, "service name")
        serving = RedisServing(self, service, respond)
        try:
            await serving.start()
        except redis_errors.RedisError as error:
            await serving.close()
            raise self.failure(error) from error
        self._servings.append(serving)
        return serving

    # -- dead letters ------------------------------------------------------------------------

    async def dead_letter_count(self, service: str) -> int:
        """The entries of the service's dead-letter stream (``XLEN``)."""
        try:
            return int(await self.client.xlen(f"atoll:dead:{service}"))
        except redis_errors.RedisError as error:
            raise self.failure(error) from error

    async def dead_letters(self, service: str, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` entries of the service's dead-letter stream."""
        try:
            entries = cast(
                "Entries", await self.client.xrange(f"atoll:dead:{service}", count=limit)
            )
        except redis_errors.RedisError as error:
            raise self.failure(error) from error
        letters = []
        for entry_id, fields in entries:
            try:
                headers = decode_headers(fields.get(b"h", b"{}"))
                headers.update(decode_headers(fields.get(b"d", b"{}")))
                letter = dead_letter_from(entry_id.decode(), service, headers, fields[b"p"])
            except (KeyError, ValueError, msgspec.DecodeError):
                logger.warning("skipped the unreadable dead letter %s of %s", entry_id, service)
                continue
            letters.append(letter)
        return letters

    async def _chosen(self, service: str, ids: Collection[str] | None) -> list[str]:
        if ids is not None:
            return [i for i in ids if _ENTRY_ID.fullmatch(i)]
        entries = cast("Entries", await self.client.xrange(f"atoll:dead:{service}"))
        return [entry_id.decode() for entry_id, _ in entries]

    async def redrive(self, service: str, ids: Collection[str] | None = None) -> int:
        """Move dead letters back to the service's send stream, as first deliveries."""
        dead, send = f"atoll:dead:{service}", f"atoll:send:{service}"
        count = 0
        try:
            chosen = await self._chosen(service, ids)
            for start in range(0, len(chosen), 100):
                count += await self.scripts.redrive(
                    keys=[dead, send], args=[MAX_ENTRIES, *chosen[start : start + 100]]
                )
        except redis_errors.RedisError as error:
            raise self.failure(error) from error
        return count

    async def purge(self, service: str, ids: Collection[str] | None = None) -> int:
        """Delete dead letters: those of ``ids``, or the whole dead-letter stream."""
        dead = f"atoll:dead:{service}"
        try:
            if ids is None:
                async with self.client.pipeline(transaction=True) as pipe:
                    pipe.xlen(dead)
                    pipe.delete(dead)
                    count, _ = await pipe.execute()
                return int(count)
            chosen = [i for i in ids if _ENTRY_ID.fullmatch(i)]
            return int(await self.client.xdel(dead, *chosen)) if chosen else 0
        except redis_errors.RedisError as error:
            raise self.failure(error) from error
