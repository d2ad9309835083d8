"""Calls to a service found in the registry, spread across its live instances.

:class:`~atoll.clients.directory.Clients` gives a service that no URL names, when the process
has a registry (``--registry-url``), a :class:`DiscoveredTransport`: each call goes to one of
the service's live instances, over HTTP, chosen by ``--registry-balance``:

- ``round-robin``: each instance in turn;
- ``least-in-flight``: the one with the fewest of this process's calls in flight (the first
  in turn among equals).

The instances come from the registry, or from ``--clients-urls``: several URLs for one name
(``users=http://a:8000/rpc,users=http://b:8000/rpc``, :class:`StaticInstances`), or a
``dns://`` URL standing for every address its host name resolves to (a Kubernetes headless
service, ``users=dns://users.default.svc.cluster.local:8000/rpc``, :class:`DnsInstances`).

The list of instances is asked for at most every ``--registry-refresh`` seconds.
An instance that could not be reached (connection refused, no answer, 502 to 504) is passed
over until the list is asked for again, unless none is left; a call safe to repeat that failed
so is tried again on another instance (see :mod:`atoll.clients.protection`). Each instance
has a circuit breaker of its own too (with ``--clients-breaker``): an instance whose breaker
is open is passed over until it lets a probe through, so that one failing often, if not
always, is left alone while the others answer.
"""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.parse
from typing import TYPE_CHECKING, Literal, Protocol

from atoll.clients.transports import HttpTransport, masked, rpc_url
from atoll.endpoints.rpc.jsonrpc import INTERNAL_ERROR
from atoll.errors import (
    CircuitOpenError,
    ConfigError,
    DeadlineExceededError,
    RemoteError,
    RemoteUnavailableError,
)
from atoll.resilience.registry import Instance

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from atoll.resilience.breaker import CircuitBreaker

__all__ = [
    "DNS",
    "DiscoveredTransport",
    "DnsInstances",
    "InstanceSource",
    "StaticInstances",
    "dns_url",
]

DNS = "dns://"
"""How a URL standing for every address of its host name begins."""


class InstanceSource(Protocol):
    """What lists a service's instances: a registry, a list of URLs, a DNS name."""

    def describe(self) -> str:
        """Where the instances are found, for messages."""
        ...

    async def instances(self, service: str) -> list[Instance]:
        """The instances of ``service`` now."""
        ...


class StaticInstances:
    """The instances ``--clients-urls`` names for a service: one per URL.

    Args:
        urls: the JSON-RPC URLs of the instances.
    """

    def __init__(self, urls: Sequence[str]) -> None:
        self.urls = tuple(urls)

    def describe(self) -> str:
        """The URLs, passwords masked."""
        return ", ".join(masked(url) for url in self.urls)

    async def instances(self, service: str) -> list[Instance]:
        """One instance per URL, its id its place in the list."""
        return [
            Instance(service, f"static-{number}", urls={"http": url})
            for number, url in enumerate(self.urls, 1)
        ]


def dns_url(url: str) -> str:
    """``url`` if it is ``dns://HOST:PORT[/PATH]``, a path of ``/rpc`` by default.

    Raises:
        ConfigError: no host or no port.
    """
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise ConfigError(
            f"{masked(url)!r} is not a dns:// URL with a host and a port; write it like "
            "dns://users.default.svc.cluster.local:8000/rpc"
        )
    path = parts.path if parts.path.strip("/") else "/rpc"
    return urllib.parse.urlunsplit(parts._replace(path=path))


class DnsInstances:
    """The instances a host name resolves to, one per address: ``dns://HOST:PORT/PATH``.

    Each address is called over plain HTTP at the port and path of the URL. The name is
    resolved again each time the list is asked for (every ``--registry-refresh`` seconds).

    Args:
        url: a :func:`dns_url`.
    """

    def __init__(self, url: str) -> None:
        self.url = dns_url(url)
        parts = urllib.parse.urlsplit(self.url)
        self.host = parts.hostname or ""
        self.port = parts.port or 0
        self.path = parts.path

    def describe(self) -> str:
        """The dns:// URL."""
        return self.url

    async def instances(self, service: str) -> list[Instance]:
        """An instance per address the host resolves to now; none if it does not resolve."""
        loop = asyncio.get_running_loop()
        try:
            found = await loop.getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except socket.gaierror:
            return []
        addresses = sorted({str(info[4][0]) for info in found})
        return [
            Instance(
                service,
                f"dns-{number}",
                urls={"http": f"http://{_host(address)}:{self.port}{self.path}"},
            )
            for number, address in enumerate(addresses, 1)
        ]


