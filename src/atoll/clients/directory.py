"""The remote services a process calls, by name: ``clients.get("users")``.

Code that calls another service should not know where it runs. :class:`Clients` reads the
``clients`` option section (:class:`ClientOptions`: ``--clients-urls users=http://...``, or
``<PREFIX>_CLIENTS_URLS`` in the environment) and gives a
:class:`~atoll.clients.remote.RemoteService` for each name: over HTTP at the configured URL,
or, for a service composed into the same process, through that service's own JSON-RPC engine
(:class:`~atoll.clients.transports.LocalTransport`), with the same encoding, validation and
errors. Moving a service out of the process is then a change of configuration, not of code.

A call over HTTP or the broker carries a token when the section says how to get one
(:mod:`atoll.clients.credentials`): ``--clients-token`` (one token for every service), or
``--clients-token-url`` with ``--clients-client-id`` and ``--clients-client-secret`` (a token
per service from a token endpoint, by the client credentials grant, its audience the
service's name or what ``--clients-audiences`` maps the name to). A call in the process
carries its caller's identity instead.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from atoll.clients.credentials import (
    AuthorizedTransport,
    ClientCredentials,
    Credentials,
    StaticToken,
)
from atoll.clients.discovered import (
    DNS,
    DiscoveredTransport,
    DnsInstances,
    InstanceSource,
    StaticInstances,
    dns_url,
)
from atoll.clients.protection import Protection
from atoll.clients.remote import RemoteService
from atoll.clients.transports import (
    BrokerTransport,
    HttpTransport,
    LocalTransport,
    masked,
    rpc_url,
)
from atoll.errors import ConfigError
from atoll.kernel.options import Secret, option
from atoll.resilience.breaker import CircuitBreaker
from atoll.resilience.bulkhead import Bulkhead
from atoll.resilience.registration import RegistryOptions
from atoll.resilience.retries import Retry

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from atoll.clients.transports import RpcEngine, TokenTransport, Transport
    from atoll.messaging.broker import Broker
    from atoll.resilience.registration import Discovery

__all__ = ["ClientOptions", "Clients"]


@dataclass(frozen=True)
class ClientOptions:
    """Where the remote services this process calls are, and how long to wait for them."""

    urls: list[str] = option(
        default_factory=list,
        help="the remote services by name: users=http://127.0.0.1:8001/rpc,runs=...",
    )
    timeout: float = option(
        10.0,
        help="seconds a remote call may take, its deadline; what is left of the deadline of "
        "the work making it bounds it too",
    )
    token: Secret | None = option(
        default=None, help="a token sent to every remote service, over HTTP and the broker"
    )
    token_url: str = option(
        "", help="the token endpoint to get a token per service from (client credentials)"
    )
    client_id: str = option("", help="this process's client id at the token endpoint")
    client_secret: Secret | None = option(
        default=None, help="this process's client secret at the token endpoint"
    )
    scope: str = option("", help="the scopes to ask for, space-separated; the client's by default")
    audiences: list[str] = option(
        default_factory=list,
        help="the audience of each service, NAME=AUDIENCE, when it is not the service's name",
    )
    attempts: int = option(
        3,
        help="tries of a call safe to repeat (see --clients-safe) that found no one, the first "
        "included; 1 never tries again",
    )
    backoff: float = option(
        0.1, help="seconds the wait before the second try may last; it doubles for each next"
    )
    backoff_cap: float = option(2.0, help="seconds the wait before a try may last at most")
    safe: list[str] = option(
        default_factory=list,
        help="the methods safe to repeat, NAME=PATTERN: users=get_*,runs=list_runs; *=get_* "
        "for every service (a call with an idempotency key is safe too)",
    )
    breaker: bool = option(
        default=True, help="a circuit breaker per remote service, refusing calls while most fail"
    )
    breaker_ratio: float = option(
        0.5, help="the share of failed calls, over the window, that opens the breaker"
    )
    breaker_calls: int = option(
        10, help="the calls the window must hold before their failures may open the breaker"
    )
    breaker_window: float = option(30.0, help="seconds of calls the breaker counts")
    breaker_open: float = option(
        5.0, help="seconds an open breaker refuses calls before it lets a probe through"
    )
    breaker_probes: int = option(
        1, help="probes a half-open breaker lets through; all must succeed for it to close"
    )
    concurrency: int = option(
        100, help="calls in flight to one remote service at the most (its bulkhead); 0: no bound"
    )
    concurrency_wait: bool = option(
        default=True,
        help="a call past --clients-concurrency waits for room within its deadline; off, it "
        "is refused at once",
    )
    services: list[str] = option(
        default_factory=list,
        help="settings of one remote service, NAME.SETTING=VALUE: users.attempts=5,"
        "users.concurrency=20 (a SETTING is a clients option after --clients-)",
    )

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise ValueError(f"timeout must be above 0 seconds, such as 10; got {self.timeout}")
        if self.attempts < 1:
            raise ValueError(f"attempts must be 1 or more, such as 3; got {self.attempts}")
        if self.concurrency < 0:
            raise ValueError(
                f"concurrency must be 0 (no bound) or more, such as 100; got {self.concurrency}"
            )
        self.retry()
        self.breaker_of("")
        self.safe_methods("")
        for name in {entry.partition(".")[0].strip() for entry in self.services}:
            self.of(name)
        self.targets()
        self.audience_of("")
        if self.token is not None and self.token_url:
            raise ValueError(
                "token and token_url both say how to get a token; keep one: a token for every "
                "service, or a token endpoint"
            )
        if self.token_url:
            rpc_url(self.token_url)  # an http(s) URL with a host
            if not self.client_id or self.client_secret is None:
                raise ValueError(
                    "token_url needs client_id and client_secret: the client's registration at "
                    "the token endpoint"
                )
        elif self.client_id or self.client_secret is not None:
            raise ValueError("client_id and client_secret need token_url: where to use them")

    def audience_of(self, name: str) -> str:
        """The audience of the service ``name``: its entry in ``audiences``, else the name.

        Raises:
            ValueError: an entry of ``audiences`` is not ``NAME=AUDIENCE``.
        """
        mapped = dict(
            _named(self.audiences, "audiences", "AUDIENCE", "runs=https://runs.example.org")
        )
        return mapped.get(name, name)

    def of(self, name: str) -> ClientOptions:
        """These options as the service ``name`` has them: with its ``services`` entries.

        Raises:
            ValueError: an entry is not ``NAME.SETTING=VALUE``, names no setting, or gives
                one a value it cannot take.
        """
        changes: dict[str, Any] = {}
        for entry in self.services:
            key, equals, value = (part.strip() for part in entry.partition("="))
            service, dot, setting = key.partition(".")
            if not (service and dot and setting and equals and value):
                raise ValueError(
                    f"the services entry {entry!r} is not NAME.SETTING=VALUE; write it like "
                    "users.attempts=5"
                )
            if service == name:
                changes[setting.replace("-", "_")] = _setting(setting, value)
        if not changes:
            return self
        try:
            return dataclasses.replace(self, services=[], **changes)
        except ValueError as error:
            raise ValueError(f"the services entries of {name!r}: {error}") from None

    def retry(self) -> Retry:
        """How a call safe to repeat is tried again."""
        return Retry(attempts=self.attempts, base=self.backoff, cap=self.backoff_cap)

    def breaker_of(self, name: str) -> CircuitBreaker | None:
        """A circuit breaker of the calls to ``name``, or None when breakers are off."""
        if not self.breaker:
            return None
        return CircuitBreaker(
            name,
            failure_ratio=self.breaker_ratio,
            minimum_calls=self.breaker_calls,
            window=self.breaker_window,
            open_for=self.breaker_open,
            probes=self.breaker_probes,
        )

    def safe_methods(self, name: str) -> list[str]:
        """The patterns of ``name``'s methods that are safe to repeat.

        Raises:
            ValueError: an entry of ``safe`` is not ``NAME=PATTERN``.
        """
        pairs = _named(self.safe, "safe", "PATTERN", "users=get_*")
        return [pattern for service, pattern in pairs if service in {name, "*"}]

    def protection(self, name: str) -> Protection:
        """What guards the calls to the remote service ``name``, as these options set it."""
        options = self.of(name)
        bulkhead = (
            Bulkhead(name, options.concurrency, wait=options.concurrency_wait)
            if options.concurrency
            else None
        )
        return Protection(
            name,
            options.timeout,
            retry=options.retry(),
            safe=options.safe_methods(name),
            breaker=options.breaker_of(name),
            bulkhead=bulkhead,
        )

    def credentials(self) -> Credentials | None:
        """What gives the tokens remote calls carry, or None when they carry none."""
        if self.token is not None:
            return StaticToken(self.token)
        if self.token_url and self.client_secret is not None:
            return ClientCredentials(
                self.token_url,
                self.client_id,
                self.client_secret,
                scope=self.scope,
                timeout=self.timeout,
            )
        return None

    def targets(self) -> dict[str, tuple[str, ...]]:
        """The URLs of each service, by name: one, several (its instances), or a ``dns://``.

        Raises:
            ValueError: an entry is not ``NAME=URL`` with an http(s) or dns URL, repeats a
                URL, or mixes a dns URL with others for one service.
        """
        targets: dict[str, tuple[str, ...]] = {}
        for name, url in _named(self.urls, "urls", "URL", "users=http://127.0.0.1:8001/rpc"):
            try:
                checked = dns_url(url) if url.startswith(DNS) else rpc_url(url)
            except ConfigError as error:
                raise ValueError(f"the urls entry for {name!r}: {error}") from None
            known = targets.get(name, ())
            if checked in known:
                raise ValueError(f"urls names {masked(url)!r} twice for {name!r}; keep one")
            if known and (checked.startswith(DNS) or known[0].startswith(DNS)):
                raise ValueError(
                    f"urls gives {name!r} a dns:// URL and another; a dns:// URL stands for "
                    "every instance its host name resolves to: keep it alone"
                )
            targets[name] = (*known, checked)
        return targets


_SETTINGS = frozenset(
    {
        "timeout",
        "attempts",
        "backoff",
        "backoff_cap",
        "breaker",
        "breaker_ratio",
        "breaker_calls",
        "breaker_window",
        "breaker_open",
        "breaker_probes",
        "concurrency",
        "concurrency_wait",
    }
)
"""What a ``services`` entry may set for one service."""


def _setting(setting: str, value: str) -> object:
    """``value`` as the ``clients`` option ``setting`` takes it.

    Raises:
        ValueError: no such setting, or a value it cannot take.
    """
    name = setting.replace("-", "_")
    if name not in _SETTINGS:
        known = ", ".join(sorted(_SETTINGS))
        raise ValueError(f"a services entry sets {setting!r}; choose among {known}")
    kind = {field.name: field.type for field in dataclasses.fields(ClientOptions)}[name]
    refused = ValueError(
        f"a services entry gives {setting} the value {value!r}, which is no {kind}"
    )
    if kind == "bool":
        if value.lower() not in _BOOLEANS:
            raise refused
        return _BOOLEANS[value.lower()]
    try:
        return int(value) if kind == "int" else float(value)
    except ValueError:
        raise refused from None


_BOOLEANS = {"true": True, "on": True, "1": True, "false": False, "off": False, "0": False}


def _named(entries: list[str], option: str, what: str, example: str) -> list[tuple[str, str]]:
    """The ``NAME=VALUE`` entries of the option ``option``, each split and stripped.

    Raises:
        ValueError: an entry is not ``NAME=VALUE`` (shown with any password masked).
    """
    pairs: list[tuple[str, str]] = []
    for entry in entries:
        name, equals, value = (part.strip() for part in entry.partition("="))
        if not (name and equals and value):
            raise ValueError(
                f"the {option} entry {masked(entry)!r} is not NAME={what}; write it like {example}"
            )
        pairs.append((name, value))
    return pairs


class Clients:
    """The remote services this process calls, by name.

    A service running in this process is called through its engine (:class:`LocalTransport`),
    any other over HTTP at its URL in ``options.urls``, or, without one, over the broker
    (:class:`BrokerTransport`) when the process has one; with credentials, those two carry a
    token (:class:`AuthorizedTransport`). A component: :meth:`stop` closes the connections.

    Args:
        options: the ``clients`` option section.
        local: the engines of the services in this process, by name.
        env_prefix: the application's environment prefix, for messages (``RUNS``).
        broker: the broker remote services answer on, if any.
        watched: wraps each remote service's transport, given its name: what counts the
            calls, with metrics on.
        discovery: the registry a service no URL names is found in, spread across its
            instances (:class:`~atoll.clients.discovered.DiscoveredTransport`), before the
            broker is tried.
    """

    def __init__(
        self,
        options: ClientOptions,
        local: Mapping[str, RpcEngine] | None = None,
        *,
        env_prefix: str = "<PREFIX>",
        broker: Broker | None = None,
        watched: Callable[[str, Transport], Transport] | None = None,
        discovery: Discovery | None = None,
    ) -> None:
        self.options = options
        self.broker = broker
        self.discovery = discovery
        self._local = dict(local or {})
        self._urls = options.targets()
        self._env_var = f"{env_prefix}_CLIENTS_URLS".upper()
        self._services: dict[str, RemoteService] = {}
        self._credentials = options.credentials()
        self._watched = watched
        self._guards: dict[str, Protection] = {}
        """Each remote service's protection, kept when its connections are closed: its
        breaker's memory outlives them."""

    def get(self, name: str) -> RemoteService:
        """The service ``name``: made at the first call, the same one afterwards.

        Raises:
            ConfigError: the service is not in this process, and has no URL.
        """
        service = self._services.get(name)
        if service is None:
            service = self._services[name] = self._make(name)
        return service

    def _make(self, name: str) -> RemoteService:
        transport = self._transport(name)
        # In the process, nothing is out of reach: a call needs its deadline, no more.
        local = isinstance(transport, LocalTransport)
        if self._watched is not None:
            transport = self._watched(name, transport)
        return RemoteService(transport, protection=None if local else self._protections(name))

    def _protections(self, name: str) -> Protection:
        protection = self._guards.get(name)
        if protection is None:
            protection = self._guards[name] = self.options.protection(name)
        return protection

    def _transport(self, name: str) -> Transport:
        engine = self._local.get(name)
        if engine is not None:
            return LocalTransport(engine, name=name, timeout=self.options.timeout)
        urls = self._urls.get(name)
        registry = None if self.discovery is None else self.discovery.registry
        if urls is None and registry is not None:
            return self._authorized(self._spread(registry, name), name)
        if urls is not None and (len(urls) > 1 or urls[0].startswith(DNS)):
            source = DnsInstances(urls[0]) if urls[0].startswith(DNS) else StaticInstances(urls)
            return self._authorized(self._spread(source, name), name)
        url = None if urls is None else urls[0]
        if url is None and self.broker is not None:
            over = BrokerTransport(self.broker, name, timeout=self.options.timeout)
            return self._authorized(over, name)
        if url is None:
            known = ", ".join(sorted({*self._local, *self._urls})) or "none"
            raise ConfigError(
                f"no URL for the remote service {name!r} (known: {known}); set it with "
                f"--clients-urls {name}=http://HOST:PORT/rpc or the environment variable "
                f"{self._env_var}, or run both with the same --broker-url or --registry-url"
            )
        return self._authorized(HttpTransport(url, timeout=self.options.timeout), name)

    def _spread(self, source: InstanceSource, name: str) -> DiscoveredTransport:
        """A transport spreading the calls to ``name`` across the instances ``source`` lists."""
        found = RegistryOptions() if self.discovery is None else self.discovery.options
        own = self.options.of(name)
        return DiscoveredTransport(
            source,
            name,
            timeout=own.timeout,
            balance=found.balance,
            refresh=found.refresh,
            breaker_of=lambda url: own.breaker_of(f"{name} at {masked(url)}"),
        )

    def _authorized(self, transport: TokenTransport, name: str) -> Transport:
        """``transport``, sending a token for ``name``'s audience when there are credentials."""
        if self._credentials is None:
            return transport
        audience = self.options.audience_of(name)
        return AuthorizedTransport(transport, self._credentials, audience)

    async def start(self) -> None:
        """Nothing to do: connections open at the first call."""

    async def stop(self) -> None:
        """Close every service's connections."""
        await self.aclose()

    async def aclose(self) -> None:
        """Close every service's connections; :meth:`get` makes new services afterwards."""
        services, self._services = self._services, {}
        for service in services.values():
            await service.aclose()
        if self._credentials is not None:
            await self._credentials.aclose()
