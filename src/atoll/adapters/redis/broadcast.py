"""The broadcast receivers of the Redis adapter: ``XREAD`` of the topics' streams, no group.

An event is an entry of its topic's stream, ``atoll:event:<type>``. A :class:`RedisBroadcast`
reads those streams with plain ``XREAD`` (no consumer group, so nothing is shared with another
reader and nothing is pending), on a connection of its own for its blocking reads, remembering
per stream the id of the last entry it read and reading after it the next time.

It never reads from ``$``. ``$`` means "what is added after this read starts", so an entry
added between two reads, or between the making of the receiver and its first read, would be
missed. The receiver takes each stream's last id when it is made instead (``XREVRANGE + -
COUNT 1``; ``0-0`` for a stream not there yet), so that everything added after
:meth:`~atoll.adapters.redis.broker.RedisBroker.broadcast` returns is read, and nothing added
before.

It keeps nothing on Redis: closing it closes its connection. What it costs is that connection
while it lives, and the entries stay in their streams as for the services (trimmed at
``MAX_ENTRIES``): a receiver so far behind that its next entries were trimmed skips them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any, cast

import msgspec

from atoll.errors import MissingDependencyError
from atoll.messaging.broadcast import BroadcastCopy
from atoll.messaging.broker import envelope_from_headers

try:
    from redis import exceptions as redis_errors
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("redis", "redis") from error

from atoll.adapters.redis.layout import MAX_BLOCK, Connected, Entries, as_int, decode_headers

if TYPE_CHECKING:
    from redis.asyncio.connection import AbstractConnection

    from atoll.messaging.broker import Received


__all__ = ["RedisBroadcast"]

logger = logging.getLogger("atoll.broker")


class RedisBroadcast:
    """One instance's reader of some topics' streams, from its making on."""

    def __init__(self, broker: Connected, topics: tuple[str, ...]) -> None:
        self.broker = broker
        self.streams = [f"atoll:event:{topic}" for topic in topics]
        self._names = {stream.encode(): stream for stream in self.streams}
        self._after: dict[str, bytes] = {}
        self._held: list[Received] = []
        self._client_id: int | None = None
        self._reader = broker.blocking_client(self._connected)
        self._idle = asyncio.Event()
        self._idle.set()
        self.closed = False

    async def _connected(self, connection: AbstractConnection) -> None:
        await connection.on_connect()
        await connection.send_command("CLIENT", "ID")
        self._client_id = as_int(await connection.read_response())

    async def start(self) -> None:
        """Take each stream's last id, and open the reading connection.

        Raises:
            redis.exceptions.RedisError: Redis refused, or is out of reach.
        """
        async with self.broker.client.pipeline(transaction=False) as pipe:
            for stream in self.streams:
                pipe.xrevrange(stream, "+", "-", count=1)
            lasts = cast("list[Entries]", await pipe.execute())
        for stream, last in zip(self.streams, lasts, strict=True):
            self._after[stream] = last[0][0] if last else b"0-0"
        await self._reader.ping()

    async def receive(self, limit: int, wait: float) -> list[Received]:
        """Up to ``limit`` copies, waiting up to ``wait`` seconds for the first.

        Raises:
            BrokerUnavailableError: Redis is out of reach.
        """
        if self.closed or limit < 1:
            return []
        if not self._held:
            deadline = time.monotonic() + max(wait, 0.0)
            try:
                while not self._held and not self.is_closed():
                    left = deadline - time.monotonic()
                    await self._read(limit, min(left, MAX_BLOCK))
                    if left <= 0:
                        break
            except redis_errors.RedisError as error:
                if self.is_closed():
                    return []
                raise self.broker.failure(error) from error
        if self.is_closed():  # closed while it read
            return []
        taken, self._held = self._held[:limit], self._held[limit:]
        return taken

    def is_closed(self) -> bool:
        """Whether :meth:`close` ran (also while a read waited)."""
        return self.closed

    async def _read(self, limit: int, block: float) -> None:
        after = self._after
        args: tuple[Any, ...] = ("XREAD", "COUNT", limit)
        if block > 0:
            args += ("BLOCK", max(1, round(block * 1000)))
        args += ("STREAMS", *after, *after.values())
        self._idle.clear()
        try:
            result = await self._reader.execute_command(*args)  # type: ignore[no-untyped-call]
        finally:
            self._idle.set()
        for name, entries in result or ():
            stream = self._names[name]
            for entry_id, fields in entries:
                after[stream] = entry_id
                copy = self._copy(stream, entry_id, fields)
                if copy is not None:
                    self._held.append(copy)

    @staticmethod
    def _copy(stream: str, entry_id: bytes, fields: dict[bytes, bytes]) -> Received | None:
        try:
            headers, _, payload = fields[b"m"].partition(b"\n")
            return BroadcastCopy(envelope_from_headers(decode_headers(headers), payload))
        except (KeyError, ValueError, msgspec.DecodeError):
            logger.warning(
                "the entry %s of the stream %s is no atoll envelope; skipped",
                entry_id.decode(errors="replace"),
                stream,
            )
            return None

    async def close(self) -> None:
        """Stop reading (a read waiting is ended), and close the reading connection."""
        if self.closed:
            return
        self.closed = True
        self._held = []
        if not self._idle.is_set() and self._client_id is not None:
            with contextlib.suppress(redis_errors.RedisError):
                await self.broker.client.client_unblock(self._client_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), MAX_BLOCK + 1)
        await self._reader.aclose()
