"""API tokens in a service's own database: the ``atoll_api_tokens`` table and its store.

The table sits in the service's metadata beside ``atoll_outbox`` and ``atoll_inbox``, added
by the same hands (:class:`~atoll.adapters.sqlalchemy.database.SqlDatabase` and the
migrations), so that ``--db-migrate`` and ``atoll db upgrade`` (after ``atoll db revision``)
make it. It holds each token's SHA-256, never the token.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa

from atoll.security.api_tokens import ApiTokenRecord

if TYPE_CHECKING:
    from collections.abc import Sequence
    from contextlib import AbstractContextManager

    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["API_TOKENS", "SqlApiTokenStore", "TokenDatabase", "add_api_token_table"]

API_TOKENS = "atoll_api_tokens"


class TokenDatabase(Protocol):
    """What the store needs of :class:`~atoll.adapters.sqlalchemy.database.SqlDatabase`."""

    metadata: sa.MetaData

    @property
    def engine(self) -> AsyncEngine:
        """The started database's engine."""
        ...

    def translated(self, doing: str) -> AbstractContextManager[None]:
        """Raise what the block raises as atoll's error for ``doing``."""
        ...

    def describe(self) -> str:
        """Where the database is, without its password."""
        ...


def add_api_token_table(metadata: sa.MetaData) -> sa.Table:
    """The ``atoll_api_tokens`` table in ``metadata``: added to it if it does not hold it yet."""
    table = metadata.tables.get(API_TOKENS)
    if table is None:
        table = sa.Table(
            API_TOKENS,
            metadata,
            sa.Column("id", sa.String(32), primary_key=True),
            sa.Column("digest", sa.String(64), nullable=False, unique=True),
            sa.Column("subject", sa.String(300), nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("scopes", sa.JSON, nullable=False),
            sa.Column("label", sa.String(300), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        )
    return table


class SqlApiTokenStore:
    """A service's API tokens in its SQL database; each call is a short transaction of its own.

    Args:
        database: the service's database; its table is used once it has started.
    """

    def __init__(self, database: TokenDatabase) -> None:
        self.database = database
        self.table = add_api_token_table(database.metadata)

    async def create(self, record: ApiTokenRecord) -> None:
        """Keep ``record``.

        Raises:
            AlreadyExistsError: a record has its id or its digest already.
            DatabaseUnavailableError: the database cannot be reached.
        """
        values = {
            "id": record.id,
            "digest": record.digest,
            "subject": record.subject,
            "kind": record.kind,
            "scopes": list(record.scopes),
            "label": record.label,
            "created_at": record.created,
            "expires_at": record.expires,
            "revoked_at": record.revoked,
        }
        with self.database.translated("keep an API token"):
            async with self.database.engine.begin() as connection:
                await connection.execute(sa.insert(self.table).values(values))

    async def find(self, digest: str) -> ApiTokenRecord | None:
        """The record of ``digest``, or ``None``.

        Raises:
            DatabaseUnavailableError: the database cannot be reached.
        """
        with self.database.translated("find an API token"):
            async with self.database.engine.connect() as connection:
                found = await connection.execute(
                    sa.select(self.table).where(self.table.c.digest == digest)
                )
                row = found.first()
        return None if row is None else _record(row)

    async def list(self) -> Sequence[ApiTokenRecord]:
        """Every record, oldest first.

        Raises:
            DatabaseUnavailableError: the database cannot be reached.
        """
        c = self.table.c
        with self.database.translated("list API tokens"):
            async with self.database.engine.connect() as connection:
                rows = await connection.execute(sa.select(self.table).order_by(c.created_at, c.id))
                return [_record(row) for row in rows]

    async def revoke(self, token_id: str, at: dt.datetime) -> ApiTokenRecord | None:
        """Revoke ``token_id`` as of ``at`` (unless it is already); its record, or ``None``.

        Raises:
            DatabaseUnavailableError: the database cannot be reached.
        """
        c = self.table.c
        with self.database.translated("revoke an API token"):
            async with self.database.engine.begin() as connection:
                await connection.execute(
                    sa.update(self.table)
                    .where(c.id == token_id, c.revoked_at.is_(None))
                    .values(revoked_at=at)
                )
                found = await connection.execute(sa.select(self.table).where(c.id == token_id))
                row = found.first()
        return None if row is None else _record(row)

    def __repr__(self) -> str:
        return f"SqlApiTokenStore({self.database.describe()})"


def _record(row: sa.Row[Any]) -> ApiTokenRecord:
    return ApiTokenRecord(
        id=row.id,
        digest=row.digest,
        subject=row.subject,
        kind=row.kind,
        scopes=tuple(row.scopes or ()),
        label=row.label,
        created=_utc(row.created_at),
        expires=None if row.expires_at is None else _utc(row.expires_at),
        revoked=None if row.revoked_at is None else _utc(row.revoked_at),
    )


def _utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` in UTC: SQLite gives back what it was given without its zone."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)
