"""A user and their last runs over GraphQL with atoll, written as a user of atoll writes it.

The same handlers atoll serves over REST and JSON-RPC, served over GraphQL by
``service.graphql()``: ``user`` is a ``Query`` field (named in ``queries``), and
``@service.field(User)`` resolves ``User.runs(last:)``. The schema is generated from the
shared dataclasses.

Served by ``atoll run atoll_graphql_app:service`` from ``benchmarks/graphql_apps`` (see
``bench_graphql.py``).
"""

from __future__ import annotations

from data import Run, User, find_user, last_runs

import atoll

service = atoll.Service("bench", version="1.0.0")


@service.rpc
async def user(id: int) -> User | None:  # noqa: A002 - the GraphQL argument is named id
    """The user with this id, or null."""
    return find_user(id)


@service.field(User)
async def runs(user: User, last: int) -> list[Run]:
    """The user's ``last`` most recent runs, newest first."""
    return last_runs(user.id, last)


service.graphql(queries=[user])
