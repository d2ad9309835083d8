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
carrying their deadline on Redis's clock: a server drops those it takes too late. The reply is
published to the requester's channel with the call's correlation id.

Errors come out as atoll's: a Redis out of reach (or refusing the credentials) is a
:class:`~atoll.errors.BrokerUnavailableError` naming the URL, never its password. Redis Cluster
is not supported: a script touches keys of two services. The Lua scripts are in
:mod:`atoll.adapters.redis_scripts`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import secrets
import socket
import time
from typing import TYPE_CHECKING, Any, TypeAlias, cast
from urllib.parse import urlsplit

import msgspec

from atoll.errors import (
    BrokerError,
    BrokerUnavailableError,
    ConfigError,
    MissingDependencyError,
    RemoteUnavailableError,
)
from atoll.messaging.broker import (
    DEAD_AT,
    DEAD_DELIVERIES,
    DEAD_ERROR,
    check_name,
    dead_letter_from,
    dead_letter_headers,
    envelope_from_headers,
    envelope_headers,
    masked_url,
)

try:
    import redis.asyncio as aioredis
    from redis import exceptions as redis_errors
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("redis", "redis") from error

from atoll.adapters.redis_scripts import _Scripts

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from redis.asyncio.connection import AbstractConnection

    from atoll.messaging.broker import DeadLetter, Responder, Subscription
    from atoll.messaging.envelope import Envelope

__all__ = ["MAX_ENTRIES", "RedisBroker"]

_Entries: TypeAlias = "list[tuple[bytes, dict[bytes, bytes]]]"

logger = logging.getLogger("atoll.broker")

MAX_ENTRIES = 1_000_000
"""Entries an event or send stream keeps at the most (approximately: ``XADD MAXLEN ~``)."""

CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 5.0
POOL_SIZE = 64
"""Connections the shared pool opens at the most (the URL's ``?max_connections=`` wins)."""
MAX_BLOCK = 2.0
"""Seconds one blocking read waits at the most; a longer wait is several reads."""
MOVE_EVERY = 1.0
"""Seconds between a receiver's looks at its delay set for what others retried."""
BEAT_EVERY = 1.0
BEAT_STALE = 3.0
"""Seconds after its last heartbeat a server is taken for dead."""
TAKE_AT_ONCE = 16
"""Requests a server pops in one round trip."""

_ENTRY_ID = re.compile(r"\d+-\d+")
_encode = msgspec.json.Encoder().encode
_decode_headers = msgspec.json.Decoder(dict[str, str]).decode


