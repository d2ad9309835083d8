"""Idempotency keys in a service's SQL database: the ``atoll_idempotency`` table and its store.

The table sits in the service's metadata beside the outbox and the inbox, added by the same
hands (:class:`~atoll.adapters.sqlalchemy.database.SqlDatabase` and the migrations). A unit of
work's commit marks its key's record committed in its own transaction
(:meth:`~atoll.adapters.sqlalchemy.database.SqlTransaction.commit`); the rest is done by
:class:`SqlKeyStore`, a short transaction per call, each write conditional on the owner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa
from sqlalchemy import exc

from atoll.persistence.idempotency import KeyRecord

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["IDEMPOTENCY", "KeysDatabase", "SqlKeyStore", "add_idempotency_table", "mark_committed"]

IDEMPOTENCY = "atoll_idempotency"


class KeysDatabase(Protocol):
    """What the store needs of :class:`~atoll.adapters.sqlalchemy.database.SqlDatabase`."""

    @property
    def engine(self) -> AsyncEngine:
        """The started database's engine."""
        ...

    def translated(self, doing: str) -> AbstractContextManager[None]:
        """Raise what the block raises as atoll's error for ``doing``."""
        ...


def add_idempotency_table(metadata: sa.MetaData) -> sa.Table:
    """The ``atoll_idempotency`` table in ``metadata``: added to it if it does not hold it yet."""
    table = metadata.tables.get(IDEMPOTENCY)
    if table is None:
        table = sa.Table(
            IDEMPOTENCY,
            metadata,
            sa.Column("scope", sa.String(64), primary_key=True),
            sa.Column("key", sa.String(255), primary_key=True),
            sa.Column("fingerprint", sa.String(64), nullable=False),
            sa.Column("owner", sa.String(32), nullable=False),
            sa.Column("locked_until", sa.Float, nullable=False),
            sa.Column("expires_at", sa.Float, nullable=False, index=True),
            sa.Column("committed", sa.Boolean, nullable=False),
            sa.Column("response", sa.LargeBinary, nullable=True),
        )
    return table


def mark_committed(table: sa.Table, scope: str, key: str, owner: str) -> sa.Update:
    """The statement a unit of work's commit runs: one row when ``owner`` holds the key."""
    c = table.c
    return (
        sa.update(table)
        .where(c.scope == scope, c.key == key, c.owner == owner)
        .values(committed=True)
    )


class SqlKeyStore:
    """The idempotency records of a SQL database.

    Args:
        database: the service's database; its table is used once it has started.
        table: its ``atoll_idempotency`` table.
    """

    def __init__(self, database: KeysDatabase, table: sa.Table) -> None:
        self.database = database
        self.table = table

    async def get(self, scope: str, key: str) -> KeyRecord | None:
        """The record, expired or not."""
        c = self.table.c
        with self.database.translated("read an idempotency key"):
            async with self.database.engine.connect() as connection:
                rows = await connection.execute(
                    sa.select(self.table).where(c.scope == scope, c.key == key)
                )
                row = rows.first()
        return None if row is None else _record(row)

    async def put(self, record: KeyRecord, replacing: KeyRecord | None) -> bool:
        """Insert ``record``, or replace ``replacing`` if the row is still as it was read.

        On PostgreSQL an UPDATE waiting on the row a holder's commit locks reads the row as
        committed once it may go on, and so no longer finds it as read.
        """
        values = _values(record)
        c = self.table.c
        with self.database.translated("reserve an idempotency key"):
            try:
                async with self.database.engine.begin() as connection:
                    if replacing is None:
                        await connection.execute(sa.insert(self.table).values(values))
                        return True
                    answered = c.response.is_(None) if replacing.response is None else sa.true()
                    changed = await connection.execute(
                        sa.update(self.table)
                        .where(
                            c.scope == replacing.scope,
                            c.key == replacing.key,
                            c.owner == replacing.owner,
                            c.committed.is_(replacing.committed),
                            c.locked_until == replacing.locked_until,
                            answered,
                        )
                        .values(values)
                    )
                    return bool(changed.rowcount)
            except exc.IntegrityError:
                return False  # another request inserted it first

    async def answer(self, scope: str, key: str, owner: str, response: bytes) -> bool:
        """Store the answer, if ``owner`` holds the key."""
        c = self.table.c
        with self.database.translated("store the answer of an idempotency key"):
            async with self.database.engine.begin() as connection:
                changed = await connection.execute(
                    sa.update(self.table)
                    .where(c.scope == scope, c.key == key, c.owner == owner)
                    .values(locked_until=0.0, response=response)
                )
        return bool(changed.rowcount)

    async def release(self, scope: str, key: str, owner: str) -> None:
        """Delete the record, if ``owner`` holds it and nothing is committed."""
        c = self.table.c
        with self.database.translated("release an idempotency key"):
            async with self.database.engine.begin() as connection:
                await connection.execute(
                    sa.delete(self.table).where(
                        c.scope == scope, c.key == key, c.owner == owner, c.committed.is_(False)
                    )
                )

    async def purge(self, now: float) -> int:
        """Delete the records that expired before ``now``."""
        with self.database.translated("purge expired idempotency keys"):
            async with self.database.engine.begin() as connection:
                deleted = await connection.execute(
                    sa.delete(self.table).where(self.table.c.expires_at < now)
                )
        return int(deleted.rowcount)


def _values(record: KeyRecord) -> dict[str, Any]:
    return {
        "scope": record.scope,
        "key": record.key,
        "fingerprint": record.fingerprint,
        "owner": record.owner,
        "locked_until": record.locked_until,
        "expires_at": record.expires_at,
        "committed": record.committed,
        "response": record.response,
    }


def _record(row: sa.Row[Any]) -> KeyRecord:
    return KeyRecord(
        scope=row.scope,
        key=row.key,
        fingerprint=row.fingerprint,
        owner=row.owner,
        locked_until=float(row.locked_until),
        expires_at=float(row.expires_at),
        committed=bool(row.committed),
        response=None if row.response is None else bytes(row.response),
    )
