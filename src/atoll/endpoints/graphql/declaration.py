"""How a service says it is served over GraphQL, and how Python names become GraphQL's.

``service.graphql()`` serves a schema generated from the service's handlers; ``service.graphql(
sdl=...)`` serves the schema the SDL states, its root fields bound to handlers by name or
by ``bind``. Either is checked when the application is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from atoll.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from atoll.messaging.handlers import Handler

__all__ = ["GraphQLDeclaration", "ObjectField", "Subscription", "camel"]


@dataclass(frozen=True)
class GraphQLDeclaration:
    """What a service declared of its GraphQL schema.

    Attributes:
        sdl: the schema in the GraphQL schema definition language, or the path of a file
            holding it (read when the application is built); None to generate it from the
            handlers.
        bind: root fields of the SDL (``"Query.run"``) and the JSON-RPC method each is
            resolved by, where the names do not say it (``Query.weeklyMeters`` is bound to
            ``weekly_meters`` by its name).
        queries: the JSON-RPC methods served as ``Query`` fields though no GET route serves
            them (a generated schema makes the others ``Mutation`` fields).
        nodes: the classes whose object types are Relay nodes (``Node``, with a global
            ``id``), each with the JSON-RPC method finding one by its key.
    """

    sdl: str | Path | None = None
    bind: Mapping[str, str] = field(default_factory=dict)
    queries: frozenset[str] = frozenset()
    nodes: Mapping[type, str] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """Where the SDL comes from, for messages: its file, or ``"the SDL"``."""
        return str(self.sdl) if isinstance(self.sdl, Path) else "the SDL"

    def text(self) -> str | None:
        """The SDL, read from its file if it is one; None for a generated schema.

        Raises:
            ConfigError: the file cannot be read.
        """
        if not isinstance(self.sdl, Path):
            return self.sdl
        try:
            return self.sdl.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(
                f"cannot read the GraphQL schema {self.sdl}: {error.strerror}; check the path "
                "given to service.graphql(sdl=...)"
            ) from None


@dataclass(frozen=True)
class ObjectField:
    """A field of a GraphQL object type resolved by a handler: ``@service.field(User)``.

    Attributes:
        parent: the dataclass whose object type has the field.
        name: the field's Python name (the GraphQL name is its camel case).
        handler: the handler resolving it; its first parameter is the parent (or, batched,
            the list of parents), its other inputs the field's arguments.
        batched: one call resolves the field for every parent of a level of the document.
    """

    parent: type
    name: str
    handler: Handler
    batched: bool = False


@dataclass(frozen=True)
class Subscription:
    """A field of ``Subscription``: an event as each subscriber sees it (``service.subscription``).

    Attributes:
        event: the event type whose every occurrence is offered to the subscribers.
        name: the field's Python name (the GraphQL name is its camel case).
        handler: the handler making what a subscriber gets of each event, or ``None`` to skip
            it; its first parameter is the event, its other inputs the field's arguments.
    """

    event: type
    name: str
    handler: Handler


def camel(name: str) -> str:
    """``weekly_meters`` -> ``weeklyMeters``: a Python name as GraphQL names a field."""
    head, *rest = name.split("_")
    if not rest:
        return name
    return head + "".join(word[:1].upper() + word[1:] for word in rest if word)
