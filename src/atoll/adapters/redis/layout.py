"""How atoll lies in Redis: names, entries, limits, and what receivers and servers need.

The receivers (:mod:`~atoll.adapters.redis.delivery`), the servers
(:mod:`~atoll.adapters.redis.serving`) and the broker (:mod:`~atoll.adapters.redis.broker`)
read and write the same keys and entries; what they share is here, so that none of them
imports another's. :class:`Connected` is what a receiver or a server needs of its broker.
"""

from __future__ import annotations

import os
import secrets
import socket
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import msgspec

if TYPE_CHECKING:
    from collections.abc import Sequence

    import redis.asyncio as aioredis
    from redis import exceptions as redis_errors

    from atoll.adapters.redis.scripts import Scripts
    from atoll.errors import BrokerError

__all__ = [
    "MAX_BLOCK",
    "MAX_ENTRIES",
    "Connected",
    "Entries",
    "as_int",
    "decode_headers",
    "encode",
    "instance_name",
]

Entries: TypeAlias = "list[tuple[bytes, dict[bytes, bytes]]]"

MAX_ENTRIES = 1_000_000
"""Entries an event or send stream keeps at the most (approximately: ``XADD MAXLEN ~``)."""
MAX_BLOCK = 2.0
"""Seconds one blocking read waits at the most; a longer wait is several reads."""

encode = msgspec.json.Encoder().encode
decode_headers = msgspec.json.Decoder(dict[str, str]).decode


def instance_name() -> str:
    """A name no other receiver, server or broker takes: host, process, and chance."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


def as_int(value: Any) -> int:
    """A reply's integer, which redis-py gives as whatever type it parsed."""
    return int(value)


class Connected(Protocol):
    """What a receiver and a server need of their broker."""

    def blocking_client(self, connected: Any) -> aioredis.Redis:
        """A client of its own, for blocking reads, whose new connections run ``connected``."""
        ...

    @property
    def client(self) -> aioredis.Redis:
        """The shared client, while the broker runs."""
        ...

    @property
    def scripts(self) -> Scripts:
        """The broker's Lua scripts, registered on its client."""
        ...

    def failure(self, error: redis_errors.RedisError) -> BrokerError:
        """The atoll error for a failure of Redis's."""
        ...

    async def create_groups(self, service: str, streams: Sequence[str]) -> None:
        """Make ``service``'s consumer groups on ``streams``, where missing."""
        ...
