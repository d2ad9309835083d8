"""Leases in a service's SQL database: the ``atoll_leases`` table and its store.

The table sits in the service's metadata beside the outbox, the inbox and the idempotency
keys, added by the same hands (:class:`~atoll.adapters.sqlalchemy.database.SqlDatabase` and
the migrations): one row per lease, its name, its holder and when it runs out. Taking a lease
is one statement, an ``INSERT ... ON CONFLICT (name) DO UPDATE ... WHERE`` the row is the
holder's own or has run out, ``RETURNING`` the row when it was written: of holders racing for
one name, the database lets one write, and the others find the row taken.

Whose clock says when a lease runs out:

- PostgreSQL's own (``clock_timestamp()``, as seconds since the epoch): the instances of a
  fleet run on hosts whose clocks may disagree by seconds, and a lease judged by each
  instance's clock would let one take it from another too early. ``clock_timestamp()`` rather
  than ``now()``, which is when the transaction began: a statement that waited on another's
  row lock would judge by a time already past.
- On SQLite, this process's (``time.time()``): a SQLite file is shared only by the processes
  of one host, which read one clock; SQLite's own clock is that host's too, with less
  precision. The wall clock, not the monotonic one: the times are compared across processes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from atoll.persistence.leases import MAX_LENGTH, check_lease, check_ttl

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["LEASES", "LeasesDatabase", "SqlLeaseStore", "add_lease_table"]

LEASES = "atoll_leases"


class LeasesDatabase(Protocol):
    """What the store needs of :class:`~atoll.adapters.sqlalchemy.database.SqlDatabase`."""

    @property
    def engine(self) -> AsyncEngine:
        """The started database's engine."""
        ...

    def translated(self, doing: str) -> AbstractContextManager[None]:
        """Raise what the block raises as atoll's error for ``doing``."""
        ...


def add_lease_table(metadata: sa.MetaData) -> sa.Table:
    """The ``atoll_leases`` table in ``metadata``: added to it if it does not hold it yet."""
    table = metadata.tables.get(LEASES)
    if table is None:
        table = sa.Table(
            LEASES,
            metadata,
            sa.Column("name", sa.String(MAX_LENGTH), primary_key=True),
            sa.Column("holder", sa.String(MAX_LENGTH), nullable=False),
            sa.Column("expires_at", sa.Float, nullable=False),  # epoch seconds
        )
    return table


class SqlLeaseStore:
    """The leases of a SQL database.

    Args:
        database: the service's database; its table is used once it has started.
        table: its ``atoll_leases`` table.
        clock: the time on SQLite, in seconds since the epoch; PostgreSQL reads its own.
    """

    def __init__(
        self, database: LeasesDatabase, table: sa.Table, clock: Callable[[], float] = time.time
    ) -> None:
        self.database = database
        self.table = table
        self.clock = clock

    async def acquire(self, name: str, holder: str, ttl: float) -> bool:
        """Take or renew the lease, in one statement: True if it was written for ``holder``."""
        check_lease(name, holder)
        check_ttl(ttl)
        engine = self._engine()
        c = self.table.c
        now = self._now(engine)
        insert = (postgresql.insert if _postgres(engine) else sqlite.insert)(self.table)
        insert = insert.values(name=name, holder=holder, expires_at=now + float(ttl))
        statement = insert.on_conflict_do_update(
            index_elements=[c.name],
            set_={"holder": insert.excluded.holder, "expires_at": insert.excluded.expires_at},
            where=sa.or_(c.holder == holder, c.expires_at <= now),
        ).returning(c.holder)
        with self.database.translated("take a lease"):
            async with engine.begin() as connection:
                written = (await connection.execute(statement)).first()
        return written is not None

    async def release(self, name: str, holder: str) -> None:
        """Delete the lease, if ``holder`` holds it."""
        check_lease(name, holder)
        c = self.table.c
        with self.database.translated("release a lease"):
            async with self._engine().begin() as connection:
                await connection.execute(
                    sa.delete(self.table).where(c.name == name, c.holder == holder)
                )

    async def holder(self, name: str) -> str | None:
        """Who holds the lease, if its time has not run out by the database's clock."""
        check_lease(name)
        engine = self._engine()
        c = self.table.c
        statement = sa.select(c.holder).where(c.name == name, c.expires_at > self._now(engine))
        with self.database.translated("read a lease"):
            async with engine.connect() as connection:
                found = await connection.scalar(statement)
        return None if found is None else str(found)

    def _engine(self) -> AsyncEngine:
        engine = self.database.engine
        if _postgres(engine):
            # Each statement judges the row as last committed: at a stricter level, a holder
            # racing another's commit would fail to serialize instead of being refused.
            return engine.execution_options(isolation_level="READ COMMITTED")
        return engine

    def _now(self, engine: AsyncEngine) -> sa.ColumnElement[float]:
        if _postgres(engine):
            return sa.cast(sa.extract("epoch", sa.func.clock_timestamp()), sa.Float)
        return sa.literal(self.clock(), sa.Float)


def _postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"
