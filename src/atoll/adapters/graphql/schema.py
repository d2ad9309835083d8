"""The executable schema: generated from the handlers, or an SDL bound to them and checked.

Generated, each root field is a handler's JSON-RPC method (:mod:`atoll.endpoints.graphql.fields`)
with its parameters as arguments and its result as type (:mod:`atoll.adapters.graphql.types`);
docstrings are descriptions. A root field is nullable whatever its handler returns: one that
fails (refused by a policy, say) is null with its error, and the others of the document
still answer.

Stated in SDL, the schema is made by ariadne (``make_executable_schema``), then each root
field is bound to the handler its name (``weeklyMeters``: ``weekly_meters``) or ``bind``
says, and checked against it, so that a mistake is found when the application is built
rather than by a caller:

- a root field no handler resolves;
- an argument the handler does not take, or a parameter it needs that no argument gives;
- an argument, or a field of the result (through its object types, field by field), whose
  GraphQL type disagrees with the Python type: another scalar, a list for no list, a
  non-null field the handler may leave ``None``;
- a field of an interface or a union type whose handler answers a class that names none of
  its object types: each class it may answer (``Run | Walk``) is the object type of its name
  (``type Run implements Entry``), checked as such, and a value answered there is shown as
  the object type of its class.

Each error names the SDL's field and the handler.
"""

from __future__ import annotations

import enum
import types
import typing
from typing import TYPE_CHECKING, Any

from ariadne import make_executable_schema
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    print_schema,
)

from atoll.adapters.graphql.batches import batch_of
from atoll.adapters.graphql.nodes import NODE, Nodes
from atoll.adapters.graphql.permissions import guard_fields, with_directive
from atoll.adapters.graphql.types import (
    SCALARS,
    Types,
    attribute,
    fields_of,
    hint_text,
    unwrapped,
)
from atoll.endpoints.api import snake
from atoll.endpoints.graphql.declaration import camel
from atoll.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Mapping, Sequence

    from graphql import GraphQLInputType, GraphQLOutputType

    from atoll.endpoints.graphql.declaration import GraphQLDeclaration
    from atoll.endpoints.graphql.feed import EventFeed
    from atoll.endpoints.graphql.fields import FieldOfObject, RootField, SubscriptionField
    from atoll.endpoints.rpc.methods import RpcMethod
    from atoll.security.policies import Authorizer

__all__ = [
    "ROOTS",
    "bound_schema",
    "field_resolver",
    "generated_schema",
    "resolver",
    "sdl_of",
    "signature",
]

_SCALAR_RULES = (
    "serialize",
    "parse_value",
    "parse_literal",
    "coerce_output_value",
    "coerce_input_value",
    "coerce_input_literal",
    "value_to_literal",
)
"""What a scalar type does with values, as graphql-core names it in its versions."""

ROOTS = {"query": "Query", "mutation": "Mutation"}
"""The root type of each operation."""


def resolver(method: RpcMethod) -> Callable[..., Any]:
    """The resolver of a root field: admits the call, then calls the handler through the bus.

    A handler returning ``None`` answers ``true``: a field has a value in GraphQL.
    """
    admit, call = method.admit, method.call
    returns_nothing = method.result is None or method.result is type(None)

    async def resolve(_root: Any, _info: Any, **arguments: Any) -> Any:
        if admit is not None:
            await admit()
        result = await call(arguments)
        return True if returns_nothing else result

    return resolve


def field_resolver(field: FieldOfObject) -> Callable[..., Any]:
    """The resolver of a field of an object type: its handler, for one parent or a batch."""
    method = field.method
    admit, call, parent = method.admit, method.call, field.parent_parameter
    returns_nothing = method.result is None or method.result is type(None)

    if field.batched:

        async def resolve_batched(source: Any, info: Any, **arguments: Any) -> Any:
            value = await batch_of(info.context, field, arguments).load(source)
            return True if returns_nothing else value

        return resolve_batched

    async def resolve(source: Any, _info: Any, **arguments: Any) -> Any:
        if admit is not None:
            await admit()
        value = await call({parent: source, **arguments})
        return True if returns_nothing else value

    return resolve


