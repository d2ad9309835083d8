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

from dataclasses import dataclass
from typing import TYPE_CHECKING

from atoll.clients.credentials import (
    AuthorizedTransport,
    ClientCredentials,
    Credentials,
    StaticToken,
)
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

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from atoll.clients.transports import RpcEngine, TokenTransport, Transport
    from atoll.messaging.broker import Broker

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

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise ValueError(f"timeout must be above 0 seconds, such as 10; got {self.timeout}")
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

    def targets(self) -> dict[str, str]:
        """The URL of each service, by name.

        Raises:
            ValueError: an entry is not ``NAME=URL`` with an http(s) URL, or repeats a name.
        """
        targets: dict[str, str] = {}
        for name, url in _named(self.urls, "urls", "URL", "users=http://127.0.0.1:8001/rpc"):
            if name in targets:
                raise ValueError(f"urls names the service {name!r} twice; keep one URL for it")
            try:
                targets[name] = rpc_url(url)
            except ConfigError as error:
                raise ValueError(f"the urls entry for {name!r}: {error}") from None
        return targets


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
    """

    def __init__(
        self,
        options: ClientOptions,
        local: Mapping[str, RpcEngine] | None = None,
        *,
        env_prefix: str = "<PREFIX>",
        broker: Broker | None = None,
        watched: Callable[[str, Transport], Transport] | None = None,
    ) -> None:
        self.options = options
        self.broker = broker
        self._local = dict(local or {})
        self._urls = options.targets()
        self._env_var = f"{env_prefix}_CLIENTS_URLS".upper()
        self._services: dict[str, RemoteService] = {}
        self._credentials = options.credentials()
        self._watched = watched

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
        if self._watched is not None:
            transport = self._watched(name, transport)
        return RemoteService(transport)

    def _transport(self, name: str) -> Transport:
        engine = self._local.get(name)
        if engine is not None:
            return LocalTransport(engine, name=name, timeout=self.options.timeout)
        url = self._urls.get(name)
        if url is None and self.broker is not None:
            over = BrokerTransport(self.broker, name, timeout=self.options.timeout)
            return self._authorized(over, name)
        if url is None:
            known = ", ".join(sorted({*self._local, *self._urls})) or "none"
            raise ConfigError(
                f"no URL for the remote service {name!r} (known: {known}); set it with "
                f"--clients-urls {name}=http://HOST:PORT/rpc or the environment variable "
                f"{self._env_var}, or run both with the same --broker-url"
            )
        return self._authorized(HttpTransport(url, timeout=self.options.timeout), name)

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