def _instance_name() -> str:
    """A name no other receiver, server or broker takes: host, process, and chance."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


def _as_int(value: Any) -> int:
    return int(value)


class _Received:
    """An entry read by a receiver, until settled."""

    __slots__ = ("_headers", "_id", "_receiver", "_settled", "_stream", "attempt", "envelope")

    def __init__(
        self,
        receiver: _Receiver,
        stream: str,
        entry_id: bytes,
        *,
        envelope: Envelope,
        headers: bytes,
        attempt: int,
    ) -> None:
        self._receiver = receiver
        self._stream = stream
        self._id = entry_id
        self._headers = headers
        self._settled = False
        self.envelope = envelope
        self.attempt = attempt

    async def _settle(self, how: Any, keys: list[str], args: list[Any]) -> None:
        if self._settled:
            return
        self._settled = True
        receiver = self._receiver
        try:
            await how(keys=[self._stream, *keys], args=[receiver.group, self._id, *args])
        except redis_errors.RedisError as error:
            self._settled = False
            raise receiver.broker.failure(error) from error

    async def ack(self) -> None:
        if not self._settled:
            self._settled = True
            self._receiver.ack(self._stream, self._id)

    async def in_progress(self) -> None:
        if self._settled:
            return
        receiver = self._receiver
        try:
            await receiver.broker.scripts.touch(
                keys=[self._stream], args=[receiver.group, self._id, receiver.consumer]
            )
        except redis_errors.RedisError as error:
            raise receiver.broker.failure(error) from error

    async def retry(self, delay: float) -> None:
        receiver = self._receiver
        scripts = receiver.broker.scripts
        if delay <= 0:
            await self._settle(
                scripts.requeue,
                [receiver.send_stream],
                [
                    receiver.consumer,
                    MAX_ENTRIES,
                    self.envelope.payload,
                    self._headers,
                    self.attempt,
                ],
            )
        else:
            member = b"%s|%d|%d|%s%s" % (
                secrets.token_hex(8).encode(),
                self.attempt,
                len(self._headers),
                self._headers,
                self.envelope.payload,
            )
            delay_us = max(1, round(delay * 1_000_000))
            await self._settle(
                scripts.delay, [receiver.delay_key], [receiver.consumer, delay_us, member]
            )
        receiver.due_by(time.monotonic() + max(delay, 0.0))

    async def dead_letter(self, error: str) -> None:
        headers = dead_letter_headers(self.envelope, error, self.attempt)
        why = _encode({k: headers[k] for k in (DEAD_ERROR, DEAD_DELIVERIES, DEAD_AT)})
        receiver = self._receiver
        await self._settle(
            receiver.broker.scripts.dead,
            [receiver.dead_key],
            [receiver.consumer, self.envelope.payload, self._headers, why],
        )


class _Receiver:
    """One consumer in a service's groups, reading its streams on a connection of its own."""

    def __init__(self, broker: RedisBroker, subscription: Subscription, streams: list[str]) -> None:
        service = subscription.service
        self.broker = broker
        self.group = service
        self.consumer = _instance_name()
        self.send_stream = streams[0]
        self.delay_key = f"atoll:delay:{service}"
        self.dead_key = f"atoll:dead:{service}"
        self._streams = streams
        self._names = {s.encode(): s for s in streams}
        self._head = ("XREADGROUP", "GROUP", service, self.consumer, "COUNT")
        self._tail = ("STREAMS", *streams, *(">" for _ in streams))
        self._ack_wait_ms = max(1, round(subscription.ack_wait * 1000))
        self._claim_every = subscription.ack_wait / 2
        self._cursors = dict.fromkeys(streams, b"0-0")
        self._next_claim = 0.0
        self._next_move = 0.0
        self._buffer: list[_Received] = []
        self._client_id: int | None = None
        self._reader = broker.blocking_client(self._connected)
        self._idle = asyncio.Event()
        self._idle.set()
        self._ack_queue: list[tuple[str, bytes]] = []
        self._drainer: asyncio.Task[None] | None = None
        self.closed = False

    async def _connected(self, connection: AbstractConnection) -> None:
        await connection.on_connect()
        await connection.send_command("CLIENT", "ID")
        self._client_id = _as_int(await connection.read_response())

    async def connect(self) -> None:
        """Open the reading connection now, so that close can unblock it."""
        await self._reader.ping()

    def is_closed(self) -> bool:
        """Whether :meth:`close` ran (also while a read waited)."""
        return self.closed

    def due_by(self, when: float) -> None:
        """Look at the delay set by ``when`` (monotonic): a retry made here falls due."""
        self._next_move = min(self._next_move, when)

    # -- receiving ---------------------------------------------------------------------------

    async def receive(self, limit: int, wait: float) -> list[_Received]:
        if self.closed or limit < 1:
            return []
        if self._buffer:
            return self._deliver([], limit)
        try:
            taken = await self._take(limit, time.monotonic() + max(wait, 0.0))
        except redis_errors.ResponseError as error:
            if "NOGROUP" not in str(error) or self.is_closed():
                raise self.broker.failure(error) from error
            await self.broker.create_groups(self.group, self._streams)  # its stream was deleted
            return []
        except redis_errors.RedisError as error:
            if self.is_closed():
                return []
            raise self.broker.failure(error) from error
        # closed while it read: close gives back what the read took
        return [] if self.is_closed() else self._deliver(taken, limit)

    async def _take(self, limit: int, deadline: float) -> list[_Received]:
        now = time.monotonic()
        while True:
            if now >= self._next_move:
                await self._move_due(now)
            if now >= self._next_claim and (claimed := await self._claim(limit, now)):
                return claimed
            until = min(deadline, self._next_move, self._next_claim, now + MAX_BLOCK)
            read = await self._read(limit, until - now)
            now = time.monotonic()
            if read or now >= deadline or self.is_closed():
                return read

    def _deliver(self, taken: list[_Received], limit: int) -> list[_Received]:
        if self._buffer:
            taken = self._buffer + taken
        self._buffer = taken[limit:]
        return taken[:limit]

    async def _read(self, limit: int, block: float) -> list[_Received]:
        if block > 0:
            args = (*self._head, limit, "BLOCK", max(1, round(block * 1000)), *self._tail)
        else:
            args = (*self._head, limit, *self._tail)
        self._idle.clear()
        try:
            result = await self._reader.execute_command(*args)  # type: ignore[no-untyped-call]
        finally:
            self._idle.set()
        if not result:
            return []
        taken: list[_Received] = []
        foreign: list[tuple[str, bytes, dict[bytes, bytes]]] = []
        names = self._names
        for name, entries in result:
            stream = names[name]
            for entry_id, fields in entries:
                received = self._received(stream, entry_id, fields, 1)
                if received is None:
                    foreign.append((stream, entry_id, fields))
                else:
                    taken.append(received)
        for stream, entry_id, fields in foreign:
            await self._refuse(stream, entry_id, fields)
        return taken

    def _received(
        self, stream: str, entry_id: bytes, fields: dict[bytes, bytes], delivered: int
    ) -> _Received | None:
        try:
            message = fields.get(b"m")
            if message is None:  # header and payload apart: a dead letter's fields
                headers, payload = fields[b"h"], fields[b"p"]
            else:
                headers, _, payload = message.partition(b"\n")
            envelope = envelope_from_headers(_decode_headers(headers), payload)
            carried = int(fields.get(b"a", 0))
        except (KeyError, ValueError, msgspec.DecodeError):
            return None
        return _Received(
            self, stream, entry_id, envelope=envelope, headers=headers, attempt=carried + delivered
        )

    async def _refuse(self, stream: str, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        """Dead-letter an entry that is no atoll envelope, keeping its fields as the payload."""
        handle = f"{stream}/{entry_id.decode()}"
        reason = (
            f"the entry {entry_id.decode()} of the stream {stream} is no atoll envelope "
            f"(fields: {sorted(f.decode(errors='replace') for f in fields)[:8]}); it was "
            "not added by atoll"
        )
        logger.warning("%s: moved to the dead letters of %s", reason, self.group)
        payload = _encode(
            {
                k.decode(errors="backslashreplace"): v.decode(errors="backslashreplace")
                for k, v in fields.items()
            }
        )
        headers = {"atoll-id": handle, "atoll-type": "atoll.adapters.redis.ForeignEntry"}
        why = {DEAD_ERROR: reason, DEAD_DELIVERIES: "1", DEAD_AT: repr(time.time())}
        await self.broker.scripts.dead(
            keys=[stream, self.dead_key],
            args=[self.group, entry_id, self.consumer, payload, _encode(headers), _encode(why)],
        )

    async def _move_due(self, now: float) -> None:
        moved, next_us = await self.broker.scripts.move(
            keys=[self.delay_key, self.send_stream], args=[MAX_ENTRIES, 100]
        )
        wait = MOVE_EVERY if next_us < 0 else min(next_us / 1_000_000, MOVE_EVERY)
        self._next_move = now + wait
        if moved:
            logger.debug("moved %d due retries of %s to its queue", moved, self.group)

    async def _claim(self, limit: int, now: float) -> list[_Received]:
        """The entries of dead (or hung) consumers, pending past the ack wait: now ours."""
        self._next_claim = now + self._claim_every
        claimed: list[_Received] = []
        for stream in self._streams:
            cursor, entries, counts, gone = await self.broker.scripts.claim(
                keys=[stream],
                args=[self.group, self.consumer, self._ack_wait_ms, self._cursors[stream], limit],
            )
            self._cursors[stream] = cursor
            if gone:
                logger.warning(
                    "%d entries of %s were trimmed before %s settled them; they are lost",
                    gone,
                    stream,
                    self.group,
                )
            for (entry_id, flat), delivered in zip(entries, counts, strict=True):
                fields = dict(zip(flat[::2], flat[1::2], strict=True))
                received = self._received(stream, entry_id, fields, delivered)
                if received is None:
                    await self._refuse(stream, entry_id, fields)
                else:
                    claimed.append(received)
            if len(entries) >= limit or cursor != b"0-0":
                self._next_claim = now  # more may be waiting: look again on the next call
        return claimed

    # -- acknowledging -----------------------------------------------------------------------

    def ack(self, stream: str, entry_id: bytes) -> None:
        """XACK the entry, with the others acknowledged meanwhile, in one round trip.

        Sent, not waited for, as a NATS ack or an AMQP ``basic.ack``, which no reply confirms
        either: a worker goes on to its next message, and the acks of a whole batch go
        together. An ack that fails is logged, and its entry is delivered again once its ack
        wait has passed (an inbox skips what was handled). :meth:`close` waits for them.
        """
        self._ack_queue.append((stream, entry_id))
        if self._drainer is None:
            self._drainer = asyncio.get_running_loop().create_task(self._drain_acks())

    async def _drain_acks(self) -> None:
        try:
            while self._ack_queue:
                batch, self._ack_queue = self._ack_queue, []
                try:
                    await self._send_acks(batch)
                except redis_errors.RedisError as error:
                    logger.warning(
                        "%d acknowledgements of %s were not made (%s); those messages are "
                        "delivered again once their ack wait has passed",
                        len(batch),
                        self.group,
                        self.broker.failure(error),
                    )
        finally:
            self._drainer = None

    async def _send_acks(self, batch: list[tuple[str, bytes]]) -> None:
        by_stream: dict[str, list[bytes]] = {}
        for stream, entry_id in batch:
            by_stream.setdefault(stream, []).append(entry_id)
        if len(by_stream) == 1:
            [(stream, ids)] = by_stream.items()
            await self.broker.client.xack(stream, self.group, *ids)
            return
        async with self.broker.client.pipeline(transaction=False) as pipe:
            for stream, ids in by_stream.items():
                pipe.xack(stream, self.group, *ids)
            await pipe.execute()

    # -- closing -----------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop reading, and give back (to the send stream) what this consumer holds."""
        if self.closed:
            return
        self.closed = True
        self._buffer = []
        client = self.broker.client
        if not self._idle.is_set() and self._client_id is not None:
            with contextlib.suppress(redis_errors.RedisError):
                await client.client_unblock(self._client_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), MAX_BLOCK + 1)
        if self._drainer is not None:
            await asyncio.gather(self._drainer, return_exceptions=True)
        try:
            for stream in self._streams:
                given = await self.broker.scripts.give_back(
                    keys=[stream, self.send_stream],
                    args=[self.group, self.consumer, MAX_ENTRIES, 10_000],
                )
                if given:
                    logger.debug("gave back %d messages of %s", given, self.group)
        except redis_errors.RedisError as error:
            logger.warning(
                "a receiver of %s could not give back what it held (%s); it is delivered "
                "again once its ack wait has passed",
                self.group,
                self.broker.failure(error),
            )
        finally:
            await self._reader.aclose()