def _extras(
    objects: Sequence[FieldOfObject],
) -> dict[type, list[tuple[FieldOfObject, Callable[..., Any]]]]:
    """The resolved fields of each dataclass, with their resolvers.

    Raises:
        ConfigError: a resolved field has the name of a field of its dataclass.
    """
    extras: dict[type, list[tuple[FieldOfObject, Callable[..., Any]]]] = {}
    for field in objects:
        own = {camel(name) for name, _ in fields_of(field.parent)}
        if field.name in own:
            raise ConfigError(
                f"{field.parent.__name__}.{field.name} ({field.handler.label}) is a field "
                f"{field.parent.__name__} has already; name the resolved one otherwise "
                "(service.field(..., name=...))"
            )
        extras.setdefault(field.parent, []).append((field, field_resolver(field)))
    return extras


def subscriber(
    field: SubscriptionField, feed: EventFeed | None
) -> Callable[..., AsyncIterator[Any]]:
    """The source of a subscription field: each event, shown by its handler, from now on.

    The caller is admitted once, when it subscribes; then each event of the field's type
    published is passed to the handler, in the subscriber's call context (its identity, its
    policy judged), and what it returns is sent, unless ``None``.
    """
    method = field.method
    admit, call, parameter = method.admit, method.call, field.event_parameter

    async def subscribe(_root: Any, _info: Any, **arguments: Any) -> AsyncIterator[Any]:
        if feed is None:  # a schema made to be read (atoll graphql schema), not served
            raise ConfigError(f"{field.handler.label} is served by a running application only")
        if admit is not None:
            await admit()
        async with feed.events(field.event) as events:
            while True:
                event = await events.get()
                shown = await call({parameter: event, **arguments})
                if shown is not None:
                    yield shown

    return subscribe


def _payload(payload: Any, _info: Any, **_arguments: Any) -> Any:
    return payload


def generated_schema(
    fields: Sequence[RootField],
    title: str,
    objects: Sequence[FieldOfObject] = (),
    subscriptions: Sequence[SubscriptionField] = (),
    feed: EventFeed | None = None,
    *,
    nodes: Mapping[type, str] | None = None,
) -> GraphQLSchema:
    """The schema of ``fields``, its types made from their Python types.

    ``nodes``: the node types and the JSON-RPC method finding each by its key
    (:mod:`~atoll.adapters.graphql.nodes`).

    Raises:
        ConfigError: a parameter or result has a type GraphQL has none for, two types would
            share a name, a field of ``objects`` is of a type no root field reaches, or a
            node's method cannot find it.
    """
    found = Nodes(nodes, fields, title, resolver) if nodes else None
    types = Types(f"the GraphQL schema of {title}", _extras(objects), found)
    roots: dict[str, dict[str, GraphQLField]] = {"query": {}, "mutation": {}}
    for root in fields:
        method = root.method
        where = f"{ROOTS[root.operation]}.{root.name} ({root.handler.label})"
        returns_nothing = method.result is None or method.result is type(None)
        output = (
            SCALARS[bool]
            if returns_nothing
            else types.output(method.result, f"{where}, its result")
        )
        if isinstance(output, GraphQLNonNull):  # a root field that fails is null, alone
            output = output.of_type
        roots[root.operation][root.name] = GraphQLField(
            output,
            args=types.arguments(method.params, where),
            resolve=resolver(method),
            description=_description(method),
        )
    if found is not None:
        _add_node_field(roots["query"], found, types, title)
    streams: dict[str, GraphQLField] = {}
    for field in subscriptions:
        where = f"Subscription.{field.name} ({field.handler.label})"
        output = types.output(field.method.result, f"{where}, its result")
        streams[field.name] = GraphQLField(
            output.of_type if isinstance(output, GraphQLNonNull) else output,
            args=types.arguments(field.method.params, where),
            subscribe=subscriber(field, feed),
            resolve=_payload,
            description=_description(field.method),
        )
    if not roots["query"]:
        # GraphQL requires a Query type: a service of commands alone has one that says so.
        roots["query"]["_service"] = GraphQLField(
            SCALARS[str],
            resolve=lambda *_: title,
            description=f"The service's name: {title} has no query of its own.",
        )
    schema = GraphQLSchema(
        query=GraphQLObjectType("Query", roots["query"]),
        mutation=GraphQLObjectType("Mutation", roots["mutation"]) if roots["mutation"] else None,
        subscription=GraphQLObjectType("Subscription", streams) if streams else None,
        types=types.named(),
    )
    _check_reached(schema, objects, title)
    return schema


