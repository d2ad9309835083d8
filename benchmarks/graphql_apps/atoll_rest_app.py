"""A user and their last runs over REST with atoll: the figure atoll's GraphQL is set beside.

One ``Service`` with one route, ``GET /users/{user_id}/summary``, answering the same fields
the GraphQL query asks for (the user, and its 10 most recent runs, newest first) as frozen
dataclasses, written as a user of atoll writes a service.

Served by ``atoll run atoll_rest_app:service`` from ``benchmarks/graphql_apps`` (see
``bench_graphql.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from data import find_user, last_runs

import atoll

SUMMARY_RUNS = 10


@dataclass(frozen=True)
class RunSummary:
    """One run as the summary shows it."""

    id: int
    meters: int
    seconds: int
    day: str


@dataclass(frozen=True)
class UserSummary:
    """A user and their most recent runs, newest first."""

    id: int
    name: str
    email: str
    runs: list[RunSummary]


class UnknownUserError(LookupError):
    """No user has this id."""

    def __init__(self, user_id: int) -> None:
        super().__init__(f"no user with id {user_id}")
        self.user_id = user_id


service = atoll.Service("bench", version="1.0.0")
service.error(UnknownUserError, status=404)


@service.get("/users/{user_id}/summary")
async def user_summary(user_id: int) -> UserSummary:
    """``GET /users/{user_id}/summary``: the user and their last 10 runs.

    Raises:
        UnknownUserError: no user has this id.
    """
    user = find_user(user_id)
    if user is None:
        raise UnknownUserError(user_id)
    runs = [
        RunSummary(run.id, run.meters, run.seconds, run.day)
        for run in last_runs(user_id, SUMMARY_RUNS)
    ]
    return UserSummary(user.id, user.name, user.email, runs)
