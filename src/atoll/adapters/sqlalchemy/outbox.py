"""The outbox and inbox tables of the SQLAlchemy adapter, and the relay's claims on the outbox.

A unit of work's commit inserts its events into ``atoll_outbox``, each at a growing
``position``; a relay claims the oldest unsent ones, publishes them and settles the claim,
which marks them ``sent_at``. ``atoll_inbox`` keeps, for each consumer, the ids of the
messages whose effect is committed.

PostgreSQL can have many relays on one database, in any number of processes. A claim there
is a transaction that locks the rows it takes (``FOR UPDATE SKIP LOCKED``: other relays take
the next ones) until it settles. Of what it locked it keeps, for each stream, only the records
no unsent record of that stream precedes, so that a stream is published in order whichever
relay holds its head; what it leaves out stays locked until it settles, and is claimed then.

SQLite writes one transaction at a time, and the handlers keep writing while a relay
publishes: a claim there locks nothing, it only reads the first unsent records, and its settle
is a short write. So one relay relays a SQLite database (two would publish records twice).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from atoll.errors import PersistenceError
from atoll.messaging.envelope import Envelope
from atoll.persistence.ports import OutboxRecord

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from contextlib import AbstractContextManager

    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    Translate = Callable[[str], AbstractContextManager[None]]
    """Raises what its block raises as atoll's error for doing what it is told."""

__all__ = [
    "INBOX",
    "OUTBOX",
    "PostgresOutboxClaim",
    "SqliteOutboxClaim",
    "add_outbox_tables",
    "claim_postgres",
    "claim_sqlite",
]

OUTBOX = "atoll_outbox"
INBOX = "atoll_inbox"


def add_outbox_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """The outbox and inbox tables in ``metadata``: added to it if it does not hold them yet.

    Migrations (Alembic's autogenerate) see them there beside the service's own tables.

    Returns:
        ``atoll_outbox`` and ``atoll_inbox``.
    """
    outbox = metadata.tables.get(OUTBOX)
    if outbox is None:
        outbox = sa.Table(
            OUTBOX,
            metadata,
            # An INTEGER PRIMARY KEY on SQLite, which is what autoincrements there.
            sa.Column(
                "position",
                sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                primary_key=True,
                autoincrement=True,
            ),
            sa.Column("id", sa.String(32), nullable=False, unique=True),
            sa.Column("type", sa.String(300), nullable=False),
            sa.Column("payload", sa.LargeBinary, nullable=False),
            sa.Column("stream", sa.String(300), nullable=False, index=True),
            sa.Column("headers", sa.JSON, nullable=False),
            sa.Column(
                "created_at",
                sa.DateTime(timezone=True),
                nullable=False,
                server_default=sa.func.now(),
            ),
            sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
            # Positions never come back on SQLite, even once the last rows are purged.
            sqlite_autoincrement=True,
        )
        unsent = outbox.c.sent_at.is_(None)
        sa.Index(
            f"{OUTBOX}_unsent",
            outbox.c.position,
            postgresql_where=unsent,
            sqlite_where=unsent,
        )
    inbox = metadata.tables.get(INBOX)
    if inbox is None:
        inbox = sa.Table(
            INBOX,
            metadata,
            sa.Column("consumer", sa.String(300), primary_key=True),
            sa.Column("message_id", sa.String(32), primary_key=True),
            sa.Column(
                "created_at",
                sa.DateTime(timezone=True),
                nullable=False,
                server_default=sa.func.now(),
            ),
        )
    return outbox, inbox


class _Claim:
    """What both claims keep: the records claimed, and whether they are settled."""

    def __init__(self, outbox: sa.Table, records: list[OutboxRecord], translate: Translate) -> None:
        self._outbox = outbox
        self._records = records
        self._translate = translate
        self._settled = False

    @property
    def records(self) -> Sequence[OutboxRecord]:
        """What to publish, each stream's in the order they committed."""
        return self._records

    def _settling(self, sent: Sequence[int]) -> None:
        """Settle once, and only positions this claim holds."""
        _check_unsettled(settled=self._settled)
        self._settled = True
        _check_claimed(self._records, sent)


class PostgresOutboxClaim(_Claim):
    """Outbox records one relay holds locked, until it settles them.

    Args:
        connection: the claim's transaction, which holds the locks.
        outbox: the outbox table.
        records: what it claimed.
        translate: how its errors read as atoll's.
    """

    def __init__(
        self,
        connection: AsyncConnection,
        outbox: sa.Table,
        records: list[OutboxRecord],
        translate: Translate,
    ) -> None:
        super().__init__(outbox, records, translate)
        self._connection = connection

    async def settle(self, sent: Sequence[int]) -> None:
        """Mark the records at positions ``sent`` as published, and release every lock.

        Raises:
            PersistenceError: it is settled already, or ``sent`` holds a position it did not
                claim (nothing is marked then).
            DatabaseUnavailableError: the database was lost; nothing is marked, and the
                records are claimed again.
        """
        try:
            self._settling(sent)
            with self._translate("mark outbox records sent"):
                if sent:
                    await self._connection.execute(_mark_sent(self._outbox, sent))
                await self._connection.commit()
        finally:
            if not self._connection.closed:
                await self._connection.close()


