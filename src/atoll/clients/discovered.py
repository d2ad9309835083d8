"""Calls to a service found in the registry, spread across its live instances.

:class:`~atoll.clients.directory.Clients` gives a service that no URL names, when the process
has a registry (``--registry-url``), a :class:`DiscoveredTransport`: each call goes to one of
the service's live instances, over HTTP, chosen by ``--registry-balance``:

- ``round-robin``: each instance in turn;
- ``least-in-flight``: the one with the fewest of this process's calls in flight (the first
  in turn among equals).

The list of instances is asked of the registry at most every ``--registry-refresh`` seconds.
An instance that could not be reached (connection refused, no answer, 502 to 504) is passed
over until the list is asked for again, unless none is left; a call safe to repeat that failed
so is tried again on another instance (see :mod:`atoll.clients.protection`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

from atoll.clients.transports import HttpTransport, rpc_url
from atoll.errors import DeadlineExceededError, RemoteUnavailableError

if TYPE_CHECKING:
    from atoll.resilience.registry import Instance, Registry

__all__ = ["DiscoveredTransport"]


class DiscoveredTransport:
    """Carries the calls to ``service`` to its instances in ``registry``, spread by ``balance``.

    Args:
        registry: where the instances are found.
        service: the service's name.
        timeout: seconds a call may take, as :class:`HttpTransport` takes it.
        balance: ``round-robin`` or ``least-in-flight``.
        refresh: seconds the list of instances is kept before it is asked again.
    """

    def __init__(
        self,
        registry: Registry,
        service: str,
        *,
        timeout: float = 10.0,
        balance: Literal["round-robin", "least-in-flight"] = "round-robin",
        refresh: float = 2.0,
    ) -> None:
        self.registry = registry
        self.service = service
        self.timeout = timeout
        self.balance = balance
        self.refresh = refresh
        self.url = f"{registry.describe()} ({service})"
        self.in_flight: dict[str, int] = {}
        """This process's calls in flight, by instance URL."""
        self._instances: list[str] = []
        self._fetched = -float("inf")
        self._turn = 0
        self._down: dict[str, float] = {}
        self._transports: dict[str, HttpTransport] = {}

    async def exchange(
        self, body: bytes, *, notification: bool, token: str | None = None
    ) -> bytes | None:
        """Send ``body`` to one live instance; its answer, as :class:`HttpTransport` gives it.

        Raises:
            RemoteUnavailableError: no live instance in the registry, or the one chosen could
                not be reached (it is passed over for a while).
        """
        url = await self._chosen()
        transport = self._transports.get(url)
        if transport is None:
            transport = self._transports[url] = HttpTransport(url, timeout=self.timeout)
        self.in_flight[url] = self.in_flight.get(url, 0) + 1
        try:
            return await transport.exchange(body, notification=notification, token=token)
        except DeadlineExceededError:
            raise  # out of time, whoever it was: no word on the instance
        except RemoteUnavailableError:
            self._down[url] = time.monotonic() + self.refresh
            raise
        finally:
            self.in_flight[url] -= 1

    async def _chosen(self) -> str:
        """The instance URL the next call goes to."""
        now = time.monotonic()
        if now - self._fetched >= self.refresh:
            self._instances = [
                url for url in map(_rpc_of, await self.registry.instances(self.service)) if url
            ]
            self._fetched = now
            self._down = {url: until for url, until in self._down.items() if until > now}
        if not self._instances:
            raise RemoteUnavailableError(
                f"no instance of {self.service!r} is registered in {self.registry.describe()} "
                "with an HTTP URL; check that it runs with the same --registry-url"
            )
        up = [url for url in self._instances if self._down.get(url, 0) <= now]
        candidates = up or self._instances  # all passed over: try them again, in turn
        self._turn += 1
        first = self._turn % len(candidates)
        ordered = candidates[first:] + candidates[:first]
        if self.balance == "least-in-flight":
            return min(ordered, key=lambda url: self.in_flight.get(url, 0))
        return ordered[0]

    async def aclose(self) -> None:
        """Close the connections to every instance."""
        transports, self._transports = self._transports, {}
        for transport in transports.values():
            await transport.aclose()

    def __repr__(self) -> str:
        return f"DiscoveredTransport({self.url!r})"


def _rpc_of(instance: Instance) -> str | None:
    """The JSON-RPC URL of ``instance``, if it is up and gave one."""
    url = instance.urls.get("http")
    if instance.health != "up" or not url:
        return None
    try:
        return rpc_url(url)
    except ValueError:  # ConfigError: what another process registered is not a URL
        return None
