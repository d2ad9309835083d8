"""The runs infrastructure: the runs table and its repository, and users through a client."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

import atoll
from atoll.endpoints.rpc.jsonrpc import INVALID_PARAMS
from atoll.errors import RemoteError
from runnerly.runs.model import Run
from runnerly.users.contracts import UNKNOWN_USER

__all__ = ["RemoteUserDirectory", "RunRecords", "UtcDateTime", "schema"]


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
)

schema = atoll.Schema(metadata, migrations=Path(__file__).with_name("migrations"))
schema.map(Run, runs)


class RunRecords(atoll.Repository[Run]):
    """The runs, in the runs service's database."""

    async def of_user(self, user_id: int) -> list[Run]:
        """A runner's runs, oldest first."""
        return sorted(await self.find(user_id=user_id), key=lambda run: run.started_at)


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
