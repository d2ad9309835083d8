"""Python types as GraphQL types: a generated schema's, and what an SDL is checked against.

=====================================  ==============================================
Python                                 GraphQL
=====================================  ==============================================
``int``, ``float``, ``str``, ``bool``  ``Int``, ``Float``, ``String``, ``Boolean``
``datetime``, ``date``                 ``DateTime``, ``Date`` (ISO 8601 strings)
``UUID``, ``Decimal``                  ``UUID``, ``Decimal`` (strings)
a ``str`` or ``int`` ``Enum``          an enum of its members' names
a dataclass or msgspec ``Struct``      an object type of its name; as an argument, an
                                       input type named ``<Name>Input``
``list[X]``, ``tuple[X, ...]``, sets   ``[X]``
``dict``, ``Any``                      ``JSON`` (any JSON value)
``X | None``                           ``X``; anything else is non-null (``X!``)
``Page[X]`` (a repository's page)      a Relay connection, ``XConnection``
=====================================  ==============================================

A ``Page[X]`` is ``XConnection { edges: [XEdge!]! nodes: [X!]! pageInfo: PageInfo! }``,
``XEdge { cursor: String! node: X! }`` and ``PageInfo { hasNextPage hasPreviousPage
startCursor endCursor }``, as Relay's connections specify; its handler takes the
``first``/``after``/``last``/``before`` it passes to ``Repository.page``.

A field or argument is named as in Python in camel case (``started_at`` is ``startedAt``),
and read back under its Python name. ``Int`` holds 32 bits, as the GraphQL specification
says: a larger integer is an error of its field, not a wrong number.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import inspect
import types
import typing
import uuid
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLEnumValue,
    GraphQLField,
    GraphQLFloat,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLString,
    Undefined,
)

from atoll.endpoints.graphql.declaration import camel
from atoll.errors import ConfigError
from atoll.persistence.pages import Page

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from graphql import (
        GraphQLInputType,
        GraphQLInterfaceType,
        GraphQLNamedType,
        GraphQLOutputType,
    )

    from atoll.endpoints.graphql.fields import FieldOfObject

__all__ = ["SCALARS", "NodeTypes", "Types", "attribute", "fields_of", "hint_text", "unwrapped"]


class NodeTypes(Protocol):
    """The node types of a schema, as its object types need them (``nodes.Nodes``)."""

    def interfaces_of(self, cls: type) -> list[GraphQLInterfaceType]:
        """The interfaces of ``cls``'s object type: ``Node`` for a node."""
        ...

    def identify(self, cls: type, fields: dict[str, GraphQLField]) -> None:
        """Make ``fields`` of a node ``cls`` a node's."""
        ...


