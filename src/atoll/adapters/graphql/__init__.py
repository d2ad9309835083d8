"""The GraphQL adapter: graphql-core and ariadne (``atoll[graphql]``) serving a service's schema.

:func:`make_engine` is what :func:`atoll.endpoints.graphql.engine.graphql_engine` loads: the
schema, generated or bound from SDL (:mod:`~atoll.adapters.graphql.schema`), and the engine
executing its documents (:mod:`~atoll.adapters.graphql.engine`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atoll.errors import MissingDependencyError

try:
    import ariadne  # noqa: F401 - checked here, used by the schema module
    import graphql  # noqa: F401 - as above
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("ariadne", "graphql") from error

from atoll.adapters.graphql.engine import Engine
from atoll.adapters.graphql.schema import ROOTS, bound_schema, generated_schema, sdl_of, signature

if TYPE_CHECKING:
    from collections.abc import Sequence

    from atoll.endpoints.graphql.declaration import GraphQLDeclaration
    from atoll.endpoints.graphql.feed import EventFeed
    from atoll.endpoints.graphql.fields import FieldOfObject, RootField, SubscriptionField
    from atoll.endpoints.graphql.options import GraphQLOptions
    from atoll.messaging.faults import FaultMap
    from atoll.security.policies import Authorizer

__all__ = ["Engine", "make_engine"]


def make_engine(  # noqa: PLR0917 - what a schema is made of, each part
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
) -> Engine:
    """The engine of ``fields``' schema: generated, or ``declaration.sdl`` bound and checked.

    ``authorizer`` judges the SDL's ``@needsPermission`` fields; None shows the schema only.

    Raises:
        atoll.errors.ConfigError: the schema cannot be made (see
            :mod:`atoll.adapters.graphql.schema`).
    """
    if declaration.sdl is None:
        schema = generated_schema(
            fields, title, objects, subscriptions, feed, nodes=declaration.nodes
        )
        listed = [
            (
                ROOTS[root.operation],
                signature(root.name, schema, ROOTS[root.operation]),
                root.method.name,
            )
            for root in fields
        ]
        listed.extend(
            ("Subscription", signature(field.name, schema, "Subscription"), field.handler.name)
            for field in subscriptions
        )
    else:
        schema, listed = bound_schema(
            declaration, fields, title, objects, subscriptions, feed, authorizer=authorizer
        )
    return Engine(schema, sdl_of(schema), listed, faults, options)
