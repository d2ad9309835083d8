"""Registration: each instance of a service says in the registry that it runs, and where.

With ``--registry-url``, every service of the process registers an
:class:`~atoll.resilience.registry.Instance` of itself once the process serves (its name,
version, the URL of its JSON-RPC endpoint, its broker), registers again every third of
``--registry-ttl`` as a heartbeat, and deregisters as soon as the process begins to stop
cleanly: at a SIGTERM, before the drain period (``--shutdown-drain``) in which it still serves,
so that clients reading the registry send their calls elsewhere before it stops taking them.
A process killed without a word leaves the registry within the ttl.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from atoll.errors import ConfigError
from atoll.kernel.lifecycle import State
from atoll.kernel.options import option
from atoll.resilience.registry import Instance, Registry, open_registry

if TYPE_CHECKING:
    from collections.abc import Sequence

    from atoll.kernel.lifecycle import Lifecycle

__all__ = ["Discovery", "Registration", "RegistryOptions", "advertised", "instance_id"]

logger = logging.getLogger("atoll.registry")

_UNFIT = re.compile(r"[^A-Za-z0-9_.:-]")
_ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - recognised, not bound


@dataclass(frozen=True)
class RegistryOptions:
    """Where the fleet's instances are known, and how this process takes part."""

    url: str = option(
        "",
        help="the service registry: memory://NAME, redis://HOST:6379/0 or nats://HOST:4222; "
        "each service registers there, and clients find a service there when no URL names "
        "it; none by default",
    )
    ttl: float = option(
        10.0, help="seconds an instance stays listed without a heartbeat; it beats every third"
    )
    advertise: str = option(
        "",
        help="the base URL others reach this process at, http://HOST:PORT; by default the "
        "server's host (this machine's name for 0.0.0.0) and port",
    )
    balance: Literal["round-robin", "least-in-flight"] = option(
        "round-robin", help="how a client spreads its calls across a service's instances"
    )
    refresh: float = option(
        2.0, help="seconds a client keeps a service's instances before it asks again"
    )

    def __post_init__(self) -> None:
        if not self.ttl > 0 or not self.refresh > 0:
            raise ValueError(
                f"ttl and refresh are seconds above 0, such as 10 and 2; got ttl={self.ttl}, "
                f"refresh={self.refresh}"
            )
        if self.url:
            scheme = self.url.partition("://")[0]
            if scheme not in {"memory", "redis", "rediss", "nats"}:
                raise ValueError(
                    f"url is {self.url!r}; use memory://NAME, redis://HOST:6379/0 or "
                    "nats://HOST:4222"
                )


@dataclass(frozen=True)
class Discovery:
    """The registry of the process, or None without ``--registry-url``; its options."""

    registry: Registry | None
    options: RegistryOptions

    @classmethod
    def of(cls, options: RegistryOptions) -> Discovery:
        """The registry ``options`` name, not connected yet."""
        return cls(open_registry(options.url) if options.url else None, options)

    async def start(self) -> None:
        """Connect to the registry, if there is one."""
        if self.registry is not None:
            await self.registry.start()

    async def stop(self) -> None:
        """Close the connection."""
        if self.registry is not None:
            await self.registry.stop()


def instance_id() -> str:
    """This process's id in the registry: its host, its pid, and a random part."""
    host = _UNFIT.sub("-", socket.gethostname())[:120] or "host"
    return f"{host}:{os.getpid()}:{os.urandom(3).hex()}"


def advertised(options: RegistryOptions, host: str, port: int) -> str:
    """The base URL others reach the process at: ``--registry-advertise``, or host and port.

    Raises:
        ConfigError: the server listens on any free port (0), which no one else can know.
    """
    if options.advertise:
        return options.advertise.rstrip("/")
    if port == 0:
        raise ConfigError(
            "--registry-url registers this process's URL, and --server-port 0 chooses a port "
            "no one else can know: give a port, or the URL to advertise with "
            "--registry-advertise http://HOST:PORT"
        )
    shown = socket.gethostname() if host in _ANY_ADDRESS else host
    if ":" in shown:  # an IPv6 address
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


class Registration:
    """Keeps this process's services registered while it serves: an entrypoint.

    It starts once every other component has (the server listens). It deregisters as soon as
    ``lifecycle`` begins to stop, while the process still serves (through its drain period and
    the work in flight), so that no client is sent to a process about to refuse it; and at its
    own stop, the first of all, if it had not.

    Args:
        discovery: the registry.
        instances: what each service of the process registers.
        lifecycle: the application's lifecycle, watched for the beginning of its stop; without
            it, the services deregister at this component's stop alone.
    """

    atoll_entrypoint = True

    def __init__(
        self,
        discovery: Discovery,
        instances: Sequence[Instance],
        lifecycle: Lifecycle | None = None,
    ) -> None:
        self.discovery = discovery
        self.instances = list(instances)
        self.lifecycle = lifecycle
        self.beats = 0
        """The heartbeats sent since the start."""
        self._task: asyncio.Task[None] | None = None
        self._registered = False

    async def start(self) -> None:
        """Register every service, and beat from now on, until the application stops."""
        registry = self.discovery.registry
        if registry is None:
            return
        await self._register(registry)
        self._registered = True
        self._task = asyncio.create_task(self._serve(registry), name="registry heartbeat")

    async def stop(self) -> None:
        """Stop beating, and deregister every service at once if that is not done."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._deregister()

    async def _serve(self, registry: Registry) -> None:
        """Beat until the application begins to stop, then deregister."""
        if self.lifecycle is None:
            await self._beat(registry)
            return
        beating = asyncio.create_task(self._beat(registry), name="registry beats")
        try:
            await self.lifecycle.wait_state(State.STOPPING)
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
        await self._deregister()

    async def _deregister(self) -> None:
        registry = self.discovery.registry
        if registry is None or not self._registered:
            return
        # Told done only once done: a deregistration cut short by the stop is made again there.
        for instance in self.instances:
            try:
                await registry.deregister(instance.service, instance.id)
            except Exception as error:  # noqa: BLE001 - it leaves within its ttl anyway
                logger.warning(
                    "%s could not deregister from %s (%s); it leaves within %g s",
                    instance.key,
                    registry.describe(),
                    error,
                    self.discovery.options.ttl,
                )
        self._registered = False

    async def _register(self, registry: Registry) -> None:
        ttl = self.discovery.options.ttl
        for instance in self.instances:
            await registry.register(instance, ttl)

    async def _beat(self, registry: Registry) -> None:
        every = self.discovery.options.ttl / 3
        while True:
            await asyncio.sleep(every)
            started = time.monotonic()
            try:
                await self._register(registry)
            except Exception as error:  # noqa: BLE001 - told, and tried again next beat
                logger.warning(
                    "the heartbeat to %s failed (%s); tried again in %g s",
                    registry.describe(),
                    error,
                    every,
                )
            else:
                self.beats += 1
                logger.debug("heartbeat in %.1f ms", (time.monotonic() - started) * 1000)
