"""The runs infrastructure: the runs table, its repository, its owners, and users by a client."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa

import atoll
from atoll.endpoints.rpc.jsonrpc import INVALID_PARAMS
from atoll.errors import RemoteError
from atoll.persistence.ports import Database
from runnerly.runs.model import Run
from runnerly.users.contracts import UNKNOWN_USER

__all__ = ["RemoteUserDirectory", "RunOwnerRecords", "RunRecords", "UtcDateTime", "schema"]


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A moment kept in UTC, read back as an aware datetime (SQLite keeps no time zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self,
        value: datetime | None,
        dialect: sa.Dialect,  # noqa: ARG002 - SQLAlchemy's signature
    ) -> datetime | None:
        """Store the moment in UTC."""
        return None if value is None else value.astimezone(UTC)

    def process_result_value(
        self,
        value: datetime | None,
        dialect: sa.Dialect,  # noqa: ARG002 - SQLAlchemy's signature
    ) -> datetime | None:
        """Read it back aware, in UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, nullable=False, index=True),
    sa.Column("meters", sa.Float, nullable=False),
    sa.Column("seconds", sa.Integer, nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("notes", sa.Text, nullable=False, server_default=""),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
)

schema = atoll.Schema(metadata, migrations=Path(__file__).with_name("migrations"))
schema.map(Run, runs, version="version")


class RunRecords(atoll.Repository[Run]):
    """The runs, in the runs service's database."""

    async def of_user(self, user_id: int) -> list[Run]:
        """A runner's runs, oldest first."""
        return sorted(await self.find(user_id=user_id), key=lambda run: run.started_at)


class RunOwnerRecords:
    """Whose each run is, read in a transaction of its own.

    What a policy reads before the handler runs, in the call's scope, where the call's unit of
    work is the handler's to open: the handler reads the run again in its own, and finds it
    gone if it was deleted in between.
    """

    def __init__(self, database: Annotated[Database, atoll.Named("runs")]) -> None:
        self._database = database

    async def owner_of(self, run_id: int) -> int | None:
        """The id of the runner of run ``run_id``; ``None`` when no run has this id."""
        async with atoll.UnitOfWork(self._database) as uow:
            run = await RunRecords(uow).get(run_id)
        return None if run is None else run.user_id


class RemoteUserDirectory:
    """Asks the users service, wherever it runs: in this process, or over HTTP when apart.

    The runs service knows the users service only by its published interface: the
    ``get_profile`` method, and the error codes of ``runnerly.users.contracts``.
    """

    def __init__(self, clients: atoll.Clients) -> None:
        self._clients = clients

    async def exists(self, user_id: int) -> bool:
        """Whether a runner with this id is registered.

        An id the users service refuses as a parameter (past the 64 bits its ids have) is
        no runner's.
        """
        users = self._clients.get("users")
        try:
            await users.methods.get_profile(user_id=user_id)
        except RemoteError as error:
            if error.code in {UNKNOWN_USER, INVALID_PARAMS}:
                return False
            raise
        return True
