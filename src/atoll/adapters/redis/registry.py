"""The Redis adapter of the registry port: a key per instance, expiring with its ttl.

:class:`RedisRegistry` is the registry when its URL is ``redis://`` (it reads ``rediss://``
too, for TLS). It keeps each instance in one key::

    atoll:registry:<service>:<id>   string: the instance (encode_instance), set with PX <ttl>

Redis expires the key by itself, so that an instance killed without a word leaves within its
ttl, on Redis's clock; a heartbeat sets it again, value and expiry in one ``SET``. A service's
name holds no ``:`` (:func:`~atoll.resilience.registry.check_service`), so a key splits back
into its service and id.

Listing is ``SCAN MATCH`` then one ``MGET``. ``SCAN`` walks the whole database, a
:data:`SCAN_COUNT` of keys a call so that none holds Redis for long: cheap beside the
broker's few keys per service, dear in a database of millions of keys (give the registry a
database of its own there). What is under the prefix and not an instance of its key (a foreign
value, a key of another type) is skipped. Errors come out as
:class:`~atoll.errors.UnavailableError`, naming the URL, never its password.
"""

from __future__ import annotations

import fnmatch
import math
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from atoll.errors import ConfigError, MissingDependencyError, UnavailableError
from atoll.kernel.options import MASK, masked_url
from atoll.resilience.registry import (
    check_service,
    check_ttl,
    decode_instance,
    encode_instance,
)

try:
    import redis.asyncio as aioredis
    from redis import exceptions as redis_errors
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("redis", "redis") from error

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from atoll.resilience.registry import Instance

__all__ = ["PREFIX", "RedisRegistry", "open_registry"]

PREFIX = "atoll:registry:"
"""What every key of the registry starts with."""
SCAN_COUNT = 1000
"""Keys one ``SCAN`` call looks at: a few milliseconds of Redis's time at the most."""
CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 5.0


class RedisRegistry:
    """The registry port on Redis keys that expire (any Redis the broker runs on).

    Args:
        url: ``redis://[[user]:password@]host:port/db`` or ``rediss://`` for TLS.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._masked = masked_url(url)
        self._password = urlsplit(url).password or ""
        self._client: aioredis.Redis | None = None

    def describe(self) -> str:
        """The URL, its password masked."""
        return self._masked

    def __repr__(self) -> str:
        return f"RedisRegistry({self._masked!r})"

    @property
    def client(self) -> aioredis.Redis:
        """The client, while the registry runs."""
        if self._client is None:
            raise UnavailableError(
                f"the registry at {self._masked} is not started; start it before using it"
            )
        return self._client

    async def start(self) -> None:
        """Connect, and check that Redis answers."""
        if self._client is not None:
            return
        try:
            client = aioredis.from_url(
                self.url,
                protocol=2,
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_timeout=COMMAND_TIMEOUT,
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
            )
        except ValueError as error:
            raise ConfigError(
                f"the registry URL {self._masked!r} cannot be read: {self._reason(error)}; "
                "write it as redis://[[user]:password@]host:port/db"
            ) from error
        try:
            await client.ping()
        except redis_errors.RedisError as error:
            await client.aclose()
            raise self._failure(error) from error
        self._client = client

    async def stop(self) -> None:
        """Close the connections (the entries stay until their ttl runs out)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def register(self, instance: Instance, ttl: float) -> None:
        """Set the instance's key for ``ttl`` seconds, in place of what it held."""
        # PX takes whole milliseconds above 0: round up, so that no ttl comes out shorter.
        milliseconds = max(1, math.ceil(check_ttl(ttl) * 1000))
        value = encode_instance(instance, seen_at=time.time())
        await self._run(
            self.client.set(_key(instance.service, instance.id), value, px=milliseconds)
        )

    async def deregister(self, service: str, instance_id: str) -> None:
        """Delete the instance's key; nothing if there is none."""
        await self._run(self.client.delete(_key(service, instance_id)))

    async def instances(self, service: str) -> list[Instance]:
        """The live instances of ``service``, by id."""
        # No glob character can be in a service's name (check_service): nothing to escape.
        return await self._live(f"{PREFIX}{check_service(service)}:*", lambda name: name == service)

    async def lookup(self, pattern: str) -> list[Instance]:
        """The live instances of the services ``pattern`` matches, by service then id."""
        return await self._live(f"{PREFIX}*", lambda name: fnmatch.fnmatchcase(name, pattern))

    async def _live(self, match: str, chosen: Callable[[str], bool]) -> list[Instance]:
        """The instances under the keys ``match`` finds whose service is ``chosen``."""
        keys: dict[bytes, tuple[str, str]] = {}  # a SCAN may give a key twice
        try:
            async for key in self.client.scan_iter(match=match, count=SCAN_COUNT):
                service, _, instance_id = key.decode(errors="replace")[len(PREFIX) :].partition(":")
                if chosen(service):
                    keys[key] = (service, instance_id)
            # The keys that expire between the SCAN and the MGET come back as None.
            values = await self.client.mget(list(keys)) if keys else []
        except redis_errors.RedisError as error:
            raise self._failure(error) from error
        found = []
        for (service, instance_id), value in zip(keys.values(), values, strict=True):
            instance = decode_instance(value) if isinstance(value, bytes) else None
            if instance is not None and (instance.service, instance.id) == (service, instance_id):
                found.append(instance)
        return sorted(found, key=lambda instance: (instance.service, instance.id))

    async def _run(self, command: Awaitable[object]) -> None:
        try:
            await command
        except redis_errors.RedisError as error:
            raise self._failure(error) from error

    def _reason(self, error: BaseException) -> str:
        reason = str(error) or type(error).__name__
        return reason.replace(self._password, MASK) if self._password else reason

    def _failure(self, error: redis_errors.RedisError) -> UnavailableError:
        """The atoll error for what redis-py raised, naming the URL without its password."""
        reason = self._reason(error)
        if isinstance(error, redis_errors.AuthenticationError):
            return UnavailableError(
                f"the registry at {self._masked} refused the credentials: {reason}; check the "
                "user and password in the registry URL"
            )
        if isinstance(error, (redis_errors.ConnectionError, redis_errors.TimeoutError)):
            return UnavailableError(
                f"cannot reach the registry at {self._masked}: {reason}; is Redis running "
                "there? check the registry URL"
            )
        return UnavailableError(
            f"the registry at {self._masked} refused a command: {reason}; check that the URL "
            f"names a database of that Redis whose {PREFIX}* keys its user may read and write"
        )


def _key(service: str, instance_id: str) -> str:
    return f"{PREFIX}{service}:{instance_id}"


def open_registry(url: str) -> RedisRegistry:
    """The registry at ``url`` (``redis://`` or ``rediss://``), not yet started."""
    return RedisRegistry(url)