def _add_node_field(query: dict[str, GraphQLField], nodes: Nodes, types: Types, title: str) -> None:
    """Add ``node(id:)`` to ``query``, and claim the name ``Node``.

    Raises:
        ConfigError: a handler is the field ``node`` already, or a class is named ``Node``.
    """
    if "node" in query:
        raise ConfigError(
            f"the GraphQL schema of {title} has nodes, and a query field node already; "
            "name its JSON-RPC method otherwise (name=...): node(id:) finds the nodes"
        )
    types.claim(NODE, Nodes)
    query["node"] = nodes.root_field()


def _check_reached(schema: GraphQLSchema, objects: Sequence[FieldOfObject], title: str) -> None:
    """Refuse a resolved field of a type the schema does not have: it would never run."""
    for field in objects:
        kind = schema.get_type(field.parent.__name__)
        if not isinstance(kind, GraphQLObjectType) or field.name not in kind.fields:
            raise ConfigError(
                f"{field.handler.label} resolves the field {field.name} of "
                f"{field.parent.__name__}, which no field of the GraphQL schema of {title} "
                "answers; return it from a query, or drop the resolver"
            )


def bound_schema(  # noqa: PLR0917 - what a schema is bound to, each part
    declaration: GraphQLDeclaration,
    fields: Sequence[RootField],
    title: str,
    objects: Sequence[FieldOfObject] = (),
    subscriptions: Sequence[SubscriptionField] = (),
    feed: EventFeed | None = None,
    *,
    authorizer: Authorizer | None = None,
) -> tuple[GraphQLSchema, list[tuple[str, str, str]]]:
    """The schema ``declaration.sdl`` states, its root fields bound to ``fields`` and checked.

    The fields of its ``Subscription`` type are bound to ``subscriptions`` (by name, or by
    ``bind``), each event from ``feed``. Its fields carrying ``@needsPermission`` are judged
    by ``authorizer`` (:mod:`~atoll.adapters.graphql.permissions`).

    Returns:
        The schema, and each root field: its root type, its signature, and the JSON-RPC
        method it runs.

    Raises:
        ConfigError: the SDL is not valid, or does not fit the handlers (see the module).
    """
    sdl = declaration.text()
    assert sdl is not None  # noqa: S101 - called for an SDL only
    source = declaration.source
    try:
        schema = make_executable_schema(with_directive(sdl))
    except Exception as error:  # noqa: BLE001 - graphql-core's errors are of several kinds
        raise ConfigError(f"{source} of {title} is not a valid GraphQL schema: {error}") from None
    by_method = {root.method.name: root for root in fields}
    by_field = {root.name: root for root in fields}
    checker = _Checker(source, title, objects, schema)
    listed: list[tuple[str, str, str]] = []
    for operation, type_name in ROOTS.items():
        root_type = getattr(schema, f"{operation}_type")
        if root_type is None:
            continue
        for name, field in root_type.fields.items():
            place = f"{type_name}.{name}"
            method_name = declaration.bind.get(place)
            root = by_method.get(method_name) if method_name else by_field.get(name)
            if root is None:
                raise ConfigError(_unbound(place, source, title, method_name, fields))
            checker.root(place, field, root)
            field.resolve = resolver(root.method)
            listed.append((type_name, signature(name, schema, type_name), root.method.name))
    listed.extend(_bind_subscriptions(schema, declaration, subscriptions, feed, checker))
    for place in set(declaration.bind) - checker.bound:
        raise ConfigError(
            f"bind names {place}, which {source} of {title} has no root field of; bind "
            "Query.<field>, Mutation.<field> or Subscription.<field>"
        )
    for parent, name in set(checker.resolved) - checker.resolved_bound:
        handler = checker.resolved[parent, name].handler
        raise ConfigError(
            f"{handler.label} resolves the field {name} of {parent.__name__}, which {source} "
            f"of {title} has no object type with; add the field to its type, or drop the resolver"
        )
    guard_fields(schema, source, title, authorizer)
    return schema, listed


