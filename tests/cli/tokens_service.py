"""Services whose API tokens tests/cli/test_tokens.py issues, lists and revokes.

``tokens_service:service`` has a database (its tables made at start, on SQLite);
``tokens_service:system`` holds it and ``users``, which has a database too;
``tokens_service:no_database`` has none.
"""

from __future__ import annotations

import sqlalchemy as sa

import atoll
from atoll.persistence.unit_of_work import UnitOfWork


class RunsUnitOfWork(UnitOfWork):
    pass


class UsersUnitOfWork(UnitOfWork):
    pass


def service() -> atoll.Service:
    runs = atoll.Service("runs")
    runs.database(atoll.Schema(sa.MetaData()), RunsUnitOfWork)

    @runs.get("/me")
    async def me(identity: atoll.Identity) -> str:
        return identity.subject

    return runs


def system() -> atoll.System:
    users = atoll.Service("users")
    users.database(atoll.Schema(sa.MetaData()), UsersUnitOfWork)
    return atoll.System(service(), users, name="club")


def no_database() -> atoll.Service:
    return atoll.Service("plain")
