"""The serving side of the Redis adapter: an instance answering a service's requests.

A :class:`RedisServing` pops the requests pushed to its service's list, answers each in a task
of its own on the requester's reply channel, and beats in the service's server set, so that a
request finds out at once whether anybody serves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from atoll.errors import MissingDependencyError

try:
    from redis import exceptions as redis_errors
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("redis", "redis") from error

from atoll.adapters.redis.layout import (
    MAX_BLOCK,
    Connected,
    as_int,
    decode_headers,
    instance_name,
)

if TYPE_CHECKING:
    from redis.asyncio.connection import AbstractConnection

    from atoll.messaging.broker import Responder


__all__ = ["BEAT_EVERY", "BEAT_STALE", "RedisServing"]

logger = logging.getLogger("atoll.broker")

BEAT_EVERY = 1.0
BEAT_STALE = 3.0
"""Seconds after its last heartbeat a server is taken for dead."""
TAKE_AT_ONCE = 16
"""Requests a server pops in one round trip."""


class RedisServing:
    """One server of a service's requests: pops them, answers each in a task of its own."""

    def __init__(self, broker: Connected, service: str, respond: Responder) -> None:
        self._broker = broker
        self._service = service
        self._respond = respond
        self._queue = f"atoll:rpc:{service}"
        self._servers = f"atoll:rpc-servers:{service}"
        self._name = instance_name()
        self._client_id: int | None = None
        self._taker = broker.blocking_client(self._connected)
        self._offset_us = 0.0  # Redis's clock minus ours
        self._answers: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    async def _connected(self, connection: AbstractConnection) -> None:
        await connection.on_connect()
        await connection.send_command("CLIENT", "ID")
        self._client_id = as_int(await connection.read_response())

    async def start(self) -> None:
        """Beat, check the connection, and start taking requests."""
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
        deadline, channel, correlation, rest = request.split(b"|", 3)
        head, _, body = rest.partition(b"\n")
        if time.time() * 1_000_000 + self._offset_us > int(deadline):
            logger.debug("dropped a request to %s taken after its deadline", self._service)
            return
        try:
            headers = decode_headers(head) if head else {}
            reply = correlation + b"|0" + await self._respond(body, headers)
        except Exception as error:
            logger.exception("a request to %s failed", self._service)
            reply = correlation + b"|1" + f"{type(error).__name__}: {error}".encode()
        try:
            await self._broker.client.publish(channel, reply)
        except redis_errors.RedisError as error:
            logger.warning("the reply of %s was lost: %s", self._service, error)

    async def close(self) -> None:
        """Take no more requests, answer those in hand, and leave the server set."""
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