def _bind_subscriptions(
    schema: GraphQLSchema,
    declaration: GraphQLDeclaration,
    subscriptions: Sequence[SubscriptionField],
    feed: EventFeed | None,
    checker: _Checker,
) -> list[tuple[str, str, str]]:
    """Bind each field of the SDL's ``Subscription`` to its handler, checked; each is listed.

    Raises:
        ConfigError: a field has no handler, or a handler no field.
    """
    source, title = declaration.source, checker.title
    by_handler = {field.declared: field for field in subscriptions}
    by_field = {field.name: field for field in subscriptions}
    stream_type = schema.subscription_type
    listed: list[tuple[str, str, str]] = []
    taken: set[str] = set()
    for name, field in (stream_type.fields if stream_type is not None else {}).items():
        place = f"Subscription.{name}"
        bound = declaration.bind.get(place)
        found = by_handler.get(bound) if bound else by_field.get(name)
        if found is None:
            known = ", ".join(sorted(by_handler)) or "none"
            raise ConfigError(
                f"{place} of {source} has no handler: {title} has no @service.subscription "
                f"{bound or snake(name)!r}; name one so, or bind it: "
                f"bind={{{place!r}: 'handler'}} (its subscriptions: {known})"
            )
        checker.root(place, field, found)
        field.subscribe = subscriber(found, feed)
        field.resolve = _payload
        taken.add(found.declared)
        listed.append(("Subscription", signature(name, schema, "Subscription"), found.handler.name))
    for left in sorted(set(by_handler) - taken):
        raise ConfigError(
            f"{by_handler[left].handler.label} offers events through GraphQL, and {source} of "
            f"{title} has no Subscription field for it; add one, such as "
            f"{by_handler[left].name}: {by_handler[left].event.__name__}, or bind it"
        )
    return listed


def signature(name: str, schema: GraphQLSchema, root: str) -> str:
    """The root field ``name`` of the type ``root``, as SDL states it: ``run(id: Int!): Run``."""
    root_type = schema.get_type(root)
    assert isinstance(root_type, GraphQLObjectType)  # noqa: S101 - a root type is an object
    field = root_type.fields[name]
    arguments = ", ".join(f"{argument}: {value.type}" for argument, value in field.args.items())
    return f"{name}({arguments}): {field.type}" if arguments else f"{name}: {field.type}"


def sdl_of(schema: GraphQLSchema) -> str:
    """The schema in the schema definition language."""
    return print_schema(schema)


def _description(method: RpcMethod) -> str | None:
    text = "\n\n".join(part for part in (method.summary, method.description) if part)
    if method.policy:
        text = f"{text}\n\nWho may: {method.policy}." if text else f"Who may: {method.policy}."
    return text or None


def _unbound(
    place: str, source: str, title: str, method: str | None, fields: Sequence[RootField]
) -> str:
    known = ", ".join(sorted(root.method.name for root in fields)[:6]) or "none"
    if method:
        return (
            f"bind gives {place} of {source} the handler {method!r}, which {title} has no "
            f"JSON-RPC method of; its methods: {known}"
        )
    return (
        f"{place} of {source} has no handler: {title} has no JSON-RPC method "
        f"{snake(place.partition('.')[2])!r}; name one so, or bind it: "
        f"bind={{{place!r}: 'method'}} (its methods: {known})"
    )


