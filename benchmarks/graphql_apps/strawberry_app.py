"""A user and their last runs over GraphQL with strawberry, written the way its docs show.

Code first: strawberry types whose fields are the schema (the same SDL as
``ariadne_app.py``), resolvers as methods, instances of the strawberry types built from the
shared dataclasses. Served by ``strawberry.fastapi.GraphQLRouter`` included in a FastAPI app
at ``/graphql``.

Served by ``uvicorn strawberry_app:app`` from ``benchmarks/graphql_apps`` (see
``bench_graphql.py``).
"""

from __future__ import annotations

import data
import strawberry
from fastapi import FastAPI
from strawberry.fastapi import GraphQLRouter


@strawberry.type
class Run:
    """One run: how far (meters), how long (seconds) and on which day (ISO date)."""

    id: int
    meters: int
    seconds: int
    day: str


@strawberry.type
class User:
    """A runner."""

    id: int
    name: str
    email: str

    @strawberry.field
    def runs(self, last: int) -> list[Run]:
        """The user's ``last`` most recent runs, newest first."""
        return [
            Run(id=run.id, meters=run.meters, seconds=run.seconds, day=run.day)
            for run in data.last_runs(self.id, last)
        ]


@strawberry.type
class Query:
    """The root of every query."""

    @strawberry.field
    def user(self, id: int) -> User | None:  # noqa: A002 - the argument's GraphQL name
        """The user with this id, or null."""
        found = data.find_user(id)
        if found is None:
            return None
        return User(id=found.id, name=found.name, email=found.email)


schema = strawberry.Schema(query=Query)
graphql_app = GraphQLRouter(schema)
app = FastAPI()
app.include_router(graphql_app, prefix="/graphql")