class SqliteOutboxClaim(_Claim):
    """The first unsent records of a SQLite outbox: read, not locked, until settled.

    Args:
        engine: the database's engine, which settling writes through.
        outbox: the outbox table.
        records: what it claimed.
        translate: how its errors read as atoll's.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: sa.Table,
        records: list[OutboxRecord],
        translate: Translate,
    ) -> None:
        super().__init__(outbox, records, translate)
        self._engine = engine

    async def settle(self, sent: Sequence[int]) -> None:
        """Mark the records at positions ``sent`` as published, in a short transaction.

        Raises:
            PersistenceError: it is settled already, or ``sent`` holds a position it did not
                claim.
            ConflictError: the database stayed locked by writers longer than the busy timeout.
            DatabaseUnavailableError: the database cannot be written.
        """
        self._settling(sent)
        if sent:
            with self._translate("mark outbox records sent"):
                async with self._engine.begin() as connection:
                    await connection.execute(_mark_sent(self._outbox, sent))


async def claim_postgres(
    engine: AsyncEngine, outbox: sa.Table, limit: int, translate: Translate
) -> PostgresOutboxClaim:
    """Lock up to ``limit`` unsent records no other claim holds, and keep each stream's head."""
    connection = await engine.connect()
    try:
        # Whatever the units of work use: under repeatable read or serializable, rows another
        # relay settled meanwhile would be serialization failures, not skipped.
        await connection.execution_options(isolation_level="READ COMMITTED")
        await connection.begin()
        locked = await connection.execute(
            _unsent(outbox).limit(limit).with_for_update(skip_locked=True)
        )
        records = await _heads(connection, outbox, [_record(row) for row in locked])
    except BaseException:
        await connection.close()
        raise
    return PostgresOutboxClaim(connection, outbox, records, translate)


async def claim_sqlite(
    engine: AsyncEngine, outbox: sa.Table, limit: int, translate: Translate
) -> SqliteOutboxClaim:
    """Read the first ``limit`` unsent records, in order."""
    async with engine.connect() as connection:
        rows = await connection.execute(_unsent(outbox).limit(limit))
        records = [_record(row) for row in rows]
    return SqliteOutboxClaim(engine, outbox, records, translate)


async def _heads(
    connection: AsyncConnection, outbox: sa.Table, claimed: list[OutboxRecord]
) -> list[OutboxRecord]:
    """Of ``claimed``, each stream's records up to its first unsent record not claimed.

    The records another relay locked are unsent still: a stream whose earlier record it holds
    waits for it to settle. The stream ``""`` has no order, and keeps every record claimed.
    """
    streams = {record.envelope.stream for record in claimed} - {""}
    if not streams:
        return claimed
    mine = {record.position for record in claimed}
    c = outbox.c
    unsent = await connection.execute(
        sa.select(c.position, c.stream)
        .where(c.sent_at.is_(None), c.stream.in_(streams), c.position <= max(mine))
        .order_by(c.position)
    )
    kept: set[int] = set()
    blocked: set[str] = set()
    for position, stream in unsent:
        if stream in blocked:
            continue
        if position in mine:
            kept.add(position)
        else:
            blocked.add(stream)
    return [r for r in claimed if r.envelope.stream == "" or r.position in kept]


def _unsent(outbox: sa.Table) -> sa.Select[Any]:
    c = outbox.c
    return (
        sa.select(c.position, c.id, c.type, c.payload, c.stream, c.headers)
        .where(c.sent_at.is_(None))
        .order_by(c.position)
    )


def _record(row: sa.Row[Any]) -> OutboxRecord:
    return OutboxRecord(
        row.position,
        Envelope(
            id=row.id,
            type=row.type,
            payload=bytes(row.payload),
            stream=row.stream,
            headers=dict(row.headers or {}),
        ),
    )


def _mark_sent(outbox: sa.Table, sent: Sequence[int]) -> sa.Update:
    return sa.update(outbox).where(outbox.c.position.in_(list(sent))).values(sent_at=sa.func.now())


def _check_unsettled(*, settled: bool) -> None:
    if settled:
        raise PersistenceError(
            "this outbox claim is settled already; claim again for the next records"
        )


def _check_claimed(records: Sequence[OutboxRecord], sent: Sequence[int]) -> None:
    strangers = sorted(set(sent) - {record.position for record in records})
    if strangers:
        raise PersistenceError(
            f"cannot mark outbox positions {strangers} sent: this claim does not hold them; "
            "settle a claim with the positions of its own records"
        )