class _Checker:
    """Checks an SDL's fields against the handlers bound to them; sets the Python names."""

    def __init__(
        self, source: str, title: str, objects: Sequence[FieldOfObject], schema: GraphQLSchema
    ) -> None:
        self.source = source
        self.title = title
        self.schema = schema
        self.bound: set[str] = set()
        self.resolved = {(field.parent, field.name): field for field in objects}
        """The fields of object types handlers resolve, by their dataclass and GraphQL name."""
        self.resolved_bound: set[tuple[type, str]] = set()
        self._objects: dict[str, type] = {}
        self._types: dict[type, str] = {}
        """The object type of each class checked, by name: what a value of it is shown as."""
        self._inputs: dict[str, type] = {}
        self._checked: set[str] = set()

    def root(self, place: str, field: GraphQLField, root: RootField | SubscriptionField) -> None:
        """Check a root field against its handler; a subscription's is checked alike.

        A subscription's method's result is without ``None`` already (which skips the
        event), so a non-null field fits a handler that may answer it.
        """
        self.bound.add(place)
        self._call(place, field, root.method, root.handler.label)

    def _call(self, place: str, field: GraphQLField, method: RpcMethod, label: str) -> None:
        """Check ``field``'s arguments and type against the handler's; name its arguments."""
        params = {param.name: param for param in method.params}
        for name, argument in field.args.items():
            param = params.pop(snake(name), None) or params.pop(name, None)
            if param is None:
                raise ConfigError(
                    f"{place}({name}:) of {self.source} is an argument {label} does not take; "
                    f"its parameters: {', '.join(p.name for p in method.params) or 'none'}"
                )
            argument.out_name = param.name
            self._input(f"{place}({name}:)", argument.type, param.hint, label)
        missing = [param.name for param in params.values() if param.required]
        if missing:
            raise ConfigError(
                f"{place} of {self.source} gives no argument for the parameters "
                f"{', '.join(missing)} {label} needs; add them to the field: "
                f"{', '.join(camel(name) + ': ...' for name in missing)}"
            )
        returns_nothing = method.result is None or method.result is type(None)
        if returns_nothing:
            if _named(field.type) is not SCALARS[bool]:
                raise self._disagree(place, field.type, "None (answered as true)", label)
            return
        self._output(place, field.type, method.result, label)

    def _output(self, place: str, kind: GraphQLOutputType, hint: Any, label: str) -> None:
        inner, optional = unwrapped(hint)
        if isinstance(kind, GraphQLNonNull):
            if optional:
                raise self._disagree(place, kind, hint, label, "may be None")
            kind = kind.of_type
        origin = typing.get_origin(inner) or inner
        if isinstance(kind, GraphQLList):
            if origin not in {list, tuple, set, frozenset}:
                raise self._disagree(place, kind, hint, label)
            args = typing.get_args(inner)
            self._output(f"{place}[]", kind.of_type, args[0] if args else Any, label)
            return
        if isinstance(kind, GraphQLObjectType):
            self._object(place, kind, inner, label)
            return
        if isinstance(kind, GraphQLInterfaceType | GraphQLUnionType):
            self._abstract(place, kind, inner, hint, label)
            return
        self._leaf(place, kind, inner, hint, label)

    def _abstract(
        self,
        place: str,
        kind: GraphQLInterfaceType | GraphQLUnionType,
        inner: Any,
        hint: Any,
        label: str,
    ) -> None:
        """Each class ``inner`` names (``Run | Walk``) is the object type of its name."""
        union = typing.get_origin(inner) in {typing.Union, types.UnionType}
        classes = typing.get_args(inner) if union else (inner,)
        possible = {each.name: each for each in self.schema.get_possible_types(kind)}
        for cls in classes:
            found = possible.get(getattr(cls, "__name__", ""))
            if found is None:
                raise self._disagree(
                    place,
                    kind,
                    hint,
                    label,
                    f"{hint_text(cls)} names none of its object types, "
                    f"{', '.join(sorted(possible))}: name each class it answers as its type",
                )
            self._object(place, found, cls, label)
        kind.resolve_type = self._type_of

    def _type_of(self, value: Any, _info: Any, _abstract: Any) -> str | None:
        """The object type a value answered for an interface or a union is shown as."""
        for cls in type(value).__mro__:
            name = self._types.get(cls)
            if name is not None:
                return name
        return None  # graphql-core says the value resolved to no object type

    def _object(self, place: str, kind: GraphQLObjectType, cls: Any, label: str) -> None:
        if not isinstance(cls, type) or not hasattr(cls, "__annotations__"):
            raise self._disagree(place, kind, cls, label)
        seen = self._objects.setdefault(kind.name, cls)
        self._types.setdefault(cls, kind.name)
        if seen is not cls:
            raise ConfigError(
                f"{kind.name} of {self.source} is {seen.__qualname__} for one field and "
                f"{cls.__qualname__} for {place} ({label}); a type is one Python type"
            )
        if kind.name in self._checked:  # once each: a type may hold itself
            return
        self._checked.add(kind.name)
        hints = dict(fields_of(cls))
        for name, field in kind.fields.items():
            resolved = self.resolved.get((cls, name))
            if resolved is not None:  # a handler's: @service.field(cls)
                self.resolved_bound.add((cls, name))
                self._call(f"{kind.name}.{name}", field, resolved.method, resolved.handler.label)
                field.resolve = field_resolver(resolved)
                continue
            python = snake(name) if snake(name) in hints else name
            if python not in hints:
                raise ConfigError(
                    f"{kind.name}.{name} of {self.source} has no field {python!r} in "
                    f"{cls.__qualname__}, which {label} answers ({place}), and no handler "
                    f"resolves it (@service.field({cls.__qualname__})); its fields: "
                    f"{', '.join(hints) or 'none'}"
                )
            field.resolve = attribute(python)
            self._output(f"{kind.name}.{name}", field.type, hints[python], label)

    def _input(self, place: str, kind: GraphQLInputType, hint: Any, label: str) -> None:
        inner, optional = unwrapped(hint)
        if isinstance(kind, GraphQLNonNull):
            kind = kind.of_type
        elif not optional:
            pass  # an argument the caller may leave out: the handler's default applies
        origin = typing.get_origin(inner) or inner
        if isinstance(kind, GraphQLList):
            if origin not in {list, tuple, set, frozenset}:
                raise self._disagree(place, kind, hint, label)
            args = typing.get_args(inner)
            self._input(f"{place}[]", kind.of_type, args[0] if args else Any, label)
            return
        if isinstance(kind, GraphQLInputObjectType):
            if not isinstance(inner, type) or not hasattr(inner, "__annotations__"):
                raise self._disagree(place, kind, hint, label)
            seen = self._inputs.setdefault(kind.name, inner)
            if seen is not inner:
                raise self._disagree(place, kind, hint, label)
            hints = dict(fields_of(inner))
            for name, field in kind.fields.items():
                python = snake(name) if snake(name) in hints else name
                if python not in hints:
                    raise ConfigError(
                        f"{kind.name}.{name} of {self.source} has no field {python!r} in "
                        f"{inner.__qualname__}, which {label} takes ({place})"
                    )
                field.out_name = python
                self._input(f"{kind.name}.{name}", field.type, hints[python], label)
            kind.out_type = lambda values, made=inner: made(**values)  # type: ignore[method-assign,misc]
            return
        self._leaf(place, kind, inner, hint, label)

    def _leaf(self, place: str, kind: Any, inner: Any, hint: Any, label: str) -> None:
        if isinstance(kind, GraphQLEnumType):
            self._enum(place, kind, inner, hint, label)
            return
        if not isinstance(kind, GraphQLScalarType):  # pragma: no cover - no other kind
            raise self._disagree(place, kind, hint, label)
        expected = SCALARS.get(inner)
        if expected is None or expected.name != kind.name:
            if (kind.name == "ID" and inner in {str, int}) or (
                kind.name == "Float" and inner is int
            ):
                return
            raise self._disagree(place, kind, hint, label)
        if kind is not expected:  # the SDL's own scalar of a name atoll knows: atoll's rules
            for rule in _SCALAR_RULES:
                if hasattr(expected, rule):
                    setattr(kind, rule, getattr(expected, rule))

    def _enum(self, place: str, kind: GraphQLEnumType, inner: Any, hint: Any, label: str) -> None:
        if not (isinstance(inner, type) and issubclass(inner, enum.Enum)):
            raise self._disagree(place, kind, hint, label)
        names = {member.name for member in inner}
        if set(kind.values) != names:
            raise ConfigError(
                f"the enum {kind.name} of {self.source} has the values "
                f"{', '.join(sorted(kind.values))}, and {inner.__qualname__} ({label}, "
                f"{place}) the members {', '.join(sorted(names))}; make them the same"
            )
        for name, value in kind.values.items():
            value.value = inner[name]

    def _disagree(self, place: str, kind: Any, hint: Any, label: str, why: str = "") -> ConfigError:
        because = f" ({why})" if why else ""
        return ConfigError(
            f"{place} of {self.source} is {kind}, and {label} has it as "
            f"{hint_text(hint)}{because}: make them agree"
        )


def _named(kind: Any) -> Any:
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    return kind