def _host(address: str) -> str:
    """``address`` as a URL's host: an IPv6 one in brackets."""
    return f"[{address}]" if ":" in address else address


class DiscoveredTransport:
    """Carries the calls to ``service`` to its instances in ``registry``, spread by ``balance``.

    Args:
        registry: where the instances are found: a registry, or a list of URLs or a DNS name
            (:class:`StaticInstances`, :class:`DnsInstances`).
        service: the service's name.
        timeout: seconds a call may take, as :class:`HttpTransport` takes it.
        balance: ``round-robin`` or ``least-in-flight``.
        refresh: seconds the list of instances is kept before it is asked again.
        breaker_of: makes the circuit breaker of an instance, given its URL; None for none.
    """

    def __init__(
        self,
        registry: InstanceSource,
        service: str,
        *,
        timeout: float = 10.0,
        balance: Literal["round-robin", "least-in-flight"] = "round-robin",
        refresh: float = 2.0,
        breaker_of: Callable[[str], CircuitBreaker | None] | None = None,
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
        self._breaker_of = breaker_of
        self.breakers: dict[str, CircuitBreaker | None] = {}
        """Each instance's circuit breaker, by URL, made at its first call."""

    async def exchange(
        self, body: bytes, *, notification: bool, token: str | None = None
    ) -> bytes | None:
        """Send ``body`` to one live instance; its answer, as :class:`HttpTransport` gives it.

        Raises:
            RemoteUnavailableError: no live instance in the registry, or the one chosen could
                not be reached (it is passed over for a while).
        """
        url, breaker = await self._admitted()
        transport = self._transports.get(url)
        if transport is None:
            transport = self._transports[url] = HttpTransport(url, timeout=self.timeout)
        self.in_flight[url] = self.in_flight.get(url, 0) + 1
        failed = False
        try:
            return await transport.exchange(body, notification=notification, token=token)
        except DeadlineExceededError:
            raise  # out of time, whoever it was: no word on the instance
        except RemoteUnavailableError:
            self._down[url] = time.monotonic() + self.refresh
            failed = True
            raise
        except RemoteError as error:
            failed = error.code == INTERNAL_ERROR  # an HTTP 500 and the like: it is unwell
            raise
        finally:
            self.in_flight[url] -= 1
            if breaker is not None:
                if failed:
                    breaker.failed()
                else:
                    breaker.succeeded()

    async def _admitted(self) -> tuple[str, CircuitBreaker | None]:
        """The instance the next call goes to, and its breaker, which let the call through.

        Raises:
            CircuitOpenError: every instance's breaker refused it.
        """
        refused: CircuitOpenError | None = None
        for url in await self._ordered():
            breaker = self._breaker(url)
            if breaker is None:
                return url, None
            try:
                breaker.admit()
            except CircuitOpenError as error:
                refused = refused or error
                continue
            return url, breaker
        assert refused is not None  # noqa: S101 - an empty list raised already
        raise refused

    def _breaker(self, url: str) -> CircuitBreaker | None:
        if url not in self.breakers:
            self.breakers[url] = None if self._breaker_of is None else self._breaker_of(url)
        return self.breakers[url]

    async def _ordered(self) -> list[str]:
        """The instances in the order the next call tries them: the chosen one first."""
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
                "with an HTTP URL; check that it runs with the same --registry-url (or, for a "
                "dns:// URL, that its host name resolves)"
            )
        up = [url for url in self._instances if self._down.get(url, 0) <= now]
        candidates = up or self._instances  # all passed over: try them again, in turn
        self._turn += 1
        first = self._turn % len(candidates)
        ordered = candidates[first:] + candidates[:first]
        if self.balance == "least-in-flight":  # a stable sort: the turn among equals
            ordered.sort(key=lambda url: self.in_flight.get(url, 0))
        return ordered

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
