"""Relay's Node interface: global ids, and the root field ``node(id:)`` finding any node.

``service.graphql(nodes={Run: get_run})`` makes ``Run`` a node of the generated schema::

    interface Node { id: ID! }
    type Run implements Node { id: ID!  databaseId: Int!  ... }
    type Query { node(id: ID!): Node  ... }

A node's ``id`` is its global id: opaque, the URL-safe base64 of ``"Run:42"`` (its type and
its own key), unique among every node of the schema, which Relay's clients cache objects by
and refetch them with. The type's own ``id`` stays as ``databaseId``, as GitHub's API names
it: the key the service's other fields, methods and routes take.

``node(id:)`` decodes the global id and calls the type's handler with the key, as the root
field of that handler would: admitted, through the bus, judged by its policy. A global id that
does not decode, or names no node type, is the caller's ``BAD_USER_INPUT``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLID,
    GraphQLInterfaceType,
    GraphQLNonNull,
)

from atoll.adapters.graphql.types import fields_of, unwrapped
from atoll.endpoints.rpc.jsonrpc import InvalidParamsError
from atoll.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from atoll.endpoints.graphql.fields import RootField
    from atoll.endpoints.rpc.methods import Param, RpcMethod

__all__ = ["NODE", "Nodes", "global_id", "key_of"]

NODE = "Node"
"""The interface's name, as Relay's Object Identification specification names it."""

DATABASE_ID = "databaseId"
"""The field holding a node's own id."""


def global_id(type_name: str, key: object) -> str:
    """The global id of the node ``type_name`` of ``key``: ``Run``, 42 -> ``UnVuOjQy``."""
    return base64.urlsafe_b64encode(f"{type_name}:{key}".encode()).decode().rstrip("=")


def key_of(value: str) -> tuple[str, str]:
    """The type name and key a global id holds.

    Raises:
        InvalidParamsError: ``value`` is no global id (``BAD_USER_INPUT``).
    """
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    name, colon, key = text.partition(":")
    if not (colon and name and key):
        raise InvalidParamsError(
            f"{value!r} is no global id of this schema; give the id field of a node as it "
            "was answered",
            "$.id",
        )
    return name, key


@dataclass(frozen=True, slots=True)
class _Finder:
    """How a node type is found by its key: its handler's parameter, and the root resolver."""

    param: Param
    resolve: Callable[..., Any]


class Nodes:
    """The node types of a generated schema: their interface, global ids, and ``node(id:)``.

    Args:
        declared: each node class and the JSON-RPC method finding one by its key.
        fields: the schema's root fields, which the methods must be queries of.
        title: the service, for messages.
        resolver: the resolver of a root field of a method (the same as its own field's).

    Raises:
        ConfigError: a method is no query of the schema, does not take one key, returns
            another type, or the class has no ``id`` (or has a ``databaseId`` already).
    """

    def __init__(
        self,
        declared: Mapping[type, str],
        fields: Sequence[RootField],
        title: str,
        resolver: Callable[[RpcMethod], Callable[..., Any]],
    ) -> None:
        by_method = {root.method.name: root for root in fields}
        self._finders: dict[str, _Finder] = {}
        self._names: dict[type, str] = {}
        for cls, method_name in declared.items():
            where = f"graphql(nodes=...) of {title}: {cls.__name__}"
            root = by_method.get(method_name)
            if root is None or root.operation != "query":
                raise ConfigError(
                    f"{where} is found by {method_name!r}, which is no query of the schema; "
                    "name a JSON-RPC method that reads (@service.query, a GET route, or one "
                    "graphql(queries=...) names)"
                )
            label, method = root.handler.label, root.method
            required = [param for param in method.params if param.required]
            if len(required) != 1:
                raise ConfigError(
                    f"{where} is found by {label}, which takes the parameters "
                    f"{', '.join(p.name for p in required) or 'none'}; a node's finder takes "
                    "one, its key"
                )
            returns, _ = unwrapped(method.result)
            if getattr(returns, "__name__", None) != cls.__name__:
                raise ConfigError(
                    f"{where} is found by {label}, which returns {method.result!r}; make it "
                    f"return {cls.__name__} | None"
                )
            own = dict(fields_of(returns))
            if "id" not in own or DATABASE_ID in own:
                raise ConfigError(
                    f"{where} is a node: its field id becomes the global id, and {DATABASE_ID} "
                    f"its own; give {cls.__name__} an id field, and no {DATABASE_ID}"
                )
            self._names[returns] = cls.__name__
            self._finders[cls.__name__] = _Finder(required[0], resolver(method))
        self.interface = GraphQLInterfaceType(
            NODE,
            {"id": GraphQLField(GraphQLNonNull(GraphQLID), description="The global id.")},
            resolve_type=self._type_of,
            description=(
                "An object with a global id, which node(id:) finds it by (Relay's Object "
                "Identification)."
            ),
        )

    def interfaces_of(self, cls: type) -> list[GraphQLInterfaceType]:
        """The interfaces of ``cls``'s object type: ``Node`` for a node."""
        return [self.interface] if cls in self._names else []

    def identify(self, cls: type, fields: dict[str, GraphQLField]) -> None:
        """Make ``fields`` of a node ``cls`` a node's: a global ``id``, the own ``databaseId``."""
        name = self._names.get(cls)
        if name is None:
            return
        own = fields["id"]

        def resolve_global(source: Any, _info: Any) -> str:
            return global_id(name, source.id)

        fields["id"] = GraphQLField(
            GraphQLNonNull(GraphQLID),
            resolve=resolve_global,
            description=f"The global id of the {name}: opaque; node(id:) finds it.",
        )
        fields[DATABASE_ID] = GraphQLField(
            own.type,
            resolve=own.resolve,
            description=f"The {name}'s own id, which the service's other fields take.",
        )

    def root_field(self) -> GraphQLField:
        """``node(id: ID!): Node``: the node of a global id, found by its type's handler."""
        finders = self._finders

        async def resolve(root: Any, info: Any, **arguments: Any) -> Any:
            name, key = key_of(arguments["id"])
            finder = finders.get(name)
            if finder is None:
                raise InvalidParamsError(
                    f"{arguments['id']!r} is the global id of a {name}, which is no node of "
                    f"this schema; its nodes: {', '.join(sorted(finders))}",
                    "$.id",
                )
            param = finder.param
            try:
                value = msgspec.convert(key, param.hint, strict=False)
            except msgspec.ValidationError:
                raise InvalidParamsError(
                    f"{arguments['id']!r} holds the key {key!r}, which is no key of a {name}",
                    "$.id",
                ) from None
            return await finder.resolve(root, info, **{param.name: value})

        return GraphQLField(
            self.interface,
            args={"id": GraphQLArgument(GraphQLNonNull(GraphQLID))},
            resolve=resolve,
            description="The node of a global id; null if there is none.",
        )

    def _type_of(self, value: Any, _info: Any, _kind: Any) -> str | None:
        return self._names.get(type(value))