def _iso(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{value!r} is not a date or a date and time")


def _datetime(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise TypeError(
            f"a DateTime is an ISO 8601 string, such as 2024-05-01T07:30:00Z; got {value!r}"
        )
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not an ISO 8601 date and time, such as 2024-05-01T07:30:00Z"
        ) from None


def _date(value: Any) -> dt.date:
    if not isinstance(value, str):
        raise TypeError(f"a Date is an ISO 8601 string, such as 2024-05-01; got {value!r}")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date, such as 2024-05-01") from None


def _uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a UUID") from None


def _decimal(value: Any) -> decimal.Decimal:
    try:
        return decimal.Decimal(str(value))
    except decimal.InvalidOperation:
        raise ValueError(f'{value!r} is not a decimal number, such as "12.50"') from None


def _json(value: Any) -> Any:
    return msgspec.to_builtins(value)


DateTime = GraphQLScalarType(
    "DateTime",
    serialize=_iso,
    parse_value=_datetime,
    description="A date and time, in ISO 8601: 2024-05-01T07:30:00+00:00.",
)
Date = GraphQLScalarType(
    "Date", serialize=_iso, parse_value=_date, description="A date, in ISO 8601: 2024-05-01."
)
Uuid = GraphQLScalarType(
    "UUID", serialize=str, parse_value=_uuid, description="A UUID, as its 36 characters."
)
Decimal = GraphQLScalarType(
    "Decimal",
    serialize=str,
    parse_value=_decimal,
    description='A decimal number, as a string so that no digit is lost: "12.50".',
)
Json = GraphQLScalarType(
    "JSON", serialize=_json, parse_value=lambda value: value, description="Any JSON value."
)

SCALARS: dict[Any, GraphQLScalarType] = {
    bool: GraphQLBoolean,
    int: GraphQLInt,
    float: GraphQLFloat,
    str: GraphQLString,
    dt.datetime: DateTime,
    dt.date: Date,
    uuid.UUID: Uuid,
    decimal.Decimal: Decimal,
}
"""Each Python scalar type and its GraphQL scalar."""

_LISTS = frozenset({list, tuple, set, frozenset})
_MAPPINGS = frozenset({dict})


def unwrapped(hint: Any) -> tuple[Any, bool]:
    """``hint`` without ``Annotated`` and ``None``, and whether it was optional."""
    while True:
        origin = typing.get_origin(hint)
        if origin is typing.Annotated:
            hint = typing.get_args(hint)[0]
        elif origin is typing.Union or origin is types.UnionType:
            members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
            if len(members) == len(typing.get_args(hint)):
                return hint, False  # a union of types: not optional
            inner, _ = unwrapped(members[0] if len(members) == 1 else typing.Union[tuple(members)])  # noqa: UP007 - built from a tuple
            return inner, True
        elif isinstance(hint, typing.NewType):
            hint = hint.__supertype__
        else:
            return hint, False


def fields_of(cls: type) -> list[tuple[str, Any]]:
    """The fields of a dataclass or msgspec Struct: each name and type hint, in order."""
    hints = typing.get_type_hints(cls, include_extras=True)
    if issubclass(cls, msgspec.Struct):
        return [(f.name, hints[f.name]) for f in msgspec.structs.fields(cls)]
    made: Any = cls  # a dataclass
    return [(f.name, hints[f.name]) for f in dataclasses.fields(made) if not f.name.startswith("_")]


def _is_record(hint: Any) -> bool:
    return isinstance(hint, type) and (
        dataclasses.is_dataclass(hint) or issubclass(hint, msgspec.Struct)
    )


def attribute(name: str) -> Callable[..., Any]:
    """The resolver of a field read from its source's attribute ``name``."""

    def resolve(source: Any, _info: Any) -> Any:
        return getattr(source, name)

    return resolve


class Types:
    """The GraphQL types of Python types, each made once and named once.

    Args:
        where: what the types are for, in messages (``the service runs``).
        extras: the fields of object types resolved by handlers, by their dataclass, each
            with its resolver.
        nodes: the node types, whose object types implement ``Node`` with a global ``id``.
    """

    def __init__(
        self,
        where: str,
        extras: Mapping[type, Sequence[tuple[FieldOfObject, Callable[..., Any]]]] | None = None,
        nodes: NodeTypes | None = None,
    ) -> None:
        self.where = where
        self.extras = extras or {}
        self.nodes = nodes
        self._outputs: dict[Any, GraphQLObjectType] = {}
        self._inputs: dict[Any, GraphQLInputObjectType] = {}
        self._enums: dict[Any, GraphQLEnumType] = {}
        self._connections: dict[Any, GraphQLObjectType] = {}
        self._names: dict[str, Any] = {}

    def output(self, hint: Any, where: str) -> GraphQLOutputType:
        """The output type of ``hint`` (non-null unless optional); ``where`` names its use."""
        inner, optional = unwrapped(hint)
        made: GraphQLOutputType
        origin = typing.get_origin(inner) or inner
        if inner in SCALARS:
            made = SCALARS[inner]
        elif inner is Any or inner is object or origin in _MAPPINGS:
            made = Json
        elif origin in _LISTS:
            made = GraphQLList(self.output(_item(inner), where))
        elif origin is Page:
            made = self._connection(_item(inner), where)
        elif isinstance(inner, type) and issubclass(inner, enum.Enum):
            made = self._enum(inner)
        elif _is_record(inner):
            made = self._object(inner)
        else:
            raise self._unknown(hint, where)
        return made if optional else GraphQLNonNull(made)

    def _connection(self, item: Any, where: str) -> GraphQLObjectType:
        """The Relay connection of a page of ``item``: its edges, nodes and page info."""
        made = self._connections.get(item)
        if made is not None:
            return made
        node = self.output(item, f"{where}, its items")
        named = getattr(getattr(node, "of_type", node), "name", "Item")
        edge = GraphQLObjectType(
            f"{named}Edge",
            {
                "cursor": GraphQLField(GraphQLNonNull(GraphQLString), resolve=_first),
                "node": GraphQLField(node, resolve=_second),
            },
            description=f"A {named} of a page, and where the next page starts after it.",
        )
        made = GraphQLObjectType(
            f"{named}Connection",
            {
                "edges": GraphQLField(
                    GraphQLNonNull(GraphQLList(GraphQLNonNull(edge))), resolve=attribute("edges")
                ),
                "nodes": GraphQLField(
                    GraphQLNonNull(GraphQLList(node)), resolve=attribute("items")
                ),
                "pageInfo": GraphQLField(GraphQLNonNull(self._page_info()), resolve=_itself),
            },
            description=f"A page of {named}, in the order asked for (a Relay connection).",
        )
        self._claim(edge.name, (item, "edge"))
        self._claim(made.name, (item, "connection"))
        self._connections[item] = made
        return made

    def _page_info(self) -> GraphQLObjectType:
        made = self._outputs.get(Page)
        if made is None:
            optional_string = GraphQLString
            made = GraphQLObjectType(
                "PageInfo",
                {
                    "hasNextPage": GraphQLField(
                        GraphQLNonNull(GraphQLBoolean), resolve=attribute("has_next")
                    ),
                    "hasPreviousPage": GraphQLField(
                        GraphQLNonNull(GraphQLBoolean), resolve=attribute("has_previous")
                    ),
                    "startCursor": GraphQLField(optional_string, resolve=attribute("start_cursor")),
                    "endCursor": GraphQLField(optional_string, resolve=attribute("end_cursor")),
                },
                description="Where a page starts and ends, and whether there is more either way.",
            )
            self._claim("PageInfo", Page)
            self._outputs[Page] = made
        return made

    def input(self, hint: Any, where: str) -> GraphQLInputType:
        """The input type of ``hint`` (non-null unless optional); ``where`` names its use."""
        inner, optional = unwrapped(hint)
        made: GraphQLInputType
        origin = typing.get_origin(inner) or inner
        if inner in SCALARS:
            made = SCALARS[inner]
        elif inner is Any or inner is object or origin in _MAPPINGS:
            made = Json
        elif origin in _LISTS:
            made = GraphQLList(self.input(_item(inner), where))
        elif isinstance(inner, type) and issubclass(inner, enum.Enum):
            made = self._enum(inner)
        elif _is_record(inner):
            made = self._input_object(inner)
        else:
            raise self._unknown(hint, where)
        return made if optional else GraphQLNonNull(made)

    def arguments(self, params: Any, where: str) -> dict[str, GraphQLArgument]:
        """The arguments of a field taking ``params``, its JSON-RPC method's parameters."""
        made: dict[str, GraphQLArgument] = {}
        for param in params:
            kind = self.input(param.hint, f"{where}, argument {param.name}")
            default = _literal_default(param)
            if default is _NONE and not param.required and isinstance(kind, GraphQLNonNull):
                kind = kind.of_type  # a default the schema cannot state: optional, unstated
            made[camel(param.name)] = GraphQLArgument(
                kind,
                default_value=Undefined if default is _NONE else default,
                out_name=param.name,
            )
        return made

    def claim(self, name: str, owner: Any) -> None:
        """Name a type of ``owner``'s ``name``; see :meth:`_claim`."""
        self._claim(name, owner)

    def _claim(self, name: str, owner: Any) -> None:
        """Hold ``name`` for ``owner``.

        Raises:
            ConfigError: another owner holds it.
        """
        held = self._names.setdefault(name, owner)
        if held is not owner:
            raise ConfigError(
                f"{_qualified(held)} and {_qualified(owner)} would both be the GraphQL type "
                f"{name!r} in {self.where}; rename one of them"
            )

    def _enum(self, cls: type[enum.Enum]) -> GraphQLEnumType:
        made = self._enums.get(cls)
        if made is None:
            self._claim(cls.__name__, cls)
            made = GraphQLEnumType(
                cls.__name__,
                {member.name: GraphQLEnumValue(member) for member in cls},
                description=_doc(cls),
            )
            self._enums[cls] = made
        return made

    def _object(self, cls: type) -> GraphQLObjectType:
        made = self._outputs.get(cls)
        if made is None:

            def fields() -> dict[str, GraphQLField]:
                made = {
                    camel(name): GraphQLField(
                        self.output(hint, f"{cls.__name__}.{name}"), resolve=attribute(name)
                    )
                    for name, hint in fields_of(cls)
                }
                for extra, resolve in self.extras.get(cls, ()):
                    made[extra.name] = self._resolved(cls, extra, resolve)
                if self.nodes is not None:
                    self.nodes.identify(cls, made)
                return made

            self._claim(cls.__name__, cls)
            made = GraphQLObjectType(
                cls.__name__,
                fields,
                interfaces=self.nodes.interfaces_of(cls) if self.nodes is not None else None,
                description=_doc(cls),
            )
            self._outputs[cls] = made
        return made

    def _resolved(
        self, cls: type, extra: FieldOfObject, resolve: Callable[..., Any]
    ) -> GraphQLField:
        """The field ``extra`` of ``cls``'s type: nullable, so that a refusal nulls it alone."""
        where = f"{cls.__name__}.{extra.name} ({extra.handler.label})"
        method = extra.method
        nothing = method.result is None or method.result is type(None)
        output = GraphQLBoolean if nothing else self.output(method.result, f"{where}, its result")
        if isinstance(output, GraphQLNonNull):
            output = output.of_type
        text = "\n\n".join(part for part in (method.summary, method.description) if part)
        return GraphQLField(
            output,
            args=self.arguments(method.params, where),
            resolve=resolve,
            description=text or None,
        )

    def _input_object(self, cls: type) -> GraphQLInputObjectType:
        made = self._inputs.get(cls)
        if made is None:

            def fields() -> dict[str, GraphQLInputField]:
                return {
                    camel(name): GraphQLInputField(
                        self.input(hint, f"{cls.__name__}.{name}"), out_name=name
                    )
                    for name, hint in fields_of(cls)
                }

            name = f"{cls.__name__}Input"
            self._claim(name, cls)
            made = GraphQLInputObjectType(
                name, fields, description=_doc(cls), out_type=lambda values: cls(**values)
            )
            self._inputs[cls] = made
        return made

    def _unknown(self, hint: Any, where: str) -> ConfigError:
        return ConfigError(
            f"{where} in {self.where} is of type {hint_text(hint)}, which GraphQL has no type "
            "for; use int, float, str, bool, datetime, date, UUID, Decimal, an Enum, a "
            "dataclass, a list of them, or an optional one"
        )

    def named(self) -> list[GraphQLNamedType]:
        """Every type made so far."""
        return [
            *self._outputs.values(),
            *self._connections.values(),
            *self._inputs.values(),
            *self._enums.values(),
        ]


_NONE = object()


def _literal_default(param: Any) -> Any:
    """A parameter's default as the schema states it: a JSON value; ``_NONE`` for none."""
    default = param.default
    if param.required or default is None:  # None needs no stating: null is the default
        return _NONE
    if isinstance(default, enum.Enum):
        return default
    if isinstance(default, bool | int | float | str):
        return default
    return _NONE  # a default the schema cannot state: the argument is optional, with no default


def _first(edge: tuple[str, Any], _info: Any) -> str:
    return edge[0]


def _second(edge: tuple[str, Any], _info: Any) -> Any:
    return edge[1]


def _itself(source: Any, _info: Any) -> Any:
    return source


def _item(hint: Any) -> Any:
    args = typing.get_args(hint)
    return args[0] if args else Any


def _doc(cls: type) -> str | None:
    doc = cls.__doc__
    if not doc or doc.startswith(f"{cls.__name__}("):  # a dataclass's made-up signature
        return None
    return inspect.cleandoc(doc)


def _qualified(owner: Any) -> str:
    return f"{getattr(owner, '__module__', '?')}.{getattr(owner, '__qualname__', owner)}"


def hint_text(hint: Any) -> str:
    """A type hint as a message shows it: a class by its qualified name, else as written."""
    return getattr(hint, "__qualname__", None) or repr(hint)
