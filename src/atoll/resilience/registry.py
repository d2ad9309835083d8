"""The service registry: which instances of each service run now, and where to reach them.

Each instance of a service registers itself when it starts (its name, version, URLs, health
and metadata), registers again every few seconds as a heartbeat, and deregisters when it
stops cleanly. An entry lives for its ``ttl`` after its last registration: an instance killed
without a word leaves the registry within its ``ttl``. Clients ask the registry for the live
instances of a service by name, or of every service whose name matches a pattern
(``users.*``, as gemstone's lookup did), and spread their calls across them.

A :class:`Registry` is reached by URL, as a broker is (:func:`open_registry`):

========================  ===========================================================
``memory://NAME``         this process's memory, shared by the registries of one NAME
``redis://HOST:PORT/DB``  a key per instance, expiring with its ttl (``atoll[redis]``)
``nats://HOST:PORT``      a JetStream key-value bucket (``atoll[nats]``)
========================  ===========================================================

:class:`MemoryRegistry` is the executable specification: the adapters pass the same contract
(:mod:`atoll.testing.registry_contract`).
"""

from __future__ import annotations

import fnmatch
import importlib
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol

import msgspec

from atoll.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "Instance",
    "MemoryRegistry",
    "Registry",
    "check_service",
    "check_ttl",
    "decode_instance",
    "encode_instance",
    "open_registry",
]

Health = Literal["up", "draining"]
"""An instance's health as the registry tells it: ``draining`` once it is stopping."""

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
"""A service's name as the registry keeps it: what every adapter can carry in a key."""
_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.:-]{0,199}")
"""An instance's id: letters, digits and ``_.:-``, 1 to 200 of them."""


def check_service(name: str) -> str:
    """``name`` if a registry can keep a service under it.

    Raises:
        ConfigError: it is not 1 to 100 lower-case letters, digits, ``_`` and ``-``.
    """
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"{name!r} cannot name a service in the registry: use 1 to 100 lower-case letters, "
            "digits, '_' and '-', starting with a letter or digit, such as 'users'"
        )
    return name


@dataclass(frozen=True)
class Instance:
    """One running instance of a service, as it registers itself.

    Attributes:
        service: the service's name.
        id: this instance's id, unique in the fleet (``web-1:4242:9f3a``).
        version: the service's version.
        urls: where to reach it, by kind: ``http`` (its JSON-RPC endpoint), ``broker``.
        health: ``up``, or ``draining`` once it stops taking work.
        metadata: anything else the instance says of itself (zone, weight).
        started_at: when it started, Unix time.
        seen_at: when it last registered (its heartbeat), Unix time; set by the registry.
    """

    service: str
    id: str
    version: str = "0.0.0"
    urls: Mapping[str, str] = field(default_factory=dict)
    health: Health = "up"
    metadata: Mapping[str, str] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    seen_at: float = 0.0

    def __post_init__(self) -> None:
        check_service(self.service)
        if not _ID.fullmatch(self.id):
            raise ConfigError(
                f"{self.id!r} cannot be an instance's id: use 1 to 200 letters, digits and "
                "'_.:-', such as 'web-1:4242'"
            )

    @property
    def key(self) -> str:
        """Its key in a registry: ``users/web-1:4242``."""
        return f"{self.service}/{self.id}"


class _Entry(msgspec.Struct, frozen=True):
    """An instance as a registry stores it."""

    service: str
    id: str
    version: str
    urls: dict[str, str]
    health: str
    metadata: dict[str, str]
    started_at: float
    seen_at: float


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(_Entry).decode


def encode_instance(instance: Instance, seen_at: float) -> bytes:
    """``instance`` as the adapters store it, JSON, seen at ``seen_at``."""
    return _encode(
        _Entry(
            instance.service,
            instance.id,
            instance.version,
            dict(instance.urls),
            instance.health,
            dict(instance.metadata),
            instance.started_at,
            seen_at,
        )
    )


def decode_instance(data: bytes) -> Instance | None:
    """The instance :func:`encode_instance` stored, or None for what is not one."""
    try:
        entry = _decode(data)
        health: Health = "draining" if entry.health == "draining" else "up"
        return Instance(
            entry.service,
            entry.id,
            entry.version,
            entry.urls,
            health,
            entry.metadata,
            entry.started_at,
            entry.seen_at,
        )
    except (msgspec.DecodeError, ConfigError):
        return None


