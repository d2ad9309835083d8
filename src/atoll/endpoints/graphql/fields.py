"""The root fields of a service's GraphQL schema: its handlers, each a query or a mutation.

A handler callers reach by JSON-RPC is a root field of the GraphQL schema, with the same
parameters, the same result, the same policy and the same call through the bus:

- a query (``@service.query``), and a JSON-RPC method a GET route also serves, is a field of
  ``Query``: it reads and changes nothing, as GET promises;
- a command (``@service.command``), and any other JSON-RPC method, is a field of
  ``Mutation``, unless ``service.graphql(queries=[...])`` names it.

Each field is named as the JSON-RPC method, in camel case (``weekly_meters`` is
``weeklyMeters``), with its parameters as arguments but those a policy says the server fills
(``server_owned``); in a system, every service's fields are in the one schema, and two of one
name are refused.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from atoll.endpoints.api import read_only
from atoll.endpoints.graphql.declaration import camel
from atoll.endpoints.rpc.engines import rpc_methods
from atoll.endpoints.rpc.methods import Param, RpcMethod
from atoll.errors import ConfigError
from atoll.persistence.shown import showing, shown

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from atoll.endpoints.api import Api, Method
    from atoll.endpoints.graphql.declaration import ObjectField, Subscription
    from atoll.messaging.bus import MessageBus
    from atoll.messaging.handlers import Handler, Input
    from atoll.security.auth import Authenticator

__all__ = [
    "FieldOfObject",
    "Operation",
    "RootField",
    "SubscriptionField",
    "fields_of_objects",
    "root_fields",
    "subscription_fields",
]

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
    methods = _own_methods(api)
    unknown = set(queries) - {method.name for method in methods}
    if unknown:
        raise ConfigError(
            f"graphql(queries=...) names {', '.join(sorted(unknown))}, which "
            f"{api.title} has no JSON-RPC method of; name its methods, such as "
            f"{', '.join(sorted(m.name for m in methods)[:3]) or 'none'}"
        )
    reads = read_only(api, methods, queries)
    fields: list[RootField] = []
    seen: dict[str, RootField] = {}
    for method, served in zip(methods, rpc_methods(methods, bus, authenticator), strict=True):
        handler = method.handler
        owned = getattr(bus.policy_of(handler), "server_owned", ())
        if owned:  # fields only the server fills: no argument of the field, as OpenAPI shows
            kept = tuple(param for param in served.params if param.name not in owned)
            served = dataclasses.replace(served, params=kept)  # noqa: PLW2901 - the same method, fewer params
        name = camel(method.name)
        operation: Operation = "query" if method.name in reads else "mutation"
        field = RootField(name, operation, served, handler)
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


@dataclass(frozen=True, slots=True)
class FieldOfObject:
    """A field of an object type, resolved by a handler (``@service.field(User)``).

    Attributes:
        parent: the dataclass whose object type has the field.
        name: the field's name (camel case).
        parent_parameter: the handler's parameter receiving the parent (or the parents).
        batched: the handler resolves the field for a list of parents at once.
        method: the handler as a call: its other inputs as parameters (the field's
            arguments), its result (for one parent), its admission and call through the bus.
        handler: the handler, for messages.
    """

    parent: type
    name: str
    parent_parameter: str
    batched: bool
    method: RpcMethod
    handler: Handler


def fields_of_objects(
    api: Api, bus: MessageBus, authenticator: Authenticator | None = None
) -> list[FieldOfObject]:
    """The fields of object types the handlers of ``api`` resolve, called through ``bus``.

    Raises:
        ConfigError: a batched handler does not return a list, or two handlers resolve one
            field.
    """
    every = [declared for part in _graphql_parts(api) for declared in part.object_fields]
    made: list[FieldOfObject] = []
    seen: dict[tuple[type, str], Handler] = {}
    for declared in every:
        handler = declared.handler
        twin = seen.setdefault((declared.parent, declared.name), handler)
        if twin is not handler:
            raise ConfigError(
                f"{handler.label} and {twin.label} both resolve the GraphQL field "
                f"{declared.parent.__name__}.{camel(declared.name)}; keep one"
            )
        made.append(_field_of_object(declared, bus, authenticator))
    return made


def _field_of_object(
    declared: ObjectField, bus: MessageBus, authenticator: Authenticator | None
) -> FieldOfObject:
    handler = declared.handler
    inputs = bus.signature(handler).inputs
    if not inputs:
        raise ConfigError(
            f"{handler.label} takes no parameter; its first receives the "
            f"{declared.parent.__name__} whose field it resolves"
        )
    parent, *arguments = inputs
    returns = handler.returns
    if declared.batched:
        if typing.get_origin(returns) not in {list, tuple}:
            raise ConfigError(
                f"{handler.label} is batched: it returns a list, the field's value for each "
                f"parent in order (list[...]); it is annotated {returns!r}"
            )
        (returns, *_) = typing.get_args(returns) or (typing.Any,)
    view = shown(returns)
    call = bus.caller(handler)
    if view.convert is not None:  # an aggregate: shown without its bookkeeping
        convert = view.convert
        caller = call

        async def call_shown(values: dict[str, typing.Any]) -> typing.Any:
            result = await caller(values)
            return [convert(one) for one in result] if declared.batched else convert(result)

        call = call_shown
    method = _method(handler, arguments, call, view.type, bus, authenticator)
    return FieldOfObject(
        declared.parent, camel(declared.name), parent.name, declared.batched, method, handler
    )


def _policy(bus: MessageBus, handler: Handler) -> str:
    """Who may read the field, in a few words; ``""`` for whoever the service serves."""
    policy = bus.policy_of(handler)
    return "" if policy is None else policy.describe()


@dataclass(frozen=True, slots=True)
class SubscriptionField:
    """A field of ``Subscription``: an event type, and the handler showing each event.

    Attributes:
        name: the field's name (camel case).
        event: the event type it offers.
        event_parameter: the handler's parameter receiving the event.
        method: the handler as a call: its other inputs as parameters (the field's
            arguments), its result (``None`` skips the event), its admission and call.
        handler: the handler, for messages.
        declared: the name it was declared with (``run_recorded``), which ``bind`` names.
    """

    name: str
    event: type
    event_parameter: str
    method: RpcMethod
    handler: Handler
    declared: str


def subscription_fields(
    api: Api, bus: MessageBus, authenticator: Authenticator | None = None
) -> list[SubscriptionField]:
    """The fields of ``Subscription`` the handlers of ``api`` make, called through ``bus``.

    Raises:
        ConfigError: two handlers make one field.
    """
    every = [declared for part in _graphql_parts(api) for declared in part.subscriptions]
    made: dict[str, SubscriptionField] = {}
    for declared in every:
        field = _subscription_field(declared, bus, authenticator)
        twin = made.get(field.name)
        if twin is not None:
            raise ConfigError(
                f"{field.handler.label} and {twin.handler.label} are both the GraphQL field "
                f"Subscription.{field.name}; name one of them otherwise (name=...)"
            )
        made[field.name] = field
    return list(made.values())


def _subscription_field(
    declared: Subscription, bus: MessageBus, authenticator: Authenticator | None
) -> SubscriptionField:
    handler = declared.handler
    inputs = bus.signature(handler).inputs
    if not inputs:
        raise ConfigError(
            f"{handler.label} takes no parameter; its first receives the "
            f"{declared.event.__name__} it shows"
        )
    event, *arguments = inputs
    returns, _ = _without_none(handler.returns)
    view = shown(returns)
    call = showing(bus.caller(handler), handler.returns)
    method = _method(handler, arguments, call, view.type, bus, authenticator)
    return SubscriptionField(
        camel(declared.name), declared.event, event.name, method, handler, declared.name
    )


def _without_none(hint: typing.Any) -> tuple[typing.Any, bool]:
    """``X | None`` as ``X`` (a subscription's handler skips an event with ``None``)."""
    args = typing.get_args(hint)
    if type(None) in args:
        kept = [arg for arg in args if arg is not type(None)]
        if len(kept) == 1:
            return kept[0], True
    return hint, False


def _graphql_parts(api: Api) -> list[Api]:
    """``api`` itself, or in a system each service's API declaring ``service.graphql()``."""
    if not api.parts:
        return [api]
    return [part for part in api.parts if part.graphql is not None]


def _method(  # noqa: PLR0917 - a handler as a call, each part
    handler: Handler,
    arguments: Sequence[Input],
    call: Callable[[dict[str, typing.Any]], Awaitable[typing.Any]],
    result: typing.Any,
    bus: MessageBus,
    authenticator: Authenticator | None,
) -> RpcMethod:
    """``handler`` as a call taking ``arguments``, answering ``result``, admitted and judged."""
    return RpcMethod(
        name=handler.name,
        params=tuple(
            Param(item.name, item.hint)
            if item.required
            else Param(item.name, item.hint, item.default)
            for item in arguments
        ),
        call=call,
        result=result,
        summary=handler.summary,
        description=handler.description,
        admit=None if authenticator is None else authenticator.admission(handler, bus),
        policy=_policy(bus, handler),
    )
