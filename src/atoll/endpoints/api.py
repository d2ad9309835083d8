"""What a service exposes: its REST routes, its RPC methods, its messages, the errors callers see.

The service layer declares these; the transports (the ASGI app, the JSON-RPC engine, the
OpenAPI, OpenRPC and AsyncAPI documents, ``atoll routes``) read them. Nothing here runs
anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from atoll.messaging.faults import FaultMap
from atoll.messaging.handlers import HandlerKind

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable

    from atoll.endpoints.graphql.declaration import GraphQLDeclaration, ObjectField, Subscription
    from atoll.endpoints.http.types import ASGIApp
    from atoll.messaging.handlers import Handler

__all__ = [
    "POLICY_EXTENSION",
    "Api",
    "Method",
    "Route",
    "Wrapper",
    "kebab",
    "read_only",
    "snake",
]

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})

POLICY_EXTENSION = "x-atoll-policy"
"""The member of an OpenAPI operation or OpenRPC method saying who may call it, in a few
words (``scopes runs:read``): the others are refused (401, or 403 and JSON-RPC -32013)."""


@dataclass(frozen=True, slots=True)
class Route:
    """A REST route: ``GET /runs/{run_id}`` answered by a handler."""

    method: str
    path: str
    handler: Handler
    status: int = 200


@dataclass(frozen=True, slots=True)
class Method:
    """A JSON-RPC method answered by a handler."""

    name: str
    handler: Handler


@dataclass(frozen=True)
class Wrapper:
    """An ASGI middleware as declared: ``factory(app, **options)`` makes the wrapping app."""

    factory: Callable[..., ASGIApp]
    options: dict[str, Any] = field(default_factory=dict)

    def around(self, app: ASGIApp) -> ASGIApp:
        """The middleware around ``app``."""
        return self.factory(app, **self.options)


@dataclass
class Api:
    """What one service, or a system of them, exposes."""

    title: str
    version: str = "0.0.0"
    description: str = ""
    routes: list[Route] = field(default_factory=list)
    methods: list[Method] = field(default_factory=list)
    faults: FaultMap = field(default_factory=FaultMap)
    mounts: list[tuple[str, ASGIApp]] = field(default_factory=list)
    pages: list[tuple[str, ASGIApp]] = field(default_factory=list)
    """ASGI apps each answering one path exactly, such as a shell page at ``/``."""
    wrappers: list[Wrapper] = field(default_factory=list)
    """ASGI middleware around the whole HTTP app, outermost first."""
    parts: list[Api] = field(default_factory=list)
    """In a system, each service's own API: its JSON-RPC methods are served by plain name too."""
    consumes: list[Handler] = field(default_factory=list)
    """What the service takes from a broker: the handlers of its commands and of the events
    it consumes."""
    publishes: list[type] = field(default_factory=list)
    """The event types the service publishes, as it declared them."""
    graphql: GraphQLDeclaration | None = None
    """The service's GraphQL schema, when it is served over GraphQL (``service.graphql()``)."""
    object_fields: list[ObjectField] = field(default_factory=list)
    """The fields of GraphQL object types its handlers resolve (``@service.field(User)``)."""
    subscriptions: list[Subscription] = field(default_factory=list)
    """The GraphQL subscriptions to its events (``@service.subscription(RunRecorded)``)."""


def read_only(api: Api, methods: Iterable[Method], queries: Collection[str] = ()) -> set[str]:
    """The names of those of ``methods`` (``api``'s) that only read, and change nothing.

    A query's (``@service.query``), one a GET route of ``api`` serves too (a GET promises to
    change nothing), and one ``queries`` names (``service.graphql(queries=[...])``). The
    generated GraphQL schema makes these ``Query`` fields, and a shell's service worker keeps
    their last answers for offline: a command's answer given again would lie.
    """
    # One function may be both a JSON-RPC method and a GET route: two handlers of it.
    served_by_get = {route.handler.function for route in api.routes if route.method == "GET"}
    return {
        method.name
        for method in methods
        if method.handler.kind is HandlerKind.QUERY
        or method.handler.function in served_by_get
        or method.name in queries
    }


_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake(name: str) -> str:
    """``RecordRun`` -> ``record_run``: the RPC method of a message type."""
    return _WORD.sub("_", name).lower()


def kebab(name: str) -> str:
    """``RecordRun`` -> ``record-run``: the REST path of a message type."""
    return _WORD.sub("-", name).lower()
