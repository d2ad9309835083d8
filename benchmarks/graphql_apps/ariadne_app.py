"""A user and their last runs over GraphQL with ariadne, written the way its documentation shows.

Schema first: the SDL below, resolvers bound to it with ``QueryType`` and ``ObjectType``, and
``make_executable_schema``. The resolvers return the shared dataclasses as they are; ariadne's
default resolver reads their attributes. Served by ``ariadne.asgi.GraphQL`` on a Starlette
route at ``/graphql`` (``Route(..., graphql_app.handle_request)``, as ariadne's Starlette
integration shows; a ``Mount`` would answer ``/graphql`` with a redirect to ``/graphql/``).

Served by ``uvicorn ariadne_app:app`` from ``benchmarks/graphql_apps`` (see
``bench_graphql.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ariadne import ObjectType, QueryType, gql, make_executable_schema
from ariadne.asgi import GraphQL
from data import Run, User, find_user, last_runs
from starlette.applications import Starlette
from starlette.routing import Route

if TYPE_CHECKING:
    from graphql import GraphQLResolveInfo

type_defs = gql(
    """
    type Query {
        user(id: Int!): User
    }

    type User {
        id: Int!
        name: String!
        email: String!
        runs(last: Int!): [Run!]!
    }

    type Run {
        id: Int!
        meters: Int!
        seconds: Int!
        day: String!
    }
    """
)

query = QueryType()
user_type = ObjectType("User")


@query.field("user")
def resolve_user(_obj: Any, _info: GraphQLResolveInfo, id: int) -> User | None:  # noqa: A002 - ariadne passes each argument by its GraphQL name
    """``Query.user``: the user with this id, or null."""
    return find_user(id)


@user_type.field("runs")
def resolve_runs(user: User, _info: GraphQLResolveInfo, last: int) -> list[Run]:
    """``User.runs``: the user's ``last`` most recent runs, newest first."""
    return last_runs(user.id, last)


schema = make_executable_schema(type_defs, query, user_type)
graphql_app = GraphQL(schema)
app = Starlette(routes=[Route("/graphql", graphql_app.handle_request, methods=["GET", "POST"])])
