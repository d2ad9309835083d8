"""The delivery side of the Redis adapter: its receivers and what they deliver.

A :class:`RedisReceiver` is one consumer in a service's groups, reading its streams with
``XREADGROUP`` on a connection of its own, reclaiming what dead consumers held, moving due
retries back, and handing out :class:`_Received` entries, each settled once. It reaches its
broker only through :class:`~atoll.adapters.redis.layout.Connected`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

import msgspec

from atoll.errors import MissingDependencyError
from atoll.messaging.broker import (
    DEAD_AT,
    DEAD_DELIVERIES,
    DEAD_ERROR,
    dead_letter_headers,
    envelope_from_headers,
)

try:
    from redis import exceptions as redis_errors
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("redis", "redis") from error

from atoll.adapters.redis.layout import (
    MAX_BLOCK,
    MAX_ENTRIES,
    Connected,
    as_int,
    decode_headers,
    encode,
    instance_name,
)

if TYPE_CHECKING:
    from redis.asyncio.connection import AbstractConnection

    from atoll.messaging.broker import Subscription
    from atoll.messaging.envelope import Envelope


__all__ = ["RedisReceiver"]

logger = logging.getLogger("atoll.broker")

MOVE_EVERY = 1.0
"""Seconds between a receiver's looks at its delay set for what others retried."""
_ENTRY_ID = re.compile(r"\d+-\d+")


class _Received:
    """An entry read by a receiver, until settled."""

    __slots__ = ("_headers", "_id", "_receiver", "_settled", "_stream", "attempt", "envelope")

    def __init__(
        self,
        receiver: RedisReceiver,
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
        why = encode({k: headers[k] for k in (DEAD_ERROR, DEAD_DELIVERIES, DEAD_AT)})
        receiver = self._receiver
        await self._settle(
            receiver.broker.scripts.dead,
            [receiver.dead_key],
            [receiver.consumer, self.envelope.payload, self._headers, why],
        )


class RedisReceiver:
    """One consumer in a service's groups, reading its streams on a connection of its own."""

    def __init__(self, broker: Connected, subscription: Subscription, streams: list[str]) -> None:
        service = subscription.service
        self.broker = broker
        self.group = service
        self.consumer = instance_name()
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
        self._client_id = as_int(await connection.read_response())

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
        """Up to ``limit`` messages, waiting up to ``wait`` seconds for the first."""
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
            envelope = envelope_from_headers(decode_headers(headers), payload)
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
        payload = encode(
            {
                k.decode(errors="backslashreplace"): v.decode(errors="backslashreplace")
                for k, v in fields.items()
            }
        )
        headers = {"atoll-id": handle, "atoll-type": "atoll.adapters.redis.ForeignEntry"}
        why = {DEAD_ERROR: reason, DEAD_DELIVERIES: "1", DEAD_AT: repr(time.time())}
        await self.broker.scripts.dead(
            keys=[stream, self.dead_key],
            args=[self.group, entry_id, self.consumer, payload, encode(headers), encode(why)],
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