class Registry(Protocol):
    """Where the instances of a fleet's services are known. A component: start, stop."""

    def describe(self) -> str:
        """The registry's URL without its password, for messages."""
        ...

    async def start(self) -> None:
        """Connect.

        Raises:
            UnavailableError: the registry is out of reach; the message names its URL.
        """
        ...

    async def stop(self) -> None:
        """Close the connection (the entries stay until their ttl runs out)."""
        ...

    async def register(self, instance: Instance, ttl: float) -> None:
        """Keep ``instance`` for ``ttl`` seconds from now, in place of what it said before.

        Called at start and again as a heartbeat, well within ``ttl``.
        """
        ...

    async def deregister(self, service: str, instance_id: str) -> None:
        """Forget the instance at once (a clean stop); nothing if it is not registered."""
        ...

    async def instances(self, service: str) -> list[Instance]:
        """The live instances of ``service`` (registered within their ttl), by id."""
        ...

    async def lookup(self, pattern: str) -> list[Instance]:
        """The live instances of every service whose name matches ``pattern`` (``users*``).

        The pattern is :mod:`fnmatch`'s: ``*``, ``?`` and ``[...]``.
        """
        ...


class MemoryRegistry:
    """A registry in this process's memory, shared by every one made with the same URL.

    For tests and for the services of one process; the adapters keep the same promises.

    Args:
        url: ``memory://NAME``.
        clock: the current time, Unix seconds (tests give their own).
    """

    _shared: ClassVar[dict[str, dict[str, tuple[float, bytes]]]] = {}

    def __init__(self, url: str = "memory://", clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self.clock = clock
        self._entries = self._shared.setdefault(url, {})

    def describe(self) -> str:
        """``memory://NAME``."""
        return self.url

    async def start(self) -> None:
        """Nothing to connect to."""

    async def stop(self) -> None:
        """Nothing to close: the entries live on for the other registries of the URL."""

    async def register(self, instance: Instance, ttl: float) -> None:
        """Keep ``instance`` for ``ttl`` seconds from now."""
        check_ttl(ttl)
        now = self.clock()
        self._entries[instance.key] = (now + ttl, encode_instance(instance, now))

    async def deregister(self, service: str, instance_id: str) -> None:
        """Forget the instance at once."""
        self._entries.pop(f"{service}/{instance_id}", None)

    async def instances(self, service: str) -> list[Instance]:
        """The live instances of ``service``, by id."""
        check_service(service)
        return self._live(lambda name: name == service)

    async def lookup(self, pattern: str) -> list[Instance]:
        """The live instances of the services ``pattern`` matches."""
        return self._live(lambda name: fnmatch.fnmatchcase(name, pattern))

    def _live(self, chosen: Callable[[str], bool]) -> list[Instance]:
        now = self.clock()
        found: list[Instance] = []
        for key, (expires, data) in list(self._entries.items()):
            if expires <= now:
                del self._entries[key]
                continue
            instance = decode_instance(data)
            if instance is not None and chosen(instance.service):
                found.append(instance)
        return sorted(found, key=lambda instance: (instance.service, instance.id))


def check_ttl(ttl: float) -> float:
    """``ttl`` if an instance can be registered for that many seconds.

    Raises:
        ConfigError: it is not a finite number of seconds above 0.
    """
    if not 0 < ttl < float("inf"):
        raise ConfigError(f"a registration's ttl is seconds above 0, such as 10; got {ttl!r}")
    return ttl


def open_registry(url: str) -> Registry:
    """The registry at ``url``: ``memory://``, ``redis://`` or ``nats://``.

    Raises:
        ConfigError: another scheme.
        MissingDependencyError: the adapter's library is not installed.
    """
    scheme = url.partition("://")[0]
    if scheme == "memory":
        return MemoryRegistry(url)
    adapters = {
        "redis": "atoll.adapters.redis.registry",
        "rediss": "atoll.adapters.redis.registry",
        "nats": "atoll.adapters.nats.registry",
    }
    module = adapters.get(scheme)
    if module is None:
        raise ConfigError(
            f"{url!r} is no registry URL: use memory://NAME, redis://HOST:6379/0 or "
            "nats://HOST:4222"
        )
    registry: Registry = importlib.import_module(module).open_registry(url)
    return registry
