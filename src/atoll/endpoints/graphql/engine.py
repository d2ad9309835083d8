"""The GraphQL engine port: a schema that executes documents, made by the adapter.

The HTTP endpoint (:mod:`~atoll.endpoints.graphql.http`) reads a request and hands its
document to an engine; :func:`graphql_engine` makes one with :mod:`atoll.adapters.graphql`
(graphql-core and ariadne, ``atoll[graphql]``), loaded only by a service that declares
``service.graphql()``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping, Sequence

    from atoll.endpoints.graphql.declaration import GraphQLDeclaration
    from atoll.endpoints.graphql.feed import EventFeed
    from atoll.endpoints.graphql.fields import FieldOfObject, RootField, SubscriptionField
    from atoll.endpoints.graphql.options import GraphQLOptions
    from atoll.messaging.faults import FaultMap
    from atoll.security.policies import Authorizer

__all__ = ["Executed", "GraphQLEngine", "graphql_engine"]


@dataclass(frozen=True, slots=True)
class Executed:
    """What a document gave: the response's members, and whether it was refused before running.

    Attributes:
        response: ``{"data": ..., "errors": [...]}``, as the response's JSON holds it.
        refused: the document did not parse or validate, or its variables did not fit: it
            did not run, and ``response`` has no ``data``.
        mutation: the operation was a mutation, which only POST may run.
        operation: ``query``, ``mutation`` or ``subscription``; ``""`` when the document was
            refused before its operation was known.
        fields: the names of the operation's root fields, as the schema has them (not their
            aliases), for its access line.
    """

    response: dict[str, Any] = field(default_factory=dict)
    refused: bool = False
    mutation: bool = False
    operation: str = ""
    fields: tuple[str, ...] = ()


class GraphQLEngine(Protocol):
    """A service's GraphQL schema, executing documents."""

    @property
    def sdl(self) -> str:
        """The schema, in the schema definition language."""
        ...

    @property
    def fields(self) -> Sequence[tuple[str, str, str]]:
        """Each root field: its root type, its signature, and the JSON-RPC method it runs.

        Such as ``("Query", "run(id: Int!): Run", "get_run")``.
        """
        ...

    async def execute(
        self,
        document: str,
        variables: Mapping[str, Any] | None = None,
        operation: str | None = None,
        *,
        mutations: bool = True,
    ) -> Executed:
        """Run ``document``'s operation (``operation``, or its only one) with ``variables``.

        With ``mutations=False`` (a GET request), a mutation is refused without running.
        """
        ...

    async def subscribe(
        self,
        document: str,
        variables: Mapping[str, Any] | None = None,
        operation: str | None = None,
    ) -> Executed | AsyncIterator[Executed]:
        """Subscribe with ``document``: its results as events come, or one if it cannot.

        A query or a mutation gives its one result; a subscription refused before it starts
        (it does not validate, its variables do not fit, its caller is refused) gives the
        result saying why; else the stream of results, one per event shown, the last one
        telling the error that ended it, if one did.
        """
        ...


def graphql_engine(  # noqa: PLR0917 - what a schema is made of, each part
    declaration: GraphQLDeclaration,
    fields: Sequence[RootField],
    faults: FaultMap,
    options: GraphQLOptions,
    title: str,
    objects: Sequence[FieldOfObject] = (),
    subscriptions: Sequence[SubscriptionField] = (),
    feed: EventFeed | None = None,
    *,
    authorizer: Authorizer | None = None,
) -> GraphQLEngine:
    """The engine of a service's (or system's) schema, made by :mod:`atoll.adapters.graphql`.

    ``authorizer`` judges the fields an SDL guards with ``@needsPermission``; None (a schema
    only shown, never served) judges nothing.

    Raises:
        MissingDependencyError: graphql-core or ariadne is not installed (``atoll[graphql]``).
        ConfigError: the schema cannot be made: a type GraphQL has none for, or an SDL with a
            field no handler resolves or whose types disagree with its handler's.
    """
    adapter = importlib.import_module("atoll.adapters.graphql")
    engine: GraphQLEngine = adapter.make_engine(
        declaration,
        fields,
        faults,
        options,
        title,
        objects,
        subscriptions,
        feed,
        authorizer=authorizer,
    )
    return engine