class _Serving:
    """One server of a service's requests: pops them, answers each in a task of its own."""

    def __init__(self, broker: RedisBroker, service: str, respond: Responder) -> None:
        self._broker = broker
        self._service = service
        self._respond = respond
        self._queue = f"atoll:rpc:{service}"
        self._servers = f"atoll:rpc-servers:{service}"
        self._name = _instance_name()
        self._client_id: int | None = None
        self._taker = broker.blocking_client(self._connected)
        self._offset_us = 0.0  # Redis's clock minus ours
        self._answers: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    async def _connected(self, connection: AbstractConnection) -> None:
        await connection.on_connect()
        await connection.send_command("CLIENT", "ID")
        self._client_id = _as_int(await connection.read_response())

    async def start(self) -> None:
        await self._beat()
        await self._taker.ping()
        self._tasks = [
            asyncio.create_task(self._take(), name=f"atoll-serve-{self._service}"),
            asyncio.create_task(self._beats(), name=f"atoll-beat-{self._service}"),
        ]

    async def _beat(self) -> None:
        sent = time.time()
        now = await self._broker.scripts.beat(keys=[self._servers], args=[self._name])
        self._offset_us = int(now) - (sent + time.time()) * 500_000

    async def _beats(self) -> None:
        while True:
            await asyncio.sleep(BEAT_EVERY)
            try:
                await self._beat()
            except redis_errors.RedisError as error:
                logger.warning("a server of %s missed its heartbeat: %s", self._service, error)

    async def _take(self) -> None:
        while not self._closing:
            try:
                popped = await self._taker.execute_command(  # type: ignore[no-untyped-call]
                    "BLMPOP", 1, 1, self._queue, "RIGHT", "COUNT", TAKE_AT_ONCE
                )
            except redis_errors.RedisError as error:
                if self._closed():
                    return
                logger.warning("a server of %s cannot take requests: %s", self._service, error)
                await asyncio.sleep(0.5)
                continue
            for request in popped[1] if popped else ():
                task = asyncio.create_task(self._answer(request))
                self._answers.add(task)
                task.add_done_callback(self._answers.discard)

    def _closed(self) -> bool:
        return self._closing

    async def _answer(self, request: bytes) -> None:
        deadline, channel, correlation, body = request.split(b"|", 3)
        if time.time() * 1_000_000 + self._offset_us > int(deadline):
            logger.debug("dropped a request to %s taken after its deadline", self._service)
            return
        try:
            reply = correlation + b"|0" + await self._respond(body)
        except Exception as error:
            logger.exception("a request to %s failed", self._service)
            reply = correlation + b"|1" + f"{type(error).__name__}: {error}".encode()
        try:
            await self._broker.client.publish(channel, reply)
        except redis_errors.RedisError as error:
            logger.warning("the reply of %s was lost: %s", self._service, error)

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        client = self._broker.client
        with contextlib.suppress(redis_errors.RedisError):
            await client.zrem(self._servers, self._name)
            if self._client_id is not None:
                await client.client_unblock(self._client_id)
        if self._tasks:
            self._tasks[1].cancel()
            _, late = await asyncio.wait([self._tasks[0]], timeout=MAX_BLOCK)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._answers:
            await asyncio.wait(self._answers)
        await self._taker.aclose()


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
        self._scripts: _Scripts | None = None
        self._receivers: list[_Receiver] = []
        self._servings: list[_Serving] = []
        self._name = _instance_name()
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
    def scripts(self) -> _Scripts:
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
        self._scripts = _Scripts(client)

    async def stop(self) -> None:
        """Close the servings and the receivers, then the connections."""
        for serving in self._servings:
            await serving.close()
        for receiver in self._receivers:
            await receiver.close()
        self._servings.clear()
        self._receivers.clear()
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
        message = _encode(envelope_headers(envelope)) + b"\n" + envelope.payload
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

    async def subscribe(self, subscription: Subscription) -> _Receiver:
        """A consumer in the service's groups on its send stream and its topics' streams."""
        service = subscription.service
        streams = [f"atoll:send:{service}"] + [f"atoll:event:{t}" for t in subscription.events]
        await self.create_groups(service, streams)
        receiver = _Receiver(self, subscription, streams)
        try:
            await receiver.connect()
        except redis_errors.RedisError as error:
            await receiver.close()
            raise self.failure(error) from error
        self._receivers.append(receiver)
        return receiver

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

    async def request(self, service: str, body: bytes, wait: float) -> bytes:
        """Push the request to the service's list if one of its servers beats; await its reply.

        Raises:
            RemoteUnavailableError: no server of ``service`` beats, or none answered in time.
        """
        correlation = b"%d" % next(self._correlation)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._calls[correlation] = future
        blob = b"%s|%s|%s" % (self._channel.encode(), correlation, body)
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
            raise RemoteUnavailableError(
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

    async def serve(self, service: str, respond: Responder) -> _Serving:
        """Beat in the service's server set, and answer what is pushed to its list."""
        check_name(service, "service name")
        serving = _Serving(self, service, respond)
        try:
            await serving.start()
        except redis_errors.RedisError as error:
            await serving.close()
            raise self.failure(error) from error
        self._servings.append(serving)
        return serving

    # -- dead letters ------------------------------------------------------------------------

    async def dead_letters(self, service: str, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` entries of the service's dead-letter stream."""
        try:
            entries = cast(
                "_Entries", await self.client.xrange(f"atoll:dead:{service}", count=limit)
            )
        except redis_errors.RedisError as error:
            raise self.failure(error) from error
        letters = []
        for entry_id, fields in entries:
            try:
                headers = _decode_headers(fields.get(b"h", b"{}"))
                headers.update(_decode_headers(fields.get(b"d", b"{}")))
                letter = dead_letter_from(entry_id.decode(), service, headers, fields[b"p"])
            except (KeyError, ValueError, msgspec.DecodeError):
                logger.warning("skipped the unreadable dead letter %s of %s", entry_id, service)
                continue
            letters.append(letter)
        return letters

    async def _chosen(self, service: str, ids: Collection[str] | None) -> list[str]:
        if ids is not None:
            return [i for i in ids if _ENTRY_ID.fullmatch(i)]
        entries = cast("_Entries", await self.client.xrange(f"atoll:dead:{service}"))
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
