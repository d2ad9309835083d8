"""``@needsPermission``: who may read a field of an SDL, said in the SDL, as kingdom writes it.

::

    directive @needsPermission(permissions: [String!]!) on FIELD_DEFINITION

    type Query {
      runs: [Run!] @needsPermission(permissions: ["runs:read"])
    }

A field carrying the directive is judged by the service's authorizer as a handler's
``policy=atoll.allow("runs:read")`` is: the caller's token must grant every scope listed. A
caller it refuses gets ``null`` for the field and a ``FORBIDDEN`` error (``UNAUTHENTICATED``
with no identity), told as any other error, and the rest of the document answers. A field
whose handler has a policy of its own is judged by both, the directive first.

The SDL may declare the directive or not: it is added when missing. Since neither printed SDL
nor introspection shows a directive applied to a field, the field's description says who may
read it, as a generated schema's does (``Who may: scopes runs:read.``). It is read once, when the
schema is made; a directive naming no permission, or a name that is not one, stops the start.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from graphql import (
    DirectiveDefinitionNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    default_field_resolver,
    get_directive_values,
    parse,
)

from atoll.errors import ConfigError
from atoll.security.policies import allow

if TYPE_CHECKING:
    from collections.abc import Callable

    from graphql import FieldDefinitionNode, GraphQLSchema

    from atoll.security.policies import Allow, Authorizer

__all__ = ["DIRECTIVE", "DIRECTIVE_DEFINITION", "guard_fields", "with_directive"]

DIRECTIVE = "needsPermission"
"""The directive's name, as kingdom's SDL writes it."""

DIRECTIVE_DEFINITION = "directive @needsPermission(permissions: [String!]!) on FIELD_DEFINITION"
"""The directive's definition, added to an SDL that uses it without declaring it."""


def with_directive(sdl: str) -> list[str]:
    """``sdl``, and the directive's definition if it does not declare it: ariadne's type defs."""
    try:
        document = parse(sdl)
    except GraphQLError:  # told as the SDL's own mistake when ariadne parses it
        return [sdl]
    declared = any(
        isinstance(definition, DirectiveDefinitionNode) and definition.name.value == DIRECTIVE
        for definition in document.definitions
    )
    return [sdl] if declared else [sdl, DIRECTIVE_DEFINITION]


def guard_fields(
    schema: GraphQLSchema, source: str, title: str, authorizer: Authorizer | None
) -> list[str]:
    """Guard each field of ``schema`` carrying ``@needsPermission`` by its policy.

    Call it once the fields are bound: it wraps the resolver each has. Without
    ``authorizer`` (the schema is only shown), the directives are checked and nothing wrapped.

    Returns:
        Each guarded field, ``Type.field``.

    Raises:
        ConfigError: the SDL declares the directive otherwise, or a field's directive names
            no permission, or something that is not one.
    """
    directive = schema.get_directive(DIRECTIVE)
    if directive is None:  # pragma: no cover - with_directive added it
        return []
    _check_definition(directive.args, source, title)
    guarded: list[str] = []
    for kind in schema.type_map.values():
        if not isinstance(kind, GraphQLObjectType | GraphQLInterfaceType):
            continue
        if kind.name.startswith("__"):
            continue
        for name, field in kind.fields.items():
            # A field an interface guards is guarded on each object implementing it: GraphQL
            # resolves an interface's field on the object, whose own field lacks the directive.
            declared = [(kind, field), *_implemented(kind, name)]
            policies = [
                _policy(f"{owner.name}.{name}", directive, node, source, title)
                for owner, each in declared
                if (node := each.ast_node) is not None and _carries_directive(node)
            ]
            if not policies:
                continue
            place = f"{kind.name}.{name}"
            # Printed SDL and introspection drop applied directives: say it as a generated
            # schema says a handler's policy, in the description.
            said = " ".join(f"Who may: {policy.describe()}." for policy in policies)
            field.description = f"{field.description}\n\n{said}" if field.description else said
            if isinstance(kind, GraphQLInterfaceType):
                continue  # no resolver of its own: its objects' fields are guarded
            guarded.append(place)
            if authorizer is not None:
                resolve = field.resolve or default_field_resolver
                for policy in reversed(policies):  # the object's own first, then its interfaces'
                    resolve = _guarded(resolve, place, policy, authorizer)
                field.resolve = resolve
    return guarded


def _implemented(
    kind: GraphQLObjectType | GraphQLInterfaceType, name: str
) -> list[tuple[GraphQLInterfaceType, Any]]:
    """The field ``name`` of each interface ``kind`` implements (every one, as SDL lists them)."""
    return [(each, each.fields[name]) for each in kind.interfaces if name in each.fields]


def _carries_directive(node: FieldDefinitionNode) -> bool:
    return any(applied.name.value == DIRECTIVE for applied in node.directives or ())


def _check_definition(args: dict[str, Any], source: str, title: str) -> None:
    """Refuse a definition of the directive that is not ``(permissions: [String!]!)``."""
    argument = args.get("permissions")
    kind = argument.type if argument is not None else None
    if isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    item = kind.of_type if isinstance(kind, GraphQLList) else None
    if isinstance(item, GraphQLNonNull):
        item = item.of_type
    if argument is None or len(args) != 1 or getattr(item, "name", None) != "String":
        raise ConfigError(
            f"{source} of {title} declares @{DIRECTIVE} otherwise than atoll reads it; "
            f"declare it as `{DIRECTIVE_DEFINITION}`, or leave it out and atoll adds it"
        )


def _policy(
    place: str, directive: Any, node: FieldDefinitionNode, source: str, title: str
) -> Allow:
    """The policy the field's directive states: its permissions, each a scope the caller needs.

    Raises:
        ConfigError: the directive names no permission, or a value that is not a name.
    """
    fix = f'write @{DIRECTIVE}(permissions: ["runs:read"]), each permission a scope'
    try:
        values = get_directive_values(directive, node) or {}
    except GraphQLError as error:
        raise ConfigError(
            f"@{DIRECTIVE} of {place} in {source} of {title} is not valid: {error.message}; {fix}"
        ) from None
    permissions = values.get("permissions") or []
    if not permissions:
        raise ConfigError(
            f"@{DIRECTIVE} of {place} in {source} of {title} names no permission, which would "
            f"let any caller with a token read it; {fix}"
        )
    try:
        return allow(*permissions)
    except ConfigError as error:
        raise ConfigError(
            f"@{DIRECTIVE} of {place} in {source} of {title}: {error}; {fix}"
        ) from None


def _guarded(
    resolve: Callable[..., Any], place: str, policy: Allow, authorizer: Authorizer
) -> Callable[..., Any]:
    """``resolve``, run once ``authorizer`` has judged the caller by ``policy``."""
    judge = authorizer.authorize_read

    async def resolve_guarded(source: Any, info: Any, **arguments: Any) -> Any:
        await judge(place, policy)
        value = resolve(source, info, **arguments)
        return await value if inspect.isawaitable(value) else value

    return resolve_guarded
