"""The SQL adapter of the database port: PostgreSQL through asyncpg, SQLite through aiosqlite.

:class:`SqlDatabase` is a service's database when its URL is ``postgresql://`` (or
``postgres://``, ``postgresql+asyncpg://``) or ``sqlite://``, the default: a file in
``--db-data-dir``. Starting it maps each aggregate dataclass to its table, imperatively (the
model layer imports nothing), creates the async engine, checks the connection, and brings the
tables up to date as ``--db-migrate`` says (on SQLite by default): to the head of the schema's
migrations, or the missing tables created when it has none. Each unit of work
gets a :class:`SqlTransaction`, one ``AsyncSession``. The outbox and the inbox are tables in
the same metadata (:mod:`atoll.adapters.sqlalchemy.outbox`): one commit writes the changes,
the events and the inbox entry together.

Errors come out as atoll's: a version mismatch, a serialization failure, a deadlock or a
SQLite lock held too long is a :class:`~atoll.errors.ConflictError` (the handler runs again);
a key or unique value added twice is an :class:`~atoll.errors.AlreadyExistsError` (answered
at once: running again would add it again); a twin delivery is a
:class:`~atoll.errors.DuplicateMessageError`; a
database out of reach is a :class:`~atoll.errors.DatabaseUnavailableError` naming its host,
never its password. Other errors (a NOT NULL violated, a missing table) stay SQLAlchemy's.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import importlib
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from atoll.errors import (
    AlreadyExistsError,
    AtollError,
    ConfigError,
    ConflictError,
    DatabaseUnavailableError,
    DuplicateMessageError,
    MissingDependencyError,
    OutOfRangeError,
    PersistenceError,
)
from atoll.persistence.idempotency import taken_over
from atoll.persistence.ports import OutboxBacklog, OutboxSignal, PoolUsage

try:
    import sqlalchemy as sa
    from sqlalchemy import event, exc, orm
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
    from sqlalchemy.orm.exc import StaleDataError
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("sqlalchemy", "sql") from error

from atoll.adapters.sqlalchemy.api_tokens import add_api_token_table
from atoll.adapters.sqlalchemy.finds import MOST_VALUES_PER_QUERY, find_in_queries
from atoll.adapters.sqlalchemy.idempotency import (
    SqlKeyStore,
    add_idempotency_table,
    mark_committed,
)
from atoll.adapters.sqlalchemy.leases import SqlLeaseStore, add_lease_table
from atoll.adapters.sqlalchemy.mapping import AGGREGATES, CountingSession, new_version
from atoll.adapters.sqlalchemy.outbox import (
    PostgresOutboxClaim,
    SqliteOutboxClaim,
    add_outbox_tables,
    claim_postgres,
    claim_sqlite,
)
from atoll.adapters.sqlalchemy.pages import page_query

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator, Sequence

    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry

    from atoll.messaging.envelope import Envelope
    from atoll.persistence.idempotency import KeyHold
    from atoll.persistence.options import DatabaseOptions
    from atoll.persistence.pages import Keyset
    from atoll.persistence.schema import Mapping, Schema

__all__ = ["SqlDatabase", "SqlTransaction"]

T = TypeVar("T")

logger = logging.getLogger("atoll.outbox")
db_logger = logging.getLogger("atoll.db")

_MIGRATING = threading.Lock()
"""Held while a database of this process is migrated at start (Alembic's state is global)."""

_DRIVERS = {
    **dict.fromkeys(["postgresql", "postgres", "postgresql+asyncpg"], "postgresql+asyncpg"),
    **dict.fromkeys(["sqlite", "sqlite+aiosqlite"], "sqlite+aiosqlite"),
}
"""The URL schemes this adapter reads, and the async driver each is spoken with."""

_LIBRARIES = {"asyncpg": ("asyncpg", "postgres"), "aiosqlite": ("aiosqlite", "sql")}
"""Each driver's library, and the extra that installs it."""

_ISOLATION = {
    "read committed": "READ COMMITTED",
    "repeatable read": "REPEATABLE READ",
    "serializable": "SERIALIZABLE",
}

_CONFLICT_SQLSTATES = {
    "40001": "PostgreSQL could not serialize it with a concurrent transaction (SQLSTATE 40001)",
    "40P01": "it deadlocked with a concurrent transaction (SQLSTATE 40P01)",
}
_UNIQUE_VIOLATION = "23505"
_UNREACHABLE_SQLSTATE_CLASSES = ("08", "53", "57")
"""connection exception, insufficient resources (too many connections), operator intervention."""

# SQLite result codes (https://sqlite.org/rescode.html): the primary code is the low byte.
_SQLITE_BUSY = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
_SQLITE_DUPLICATE_KEY = frozenset({1555, 2067})  # SQLITE_CONSTRAINT_PRIMARYKEY, _UNIQUE
_SQLITE_UNREACHABLE = frozenset({3, 8, 10, 11, 13, 14, 26})
"""PERM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, NOTADB: the file cannot be used."""


class SqlDatabase:
    """A service's database in PostgreSQL or SQLite; constructing it connects to nothing.

    Args:
        options: the service's database options.
        schema: the aggregates it keeps, with their tables' metadata.
        service: the service it belongs to: the SQLite file is ``<data-dir>/<service>.db``.

    Attributes:
        url: the URL it connects to (shown by :meth:`describe`, without the password).
        metadata: the schema's ``MetaData`` (a new one if the schema has none), holding the
            outbox, inbox, API token, idempotency and lease tables too.
        outbox_table: the ``atoll_outbox`` table.
        inbox_table: the ``atoll_inbox`` table.
        api_tokens_table: the ``atoll_api_tokens`` table (:mod:`.api_tokens`).
        keys: the idempotency keys of its calls, in ``atoll_idempotency`` (:mod:`.idempotency`).
        leases: the leases of the service's instances, in ``atoll_leases`` (:mod:`.leases`).

    Raises:
        ConfigError: the schema's metadata is not a ``sqlalchemy.MetaData``.
    """

    def __init__(
        self, options: DatabaseOptions, schema: Schema, service: str, *, section: str = "db"
    ) -> None:
        self.options = options
        self.schema = schema
        self.service = service
        self.outbox_signal = OutboxSignal()
        self.url = options.url_for(service)
        metadata = schema.metadata if schema.metadata is not None else sa.MetaData()
        if not isinstance(metadata, sa.MetaData):
            raise ConfigError(
                f"the schema of {service} holds {metadata!r:.60} as its metadata, which is not "
                "a sqlalchemy.MetaData; give Schema(sa.MetaData()) the one its tables are in"
            )
        self.metadata = metadata
        # Added now, not at start: migrations (alembic autogenerate) read the metadata
        # without starting the database.
        self.outbox_table, self.inbox_table = add_outbox_tables(metadata)
        self.api_tokens_table = add_api_token_table(metadata)
        self.keys = SqlKeyStore(self, add_idempotency_table(metadata))
        self.leases = SqlLeaseStore(self, add_lease_table(metadata))
        self._errors = _Errors(self.url, options, flags=f"--{section.replace('_', '-')}-")
        self._pending = 0  # transactions waiting for a connection of the pool
        self._engine: AsyncEngine | None = None
        self._relay_lock: _RelayLock | None = None  # SQLite's, once started

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy engine, for queries of the service's own.

        Raises:
            PersistenceError: the database is not started.
        """
        if self._engine is None:
            raise PersistenceError(
                f"the database of {self.service} ({self.describe()}) is not started: "
                "await its start() first (the application's lifecycle does)"
            )
        return self._engine

    async def start(self) -> None:
        """Map the aggregates, connect and check the connection; on SQLite, create the tables.

        Raises:
            ConfigError: the URL names no database this adapter reads, or an aggregate
                cannot be mapped to its table.
            MissingDependencyError: the URL's driver (asyncpg, aiosqlite) is not installed.
            DatabaseUnavailableError: the database cannot be reached.
            PersistenceError: it is started already.
        """
        if self._engine is not None:
            raise PersistenceError(f"{self!r} is started already; stop it before starting again")
        url = _driver_url(self.url)
        library, extra = _LIBRARIES[url.get_driver_name()]
        try:
            importlib.import_module(library)
        except ImportError as error:
            raise MissingDependencyError(library, extra) from error
        for mapping in self.schema.mappings:
            AGGREGATES.map(mapping)
        sqlite = url.get_backend_name() == "sqlite"
        if sqlite:
            _make_directory(url, self._errors)
            self._relay_lock = _RelayLock(f"{url.database}.relay-lock")
        engine = create_async_engine(url, **self._engine_options(sqlite=sqlite))
        _hide_values_from_library_logs()
        if sqlite:
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas(self.options))
        try:
            await self._check(engine, "start")
            migrate = self.options.migrate
            if migrate == "always" or (migrate == "embedded" and sqlite):
                await self._bring_up_to_date(engine)
            elif migrate == "embedded":
                await self._check_up_to_date(engine)
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine

    async def stop(self) -> None:
        """Close every connection; a stopped database may be started again."""
        if self._relay_lock is not None:
            self._relay_lock.release()
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.dispose()

    async def ping(self) -> None:
        """Run ``SELECT 1`` on a connection from the pool, checked alive first.

        A connection that died meanwhile (the server restarted) is replaced, so that a ping
        succeeds again as soon as the database is back.

        Raises:
            DatabaseUnavailableError: it does not answer (PostgreSQL: within the connect
                timeout).
        """
        await self._check(self.engine, "answer a ping")

    async def _bring_up_to_date(self, engine: AsyncEngine) -> None:
        """Migrate to the head when the schema has migrations, else create what is missing."""
        directory = self.schema.migrations
        if directory is None or not directory.is_dir():
            await self._create_tables(engine)
            return
        from atoll.adapters.sqlalchemy.migrations import Migrations  # noqa: PLC0415 - only with migrations

        migrations = Migrations(
            self.schema, self.url, self.service, connect_timeout=self.options.connect_timeout
        )

        # Alembic runs its async environment in an event loop of its own: give it a thread;
        # and it keeps its context in module globals: one migration at a time per process.
        def upgrade() -> None:
            with _MIGRATING:
                migrations.upgrade()

        await asyncio.to_thread(upgrade)

    async def _check_up_to_date(self, engine: AsyncEngine) -> None:
        """Refuse to start on a database whose tables are behind the schema.

        At the head of the schema's migrations when it has some; else with every table of
        the schema and atoll's own (outbox, inbox, API tokens, idempotency keys, leases). A
        service started on tables never created would report itself ready and then answer
        every write with a 500.

        Raises:
            PersistenceError: the database is behind; the message says how to bring it up.
        """
        directory = self.schema.migrations
        if directory is not None and directory.is_dir():
            from atoll.adapters.sqlalchemy.migrations import Migrations  # noqa: PLC0415 - only with migrations

            migrations = Migrations(
                self.schema, self.url, self.service, connect_timeout=self.options.connect_timeout
            )

            def revisions() -> tuple[tuple[str, ...], tuple[str, ...]]:
                with _MIGRATING:
                    return migrations.current(), migrations.heads()

            current, heads = await asyncio.to_thread(revisions)
            if set(current) == set(heads):
                return
            behind = (
                f"it is at revision {', '.join(current) or 'none (no table made)'} and the "
                f"migrations' head is {', '.join(heads)}"
            )
        else:
            missing = await self._missing_tables(engine)
            if not missing:
                return
            behind = f"it has no table {', '.join(missing)}"
        flags = self._errors.flags
        service = "" if flags == "--db-" else f" --service {self.service}"
        upgrade = f"`atoll db upgrade MODULE:OBJECT{service} {flags}url URL`"
        if directory is None:  # `atoll db upgrade` would refuse a schema without migrations
            how = (
                f"Have the service make its tables at start with {flags}migrate always, or "
                "declare its migrations (Schema(metadata, migrations=Path(__file__).parent / "
                f'"migrations")) and apply them with {upgrade}'
            )
        elif not directory.is_dir():
            how = (
                f"Write its first migration with `atoll db revision MODULE:OBJECT{service} -m "
                f'"first"` and apply it with {upgrade}, or have the service make its tables '
                f"at start with {flags}migrate always"
            )
        else:
            how = (
                f"Bring it up to date with {upgrade}, or have the service do it at start with "
                f"{flags}migrate always"
            )
        raise PersistenceError(
            f"the database {self.describe()} is not up to date for {self.service or 'the service'}"
            f": {behind}. {how}"
        )

    async def _missing_tables(self, engine: AsyncEngine) -> list[str]:
        """The tables of the schema and atoll's own the database does not have."""
        metadatas = dict.fromkeys(
            [self.metadata, *(mapping.table.metadata for mapping in self.schema.mappings)]
        )
        wanted = [table.name for metadata in metadatas for table in metadata.sorted_tables]

        def present(connection: sa.Connection) -> set[str]:
            return set(sa.inspect(connection).get_table_names())

        with self._errors.translated("read which tables exist"):
            async with engine.connect() as connection:
                found = await connection.run_sync(present)
        return sorted(set(wanted) - found)

    async def create_tables(self) -> None:
        """Create the tables of the schema and atoll's own that do not exist yet.

        SQLite's are created by :meth:`start`; PostgreSQL's come from migrations
        (``atoll db upgrade``), and this is for tests and demos.
        """
        await self._create_tables(self.engine)

    async def begin(self) -> SqlTransaction:
        """A new transaction, at the isolation level of the options, on its own connection."""
        session = AsyncSession(
            self.engine,
            expire_on_commit=False,
            autoflush=True,
            sync_session_class=CountingSession,
        )
        self._pending += 1
        try:
            with self._errors.translated("begin a transaction", connecting=True):
                await session.connection()
        except BaseException:
            await session.close()
            raise
        finally:
            self._pending -= 1
        return SqlTransaction(
            session, self.outbox_table, self.inbox_table, self._errors, self.keys.table
        )

    async def claim_outbox(self, limit: int) -> PostgresOutboxClaim | SqliteOutboxClaim:
        """Claim up to ``limit`` unsent records, each stream's in the order they committed.

        On PostgreSQL the records stay locked (so other relays skip them) until the claim is
        settled. SQLite holds no lock on them meanwhile, so one relay at a time claims from a
        SQLite file: the first to take a lock on ``<file>.relay-lock``; the others claim
        nothing until it lets go (its process stops or dies).

        Raises:
            DatabaseUnavailableError: the database cannot be reached.
        """
        engine = self.engine
        with self._errors.translated("claim outbox records"):
            if engine.dialect.name == "sqlite":
                if self._relay_lock is not None and not self._relay_lock.held():
                    return SqliteOutboxClaim(engine, self.outbox_table, [], self._errors.translated)
                return await claim_sqlite(engine, self.outbox_table, limit, self._errors.translated)
            return await claim_postgres(engine, self.outbox_table, limit, self._errors.translated)

    async def outbox_backlog(self) -> OutboxBacklog:
        """How many records are not published yet, and when the oldest committed.

        One query, counting along the index of unsent records.

        Raises:
            DatabaseUnavailableError: the database cannot be reached.
        """
        outbox = self.outbox_table
        query = sa.select(sa.func.count(), sa.func.min(outbox.c.created_at)).where(
            outbox.c.sent_at.is_(None)
        )
        with self._errors.translated("read the outbox's backlog"):
            async with self.engine.connect() as connection:
                pending, oldest = (await connection.execute(query)).one()
        if oldest is not None and oldest.tzinfo is None:  # SQLite keeps no zone: it is UTC
            oldest = oldest.replace(tzinfo=dt.UTC)
        return OutboxBacklog(pending, None if oldest is None else oldest.timestamp())

    def pool_usage(self) -> PoolUsage | None:
        """The engine's pool now, and the transactions waiting for one of its connections.

        None for a pool that keeps no count (SQLite's, in some configurations).
        """
        pool: Any = self.engine.sync_engine.pool
        if not all(hasattr(pool, name) for name in ("checkedout", "checkedin", "size")):
            return None
        overflow = getattr(pool, "_max_overflow", 0)
        most = pool.size() + max(overflow, 0)
        return PoolUsage(pool.checkedout(), pool.checkedin(), most, self._pending)

    def describe(self) -> str:
        """The URL, with ``***`` for its password."""
        return self._errors.where

    def translated(self, doing: str) -> contextlib.AbstractContextManager[None]:
        """Raise what the block raises as atoll's error for ``doing``, for queries of its own.

        A database out of reach is a :class:`~atoll.errors.DatabaseUnavailableError`, a
        value added twice an :class:`~atoll.errors.AlreadyExistsError`.
        """
        return self._errors.translated(doing)

    def __repr__(self) -> str:
        return f"SqlDatabase({self.describe()})"

    # -- inside ------------------------------------------------------------------------------

    def _engine_options(self, *, sqlite: bool) -> dict[str, Any]:
        options = self.options
        timeout = _limit(options.connect_timeout)
        engine: dict[str, Any] = {
            "pool_pre_ping": True,
            "pool_size": options.pool_size,
            # A statement's values are the users' data (a password's hash, a token's): an
            # error, a traceback logged, a message shows the statement without them.
            "hide_parameters": True,
        }
        if timeout is not None:
            engine["pool_timeout"] = timeout
        if sqlite:
            # The isolation level is PostgreSQL's to set: pysqlite begins a transaction at the
            # first write, so a SQLite unit of work's reads see what others committed meanwhile.
            # Its busy timeout is set per connection.
            return engine
        if options.isolation not in _ISOLATION:
            raise ConfigError(
                f"the database isolation {options.isolation!r} is none PostgreSQL has; "
                f"use one of {', '.join(_ISOLATION)}"
            )
        engine["isolation_level"] = _ISOLATION[options.isolation]
        engine["connect_args"] = {} if timeout is None else {"timeout": timeout}
        return engine

    async def _check(self, engine: AsyncEngine, doing: str) -> None:
        # The deadline is for a network that hangs. A SQLite file answers or fails at once,
        # and waits for a writer only up to its busy timeout: no deadline to trip on a
        # loaded machine.
        sqlite = engine.dialect.name == "sqlite"
        try:
            async with asyncio.timeout(None if sqlite else _limit(self.options.connect_timeout)):
                async with engine.connect() as connection:
                    await connection.execute(sa.text("SELECT 1"))
        except (OSError, exc.DBAPIError, exc.TimeoutError) as error:
            raise self._errors.unavailable(error, doing) from error

    async def _create_tables(self, engine: AsyncEngine) -> None:
        metadatas = dict.fromkeys(
            [self.metadata, *(mapping.table.metadata for mapping in self.schema.mappings)]
        )
        with self._errors.translated("create the tables"):
            async with engine.begin() as connection:
                for metadata in metadatas:
                    await connection.run_sync(metadata.create_all)


class SqlTransaction:
    """One unit of work's session: what it loads and changes, written at once on commit.

    Attributes:
        session: the ``AsyncSession``, for queries of the service's own; its changes are
            committed with the unit of work's.
    """

    def __init__(
        self,
        session: AsyncSession,
        outbox: sa.Table,
        inbox: sa.Table,
        errors: _Errors,
        keys: sa.Table,
    ) -> None:
        self.session = session
        self._outbox = outbox
        self._inbox = inbox
        self._errors = errors
        self._keys = keys
        self._over = False

    async def get(self, mapping: Mapping, identity: object) -> object | None:
        """The aggregate with this id, or ``None``; the same object each time."""
        session = self._open("get")
        doing = f"get {_named(mapping)} {identity!r}"
        found: object | None = await self._run(doing, session.get(mapping.aggregate, identity))
        return found

    async def add(self, mapping: Mapping, aggregate: object) -> None:
        """Insert ``aggregate`` now (uncommitted), so that an id of ``None`` is assigned."""
        session = self._open("add")
        session.add(aggregate)
        new_version(aggregate)
        await self._run(f"add a {_named(mapping)}", session.flush())

    async def remove(self, mapping: Mapping, aggregate: object) -> None:
        """Delete ``aggregate`` (uncommitted), which this transaction got or added.

        Raises:
            PersistenceError: this transaction did not get or add it.
        """
        session = self._open("remove")
        state = sa.inspect(aggregate, raiseerr=False)
        if state is None or state.session is not session.sync_session:
            raise PersistenceError(
                f"cannot remove {_named(mapping)} {getattr(aggregate, mapping.id, None)!r}: "
                "this unit of work did not get it; get it from the repository first"
            )
        await session.delete(aggregate)
        doing = f"remove {_named(mapping)} {getattr(aggregate, mapping.id)!r}"
        await self._run(doing, session.flush())

    async def find(self, mapping: Mapping, criteria: dict[str, object]) -> list[object]:
        """The aggregates whose attributes equal ``criteria``, in the order of their ids.

        Raises:
            PersistenceError: ``criteria`` names an attribute the aggregate does not map.
        """
        session = self._open("find")
        _check_criteria(mapping, criteria)
        statement: sa.Select[Any] = (
            sa.select(mapping.aggregate).filter_by(**criteria).order_by(mapping.table.c[mapping.id])
        )
        found = await self._run(f"find {_named(mapping)}", session.scalars(statement))
        return list(found)

    async def find_in(
        self,
        mapping: Mapping,
        attribute: str,
        values: Sequence[object],
        criteria: dict[str, object],
    ) -> list[object]:
        """The aggregates whose ``attribute`` is in ``values``, equal to ``criteria``, by id.

        One ``SELECT ... IN`` for each 900 values (:mod:`atoll.adapters.sqlalchemy.finds` says
        why); none for no value.

        Raises:
            PersistenceError: ``attribute`` or ``criteria`` names an attribute the aggregate
                does not map.
        """
        session = self._open("find")
        _check_criteria(mapping, {attribute: None, **criteria})
        found: list[object] = []
        for statement in find_in_queries(mapping, attribute, values, criteria):
            found.extend(await self._run(f"find {_named(mapping)}", session.scalars(statement)))
        if len(values) > MOST_VALUES_PER_QUERY:
            found.sort(key=lambda aggregate: getattr(aggregate, mapping.id))
        return found

    async def page(
        self, mapping: Mapping, criteria: dict[str, object], keyset: Keyset
    ) -> list[object]:
        """The first (or last) ``keyset.limit`` equal to ``criteria`` in its bounds, by key.

        Raises:
            PersistenceError: ``criteria`` names an attribute the aggregate does not map.
        """
        session = self._open("page")
        _check_criteria(mapping, criteria)
        statement = page_query(mapping, criteria, keyset)
        found = list(await self._run(f"page {_named(mapping)}", session.scalars(statement)))
        return found[::-1] if keyset.backward else found

    async def seen(self, consumer: str, message_id: str) -> bool:
        """Whether the inbox holds ``message_id`` for ``consumer``."""
        session = self._open("read the inbox")
        inbox = self._inbox
        statement = sa.select(inbox.c.message_id).where(
            inbox.c.consumer == consumer, inbox.c.message_id == message_id
        )
        result = await self._run("read the inbox", session.execute(statement))
        return result.first() is not None

    async def commit(
        self,
        outbox: Sequence[Envelope],
        inbox: tuple[str, str] | None,
        key: KeyHold | None = None,
    ) -> None:
        """Write the changes, the inbox entry, ``outbox`` in order and ``key``'s mark; commit.

        The transaction is over afterwards, whatever happened.

        Raises:
            ConflictError: a concurrent change won; nothing was written.
            DuplicateMessageError: a twin delivery committed ``inbox`` first; nothing was
                written.
            IdempotencyKeyInUseError: the call no longer holds ``key`` (another request took
                it over once its lock ran out); nothing was written.
        """
        session = self._open("commit")
        changed = sorted({type(aggregate).__qualname__ for aggregate in session.dirty})
        doing = f"commit the changes to {', '.join(changed)}" if changed else "commit"
        try:
            with self._errors.translated(doing):
                await session.flush()
                if inbox is not None:
                    await self._keep_delivery(session, *inbox)
                if key is not None:
                    await self._mark_key(session, key)
                if outbox:
                    # An envelope's fields are the outbox's columns. One executemany, in
                    # order: positions grow in the order the events were raised.
                    rows = [dataclasses.asdict(envelope) for envelope in outbox]
                    await session.execute(sa.insert(self._outbox), rows)
                await session.commit()
        finally:
            await self._end()

    async def rollback(self) -> None:
        """Forget every change and give the connection back; nothing if already over."""
        await self._end()

    # -- inside ------------------------------------------------------------------------------

    def _open(self, what: str) -> AsyncSession:
        if self._over:
            raise PersistenceError(
                f"cannot {what}: this transaction is over (it committed or rolled back); "
                "begin a new one"
            )
        return self.session

    async def _run(self, doing: str, operation: Awaitable[T]) -> T:
        try:
            with self._errors.translated(doing):
                return await operation
        except (ConflictError, AlreadyExistsError, DatabaseUnavailableError):
            # The transaction is lost either way: end it now, so that its locks go at once.
            await self._end()
            raise

    async def _keep_delivery(self, session: AsyncSession, consumer: str, message_id: str) -> None:
        try:
            await session.execute(
                sa.insert(self._inbox).values(consumer=consumer, message_id=message_id)
            )
        except exc.IntegrityError as error:
            # The inbox's only constraint is its key: a twin delivery committed it first.
            raise DuplicateMessageError(
                f"{consumer} has committed the effect of message {message_id} meanwhile (a "
                "twin delivery won); nothing of this one is written, and it is acknowledged"
            ) from error

    async def _mark_key(self, session: AsyncSession, key: KeyHold) -> None:
        statement = mark_committed(self._keys, key.scope, key.key, key.owner)
        marked = cast("sa.CursorResult[Any]", await session.execute(statement))
        if not marked.rowcount:
            raise taken_over(key)

    async def _end(self) -> None:
        if not self._over:
            self._over = True
            try:
                await self.session.close()  # rolls back what is not committed
            except (OSError, exc.DBAPIError):
                # The connection broke, and the server rolled back: the pool drops it.
                await self.session.invalidate()


class _Errors:
    """How one database's failures read as atoll's errors: conflicts and unavailability.

    Args:
        url: the database's URL, which messages show without its password.
        options: its options, for the timeouts and the isolation messages name.
        flags: how its options' flags begin: ``--db-``, or ``--runs-db-`` in a system.
    """

    def __init__(self, url: str, options: DatabaseOptions, *, flags: str = "--db-") -> None:
        self._options = options
        self.flags = flags
        """How the database's flags begin: ``--db-``, or ``--runs-db-`` in a system."""
        self._url: sa.URL | None = None
        self.where = f"{url.partition(':')[0]}:// (unreadable URL)"
        with contextlib.suppress(exc.ArgumentError):
            self._url = sa.make_url(url)
            self.where = self._url.render_as_string(hide_password=True)

    @contextlib.contextmanager
    def translated(self, doing: str, *, connecting: bool = False) -> Iterator[None]:
        """Raise what the block raises as atoll's error for it, if there is one.

        Args:
            doing: what was being done, for the message: ``"get Run 42"``.
            connecting: the block gets a connection, so that any database error means the
                database is out of reach (no such database, authentication failed...).
        """
        try:
            yield
        except AtollError:
            raise
        except Exception as error:
            if _out_of_range(error):
                raise OutOfRangeError(
                    f"cannot {doing}: a value is out of the range its column holds "
                    f"({_reason(error)}); nothing was written"
                ) from error
            exists = self.already_exists(error, doing)
            if exists is not None:
                db_logger.info("%s", exists)
                raise exists from error
            conflict = self.conflict(error, doing)
            if conflict is not None:
                raise conflict from error
            if (connecting and isinstance(error, exc.DBAPIError)) or _unreachable(error):
                raise self.unavailable(error, doing) from error
            raise

    def conflict(self, error: Exception, doing: str) -> ConflictError | None:
        """The conflict ``error`` is: another transaction won; ``None`` if it is none."""
        suffix = "nothing was written, and the handler runs again"
        if isinstance(error, StaleDataError):
            return ConflictError(
                f"cannot {doing}: another unit of work changed or removed it since this one "
                f"read it ({error}); {suffix}"
            )
        if not isinstance(error, exc.DBAPIError):
            return None
        sqlstate, code = _codes(error)
        what = _CONFLICT_SQLSTATES.get(sqlstate or "")
        if sqlstate == "40001":
            what = f"{what}, at isolation {self._options.isolation}"
        elif code is not None and code & 0xFF in _SQLITE_BUSY:
            what = (
                "the SQLite database stayed locked by another writer for longer than the "
                f"busy timeout ({self._options.connect_timeout:g} s, {self.flags}connect-timeout)"
            )
        return None if what is None else ConflictError(f"cannot {doing}: {what}; {suffix}")

    def already_exists(self, error: Exception, doing: str) -> AlreadyExistsError | None:
        """The addition ``error`` refused: a key or unique value that exists; else ``None``."""
        if not isinstance(error, exc.IntegrityError):
            return None
        sqlstate, code = _codes(error)
        if sqlstate == _UNIQUE_VIOLATION:
            cause = error.orig.__cause__ if error.orig is not None else None
            constraint = str(getattr(cause, "constraint_name", "") or "")
            detail = str(getattr(cause, "detail", "") or "")
        elif code in _SQLITE_DUPLICATE_KEY:
            # "UNIQUE constraint failed: users.email": SQLite names the columns, not the index.
            constraint = str(error.orig).partition(": ")[2]
            detail = ""
        else:
            return None
        named = f" (constraint {constraint})" if constraint else ""
        told = f": {detail}" if detail else ""
        return AlreadyExistsError(
            f"cannot {doing}: a row with the same key or unique value exists already{named}"
            f"{told}; nothing was written",
            constraint=constraint,
        )

    def unavailable(self, error: BaseException, doing: str) -> DatabaseUnavailableError:
        """The error saying the database could not be reached to do ``doing``, and why."""
        cause: BaseException = error
        if isinstance(error, exc.DBAPIError) and error.orig is not None:
            # asyncpg's own error, which SQLAlchemy's adapter raised its DB-API error from.
            cause = error.orig.__cause__ or error.orig
        detail = f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
        url = self._url
        if url is not None and url.get_backend_name() == "sqlite":
            return DatabaseUnavailableError(
                f"cannot open the SQLite database {url.database} to {doing}: {detail}. Check "
                "that its directory exists and is writable and that the file is a SQLite "
                f"database; {self.flags}url or {self.flags}data-dir choose another"
            )
        host = url.host if url is not None and url.host else "localhost"
        port = url.port if url is not None and url.port else 5432
        name = (url.database or url.username) if url is not None else None
        sqlstate = getattr(cause, "sqlstate", None)
        if isinstance(sqlstate, str) and (sqlstate.startswith("28") or sqlstate == "3D000"):
            # PostgreSQL answered: it refused the role, the password or the database's name.
            return DatabaseUnavailableError(
                f"PostgreSQL at {host}:{port} refused to {doing}: {detail}. Check the user, "
                f"password and database name in {self.flags}url ({self.where})"
            )
        return DatabaseUnavailableError(
            f"cannot reach PostgreSQL at {host}:{port} to {doing}: {detail}. Is PostgreSQL "
            f"running on {host}:{port}, and does database {name!r} exist? Check {self.flags}url "
            f"({self.where})"
        )


def _out_of_range(error: Exception) -> bool:
    """Whether ``error`` refused a value too big for its column.

    sqlite3 raises OverflowError binding an integer past 64 bits, and asyncpg one past its
    column's type (raised from the driver's error); PostgreSQL answers SQLSTATE 22003.
    """
    if isinstance(error, exc.DBAPIError) and _codes(error)[0] == "22003":
        return True
    seen: BaseException | None = error
    for _ in range(5):  # the error, the driver's, and what each was raised from
        if seen is None:
            return False
        if isinstance(seen, OverflowError):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


class _ValuesHidden(logging.Filter):
    """Takes the values out of the records SQLAlchemy and aiosqlite write at DEBUG.

    With ``--log-libraries debug``, SQLAlchemy logs each row a query returns, and aiosqlite
    each call it makes with its parameters: the application's data, a password's hash, the
    token service's private signing keys. ``hide_parameters`` keeps the values out of
    SQLAlchemy's statements; this keeps them out of those records, which still say what was
    run.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Row %r":
            record.args = ("[values hidden]",)
        elif record.name == "aiosqlite" and isinstance(record.args, tuple) and record.args:
            record.args = tuple(_call_without_values(arg) for arg in record.args)
        return True


def _call_without_values(arg: object) -> object:
    """An aiosqlite call as its logs show it, its statement kept and its values left out."""
    if not isinstance(arg, functools.partial):
        return arg
    statement = next((item for item in arg.args if isinstance(item, str)), None)
    name = getattr(arg.func, "__name__", "call")
    return f"{name}({statement!r}, [values hidden])" if statement else f"{name}([values hidden])"


_LIBRARY_LOGGERS = ("sqlalchemy.engine.Engine", "aiosqlite")


def _hide_values_from_library_logs() -> None:
    """Put :class:`_ValuesHidden` on the loggers that write values, once for the process."""
    for name in _LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        if not any(isinstance(each, _ValuesHidden) for each in library.filters):
            library.addFilter(_ValuesHidden())


def _reason(error: BaseException) -> str:
    """What the driver, or the conversion of a value, said: not SQLAlchemy's rendering of it.

    SQLAlchemy's message adds the statement and its parameters, which are no caller's to
    read (a users table's password hashes, other columns' values, the schema).
    """
    while isinstance(error, exc.StatementError) and error.orig is not None:
        error = error.orig
    return str(error)


def _codes(error: exc.DBAPIError) -> tuple[str | None, int | None]:
    """The SQLSTATE (asyncpg) and the extended result code (sqlite3) of a driver's error."""
    sqlstate, code = (
        getattr(error.orig, "sqlstate", None),
        getattr(error.orig, "sqlite_errorcode", None),
    )
    return (
        sqlstate if isinstance(sqlstate, str) else None,
        code if isinstance(code, int) else None,
    )


def _unreachable(error: Exception) -> bool:
    """Whether ``error`` says the database is out of reach, rather than the statement wrong."""
    if isinstance(error, (OSError, exc.TimeoutError)):  # TimeoutError is an OSError
        return True
    if not isinstance(error, exc.DBAPIError):
        return False
    if error.connection_invalidated or isinstance(error, exc.InterfaceError):
        return True
    sqlstate, code = _codes(error)
    if code is not None:
        return code & 0xFF in _SQLITE_UNREACHABLE
    return (sqlstate or "")[:2] in _UNREACHABLE_SQLSTATE_CLASSES


class _RelayLock:
    """An exclusive lock on ``<file>.relay-lock``: held by the one relay of a SQLite file."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._descriptor: int | None = None
        self._told = False

    def held(self) -> bool:
        """Whether this process's relay holds the lock, taking it if it is free."""
        if self._descriptor is not None:
            return True
        import fcntl  # noqa: PLC0415 - POSIX; loaded by the first SQLite claim

        descriptor = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            if not self._told:
                logger.info(
                    "another relay holds %s; this one claims nothing while it does", self._path
                )
                self._told = True
            return False
        self._descriptor = descriptor
        return True

    def release(self) -> None:
        """Let another relay take the file's outbox."""
        if self._descriptor is not None:
            os.close(self._descriptor)  # closing it releases the lock
            self._descriptor = None
            self._told = False


def _check_criteria(mapping: Mapping, criteria: dict[str, object]) -> None:
    mapper: orm.Mapper[Any] = sa.inspect(mapping.aggregate)
    mapped = set(mapper.column_attrs.keys())
    unknown = sorted(set(criteria) - mapped)
    if unknown:
        raise PersistenceError(
            f"{mapping.aggregate.__qualname__} has no attribute {', '.join(unknown)} "
            f"to find by; its attributes are {', '.join(sorted(mapped))}"
        )


def _named(mapping: Mapping) -> str:
    return f"{mapping.aggregate.__qualname__} (table {mapping.table.name})"


def _driver_url(text: str) -> sa.URL:
    """``text`` as the URL of the async driver: ``postgres://`` is ``postgresql+asyncpg://``."""
    expected = "postgresql+asyncpg://user:password@host:5432/name or sqlite+aiosqlite:///file.db"
    try:
        url = sa.make_url(text)
    except exc.ArgumentError:
        # The text is not shown: it may hold a password.
        raise ConfigError(
            f"the database URL cannot be read as a URL; expected {expected}"
        ) from None
    driver = _DRIVERS.get(url.drivername)
    if driver is None:
        raise ConfigError(
            f"the database URL's scheme is {url.drivername!r}, which the SQL adapter does not "
            f"speak; it reads PostgreSQL through asyncpg and SQLite through aiosqlite: {expected}"
        )
    url = url.set(drivername=driver)
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise ConfigError(
            "the SQLite database of the URL is in memory, which lives in one connection that "
            "concurrent units of work cannot share; name a file (sqlite+aiosqlite:///file.db), "
            "or use memory:// for atoll's in-memory database"
        )
    return url


def _make_directory(url: sa.URL, errors: _Errors) -> None:
    if url.query.get("uri"):
        return  # a file: URI (``?mode=ro&uri=true``), which SQLite reads itself
    directory = Path(url.database or "").parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise errors.unavailable(error, f"create its directory {directory}") from error


def _limit(seconds: float) -> float | None:
    """A timeout from the options: 0 is none of atoll's (the driver's own, if any, applies)."""
    return seconds if seconds > 0 else None


def _sqlite_pragmas(
    options: DatabaseOptions,
) -> Callable[[DBAPIConnection, ConnectionPoolEntry], None]:
    """What each new SQLite connection is set up with: WAL, a busy timeout, foreign keys."""
    # WAL lets readers go on while one writes; the busy timeout makes a writer wait for
    # another's commit, up to the connect timeout, before it is a conflict (0: no limit).
    timeout = _limit(options.connect_timeout)
    busy = 2**31 - 1 if timeout is None else round(timeout * 1000)

    def on_connect(connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        cursor = connection.cursor()
        try:
            for pragma in ("journal_mode=WAL", f"busy_timeout={busy}", "foreign_keys=ON"):
                cursor.execute(f"PRAGMA {pragma}")
        finally:
            cursor.close()

    return on_connect
