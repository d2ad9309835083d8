"""The root fields of a service's GraphQL schema: its handlers, each a query or a mutation.

A handler callers reach by JSON-RPC is a root field of the GraphQL schema, with the same
parameters, the same result, the same policy and the same call through the bus:

- a query (``@service.query``), and a JSON-RPC method a GET route also serves, is a field of
  ``Query``: it reads and changes nothing, as GET promises;
- a command (``@service.command``), and any other JSON-RPC method, is a field of
  ``Mutation``, unless ``service.graphql(queries=[...])`` names it.

Each field is named as the JSON-RPC method, in camel case (``weekly_meters`` is
``weeklyMeters``); in a system, every service's fields are in the one schema, and two of one
name are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from atoll.endpoints.graphql.declaration import camel
from atoll.endpoints.rpc.engines import rpc_methods
from atoll.errors import ConfigError
from atoll.messaging.handlers import HandlerKind

if TYPE_CHECKING:
    from collections.abc import Sequence

    from atoll.endpoints.api import Api, Method
    from atoll.endpoints.rpc.methods import RpcMethod
    from atoll.messaging.bus import MessageBus
    from atoll.messaging.handlers import Handler
    from atoll.security.auth import Authenticator

__all__ = ["Operation", "RootField", "root_fields"]

Operation = Literal["query", "mutation"]


@dataclass(frozen=True, slots=True)
class RootField:
    """A field of ``Query`` or ``Mutation``: a handler, as JSON-RPC calls it.

    Attributes:
        name: the field's name (camel case).
        operation: which root type holds it.
        method: the JSON-RPC method of the handler: its parameters, result, description,
            admission and call through the bus.
        handler: the handler, for messages.
    """

    name: str
    operation: Operation
    method: RpcMethod
    handler: Handler


def root_fields(
    api: Api,
    bus: MessageBus,
    authenticator: Authenticator | None = None,
    queries: Sequence[str] = (),
) -> list[RootField]:
    """The root fields serving ``api``'s JSON-RPC methods through ``bus``.

    Args:
        api: a service's API, or a system's: its fields are then those of every service
            declaring ``service.graphql()``, named without the service's name.
        bus: the bound bus the handlers are called through.
        authenticator: authenticates the calls of the handlers it guards.
        queries: JSON-RPC methods served as ``Query`` fields though nothing says they read
            only.

    Raises:
        ConfigError: two methods are one field's name, or ``queries`` names no method.
    """
    # One function may be both a JSON-RPC method and a GET route: two handlers of it.
    read_only = {route.handler.function for route in api.routes if route.method == "GET"}
    methods = _own_methods(api)
    unknown = set(queries) - {method.name for method in methods}
    if unknown:
        raise ConfigError(
            f"graphql(queries=...) names {', '.join(sorted(unknown))}, which "
            f"{api.title} has no JSON-RPC method of; name its methods, such as "
            f"{', '.join(sorted(m.name for m in methods)[:3]) or 'none'}"
        )
    fields: list[RootField] = []
    seen: dict[str, RootField] = {}
    for method, served in zip(methods, rpc_methods(methods, bus, authenticator), strict=True):
        handler = method.handler
        reads = (
            handler.kind is HandlerKind.QUERY
            or handler.function in read_only
            or method.name in queries
        )
        name = camel(method.name)
        field = RootField(name, "query" if reads else "mutation", served, handler)
        twin = seen.get(name)
        if twin is not None:
            raise ConfigError(
                f"{handler.label} and {twin.handler.label} are both the GraphQL field "
                f"{name!r}; name one of their JSON-RPC methods otherwise (name=...)"
            )
        seen[name] = field
        fields.append(field)
    return fields


def _own_methods(api: Api) -> list[Method]:
    """The methods of ``api`` by their own names: in a system, each GraphQL service's."""
    if not api.parts:
        return list(api.methods)
    return [method for part in api.parts if part.graphql is not None for method in part.methods]
