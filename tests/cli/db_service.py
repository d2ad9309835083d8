"""Services with a database, for tests/cli/test_db.py, which runs ``atoll db`` on them.

Targets: ``db_service:service`` (a service run alone), ``db_service:system`` (runs and users,
both with a database), ``db_service:one_database`` (a system where only runs has one),
``db_service:no_database``, ``db_service:not_a_service``.

They are factories, so that the schema is built when a command loads it, from the
environment the test sets (never at import): ``DB_SERVICE_MIGRATIONS`` is the directory of the
migrations (the users service's are in its ``users`` subdirectory), and
``DB_SERVICE_DISTANCE=1`` adds a ``distance`` column to the runs table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

import atoll
from atoll.persistence.schema import Schema
from atoll.persistence.unit_of_work import UnitOfWork

not_a_service = 42


@dataclass
class Run:
    id: int | None
    meters: int
    distance: float | None = None


@dataclass
class User:
    id: int | None
    name: str


class RunsUnitOfWork(UnitOfWork):
    pass


class UsersUnitOfWork(UnitOfWork):
    pass


def migrations() -> Path:
    return Path(os.environ["DB_SERVICE_MIGRATIONS"])


def runs_schema() -> Schema:
    metadata = sa.MetaData()
    columns = [
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("meters", sa.Integer, nullable=False),
    ]
    if os.environ.get("DB_SERVICE_DISTANCE") == "1":
        columns.append(sa.Column("distance", sa.Float, nullable=True))
    table = sa.Table("runs", metadata, *columns)
    schema = Schema(metadata, migrations=migrations())
    schema.map(Run, table)
    return schema


def users_schema() -> Schema:
    metadata = sa.MetaData()
    table = sa.Table(
        "users",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
    )
    schema = Schema(metadata, migrations=migrations() / "users")
    schema.map(User, table)
    return schema


def runs_service() -> atoll.Service:
    runs = atoll.Service("runs")
    runs.database(runs_schema(), RunsUnitOfWork)
    return runs


def service() -> atoll.Service:
    return runs_service()


def system() -> atoll.System:
    users = atoll.Service("users")
    users.database(users_schema(), UsersUnitOfWork)
    return atoll.System(runs_service(), users, atoll.Service("web"), name="runnerly")


def one_database() -> atoll.System:
    return atoll.System(runs_service(), atoll.Service("web"), name="runnerly")


def no_database() -> atoll.Service:
    return atoll.Service("web")
