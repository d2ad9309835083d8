"""The Alembic adapter: one service's database migrations, run from code, without alembic.ini.

``atoll db`` drives it; code may too::

    migrations = Migrations(schema, "postgresql+asyncpg://app@db/runnerly", "runs")
    migrations.revision("add distance")     # writes migrations/versions/..._add_distance.py
    migrations.upgrade()                    # to the head

Each service keeps its migrations in its schema's ``migrations`` directory, and its place in
them in a version table of its own, ``alembic_version_<service>``, so that several services may
share one database. The directory's ``env.py`` (written from this package's template by the
first ``revision``) calls :func:`run_migrations`, which reads everything it needs from the
``config.attributes`` set here: the URL, the schema's metadata with atoll's own tables
(outbox, inbox, API tokens, idempotency keys, leases), and the version table.

The commands are synchronous, as Alembic's are: ``env.py`` runs an event loop of its own for the
async engine. From async code, call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import sqlite3
from argparse import Namespace
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from alembic import command, context
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import MetaData, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from atoll.adapters.sqlalchemy.api_tokens import add_api_token_table
from atoll.adapters.sqlalchemy.idempotency import add_idempotency_table
from atoll.adapters.sqlalchemy.leases import add_lease_table
from atoll.adapters.sqlalchemy.outbox import add_outbox_tables
from atoll.errors import ConfigError, DatabaseUnavailableError

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator, Mapping

    from alembic.operations.ops import MigrationScript
    from alembic.runtime.migration import MigrationContext, MigrationInfo
    from sqlalchemy.engine import Connection

    from atoll.persistence.schema import Schema

__all__ = ["TEMPLATE", "Migrated", "Migrations", "NewRevision", "Step", "run_migrations"]

TEMPLATE = Path(__file__).with_name("alembic_template")
"""The files a service's migrations directory starts with: ``env.py`` and ``script.py.mako``."""

_ATTRIBUTE = "atoll.migrations"
"""The key of ``config.attributes`` under which ``env.py`` finds what atoll tells it."""

# Sortable by name, so that a listing of versions/ reads in the order they were written.
_FILE_TEMPLATE = "%%(year)d%%(month).2d%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s"

_ASYNC_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}
"""The async driver of each backend whose URL names none; migrations run on the async engine."""


@dataclass(frozen=True, slots=True)
class Step:
    """One migration applied or undone.

    Attributes:
        revision: the migration's revision id.
        message: what it does, as its ``revision -m`` said.
        upgrade: True when it was applied, False when it was undone.
    """

    revision: str
    message: str
    upgrade: bool


@dataclass(frozen=True, slots=True)
class Migrated:
    """What an upgrade or a downgrade did, and where it left the database.

    Attributes:
        steps: the migrations applied or undone, in the order they ran.
        current: the revisions the database is at now; none at the base.
        heads: the newest revisions of the migrations directory.
    """

    steps: tuple[Step, ...]
    current: tuple[str, ...]
    heads: tuple[str, ...]

    @property
    def at_head(self) -> bool:
        """Whether the database is at every head: nothing is left to upgrade."""
        return set(self.current) == set(self.heads)


@dataclass(frozen=True, slots=True)
class NewRevision:
    """A migration that ``revision`` wrote.

    Attributes:
        revision: its revision id.
        message: its message.
        path: its file, in the ``versions`` directory.
    """

    revision: str
    message: str
    path: Path


@dataclass
class _Environment:
    """What ``env.py`` needs to run, and what it found out while running."""

    url: URL
    safe_url: str
    service: str
    metadata: MetaData
    version_table: str
    connect_args: dict[str, Any]
    steps: list[Step] = field(default_factory=list)
    current: tuple[str, ...] = ()

    def record(
        self,
        *,
        ctx: MigrationContext,  # noqa: ARG002 - alembic passes each by name
        step: MigrationInfo,
        heads: Collection[Any],  # noqa: ARG002 - as above
        run_args: Mapping[str, Any],  # noqa: ARG002 - as above
    ) -> None:
        """Note a migration that ran: alembic's ``on_version_apply`` callback."""
        # The revision is alembic's Script, which has the message as its doc.
        message = getattr(step.up_revision, "doc", None) or ""
        self.steps.append(Step(step.up_revision_id or "", message, step.is_upgrade))

    def unavailable(self, reason: object) -> DatabaseUnavailableError:
        """The error for a database that cannot be reached, for ``reason``."""
        return DatabaseUnavailableError(
            f"cannot connect to the database of {self.service} at {self.safe_url}: {reason}; "
            "check that the database is running and reachable from here, and that the URL "
            "(--db-url, or --<service>-db-url in a system) names it"
        )

    def include_name(
        self, name: str | None, type_: str, parent_names: Mapping[str, str | None]
    ) -> bool:
        """Whether autogenerate compares this object: only the tables of this service's schema.

        Other services may keep their tables (and their version tables) in the same database;
        comparing them with this service's metadata would write migrations dropping them.
        """
        if type_ != "table":
            return True
        schema = parent_names.get("schema_name")
        return (f"{schema}.{name}" if schema else name) in self.metadata.tables


class Migrations:
    """Alembic's commands for the database of one service.

    Args:
        schema: the service's schema: its metadata and its migrations directory.
        url: the database's URL, as the service connects to it (``DatabaseOptions.url_for``);
            ``None`` for :meth:`history` alone, which reads only the directory. A URL naming
            no driver gets the async one (``postgresql://`` becomes ``postgresql+asyncpg://``).
        service: the service's name; its version table is ``alembic_version_<service>``.
        connect_timeout: seconds to wait for a PostgreSQL connection.

    Raises:
        ConfigError: the schema has no metadata or no migrations directory, or the URL is not
            one of a SQL database.
    """

    def __init__(
        self,
        schema: Schema,
        url: str | None,
        service: str,
        *,
        connect_timeout: float = 5.0,
    ) -> None:
        if not isinstance(schema.metadata, MetaData):
            raise ConfigError(
                f"the schema of service {service!r} has no sqlalchemy.MetaData "
                f"(got {schema.metadata!r:.60}), so there is nothing to migrate; declare it as "
                'Schema(metadata, migrations=Path(__file__).parent / "migrations")'
            )
        if schema.migrations is None:
            raise ConfigError(
                f"the schema of service {service!r} names no migrations directory; declare it "
                'as Schema(metadata, migrations=Path(__file__).parent / "migrations")'
            )
        self.schema = schema
        self.service = service
        self.directory = schema.migrations
        self.version_table = "alembic_version_" + re.sub(r"[^a-z0-9_]", "_", service.lower())
        self.connect_timeout = connect_timeout
        self._url = None if url is None else _async_url(url, service)

    @property
    def url(self) -> str | None:
        """The URL migrations connect to, password included."""
        return None if self._url is None else self._url.render_as_string(hide_password=False)

    @property
    def safe_url(self) -> str:
        """The URL migrations connect to, with its password masked: what messages show."""
        return "(no database URL)" if self._url is None else _masked(self._url)

    def __repr__(self) -> str:
        return f"Migrations({self.service!r}, {self.safe_url!r}, {str(self.directory)!r})"

    # -- the commands --------------------------------------------------------------------------

    def upgrade(self, revision: str = "head") -> Migrated:
        """Apply the migrations up to ``revision`` (the head, or ``+1``, or a revision id).

        Raises:
            ConfigError: the migrations directory is missing, or alembic refuses ``revision``.
            DatabaseUnavailableError: the database cannot be reached.
        """
        return self._migrate(command.upgrade, "upgrade", revision)

    def downgrade(self, revision: str) -> Migrated:
        """Undo the migrations down to ``revision`` (``-1``, ``base``, or a revision id).

        Raises:
            ConfigError: the migrations directory is missing, or alembic refuses ``revision``.
            DatabaseUnavailableError: the database cannot be reached.
        """
        return self._migrate(command.downgrade, "downgrade", revision)

    def current(self) -> tuple[str, ...]:
        """The revisions the database is at; none at the base.

        Raises:
            ConfigError: the migrations directory is missing.
            DatabaseUnavailableError: the database cannot be reached.
        """
        self._require_directory("read the revision of the database")
        config, environment = self._config_with_environment()
        with self._refused("read the current revision"):
            command.current(config)
        return environment.current

    def heads(self) -> tuple[str, ...]:
        """The newest revisions of the migrations directory; none before the first revision.

        Raises:
            ConfigError: the migrations directory is missing.
        """
        self._require_directory("read the heads of the migrations")
        return tuple(ScriptDirectory.from_config(self.config()).get_heads())

    def history(self) -> str:
        """The migrations, newest first, one a line as ``alembic history`` prints them.

        Raises:
            ConfigError: the migrations directory is missing.
        """
        self._require_directory("list the migrations")
        output = StringIO()
        command.history(self.config(stdout=output))
        return output.getvalue()

    def revision(self, message: str, *, autogenerate: bool = True) -> NewRevision | None:
        """Write a new migration, comparing the schema with the database when ``autogenerate``.

        The migrations directory is created first if it does not exist (see
        :meth:`create_directory`). An autogenerated revision needs the database at the head.

        Returns:
            The new migration; ``None`` when autogenerate found the database already matching
            the schema, so that there was nothing to write.

        Raises:
            ConfigError: the database is not at the head, or alembic refuses.
            DatabaseUnavailableError: the database cannot be reached (autogenerate only,
                which also needs the URL).
        """
        self.create_directory()
        # Only autogenerate reads the database: an empty revision is written without its URL.
        config = self._config_with_environment()[0] if autogenerate else self.config()
        try:
            with self._refused("write a revision"):
                written = command.revision(
                    config,
                    message=message,
                    autogenerate=autogenerate,
                    process_revision_directives=_skip_empty if autogenerate else None,
                )
        except ConfigError:
            current, heads = self.current(), self.heads()
            if set(current) != set(heads):
                raise ConfigError(
                    f"the database of {self.service} at {self.safe_url} is at "
                    f"{_revisions(current)}, not at the head {_revisions(heads)}: autogenerate "
                    "compares the schema with a database that has every migration; run "
                    "`atoll db upgrade` first, then the revision again"
                ) from None
            raise
        if not isinstance(written, list) and written is not None:
            return NewRevision(written.revision, message, Path(written.path))
        return None

    # -- the directory -------------------------------------------------------------------------

    def create_directory(self) -> list[Path]:
        """Create whichever of the migrations directory's parts is missing, from the template.

        The parts are ``env.py``, ``script.py.mako`` and ``versions/``; what is there already
        (an ``env.py`` of the service's own) is kept.

        Returns:
            The paths created; none when the directory was complete.
        """
        created: list[Path] = []
        if not self.directory.exists():
            created.append(self.directory)
        versions = self.directory / "versions"
        if not versions.is_dir():
            versions.mkdir(parents=True)
            created.append(versions)
        for name in ("env.py", "script.py.mako"):
            path = self.directory / name
            if not path.exists():
                shutil.copyfile(TEMPLATE / name, path)
                created.append(path)
        return created

    def config(self, *, stdout: TextIO | None = None) -> Config:
        """The in-memory Alembic configuration of this service's migrations.

        For the commands atoll does not wrap (``alembic.command.stamp``, ``show``, ``merge``):
        its attributes tell ``env.py`` what to migrate.

        Args:
            stdout: where the commands that print (``history``, ``current``) write; with
                none, they print nothing.
        """
        quiet = stdout is None
        config = Config(stdout=stdout or StringIO(), cmd_opts=Namespace(quiet=quiet))
        config.set_main_option("script_location", str(self.directory))
        config.set_main_option("path_separator", "os")  # the default's warning names it
        config.set_main_option("file_template", _FILE_TEMPLATE)
        if self._url is not None:
            config.attributes[_ATTRIBUTE] = self._environment(self._url)
        return config

    # -- inside --------------------------------------------------------------------------------

    def _environment(self, url: URL) -> _Environment:
        metadata: MetaData = self.schema.metadata
        add_outbox_tables(metadata)  # atoll's own tables are migrated with the service's
        add_api_token_table(metadata)
        add_idempotency_table(metadata)
        add_lease_table(metadata)
        connect_args: dict[str, Any] = (
            {"timeout": self.connect_timeout} if url.drivername == "postgresql+asyncpg" else {}
        )
        return _Environment(
            url, _masked(url), self.service, metadata, self.version_table, connect_args
        )

    def _config_with_environment(self) -> tuple[Config, _Environment]:
        if self._url is None:
            raise ConfigError(
                f"no database URL was given for service {self.service!r}; pass the one it "
                "connects to: Migrations(schema, options.url_for(service), service)"
            )
        config = self.config()
        environment: _Environment = config.attributes[_ATTRIBUTE]
        return config, environment

    def _migrate(self, run: Callable[[Config, str], None], verb: str, revision: str) -> Migrated:
        self._require_directory(f"{verb} the database")
        config, environment = self._config_with_environment()
        with self._refused(f"{verb} to {revision!r}"):
            run(config, revision)
        heads = tuple(ScriptDirectory.from_config(config).get_heads())
        return Migrated(tuple(environment.steps), environment.current, heads)

    def _require_directory(self, doing: str) -> None:
        if not (self.directory / "env.py").is_file():
            raise ConfigError(
                f"cannot {doing} of {self.service}: it has no migrations in "
                f"{self.directory} (no env.py there); write the first with "
                '`atoll db revision MODULE:OBJECT -m "first"`, which creates the directory'
            )

    @contextlib.contextmanager
    def _refused(self, what: str) -> Iterator[None]:
        try:
            yield
        except CommandError as error:
            raise ConfigError(
                f"alembic cannot {what} for {self.service} (database {self.safe_url}): "
                f"{error}; list the revisions with `atoll db history MODULE:OBJECT`"
            ) from error


def _skip_empty(
    _context: MigrationContext, _revision: object, directives: list[MigrationScript]
) -> None:
    """Write no migration when autogenerate found nothing to change."""
    if all(ops.is_empty() for script in directives for ops in script.upgrade_ops_list):
        directives.clear()


def _revisions(revisions: tuple[str, ...]) -> str:
    return ", ".join(revisions) or "base"


def _async_url(url: str, service: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"the database URL of {service} is not a URL ({_masked_text(url)}); write it like "
            "postgresql+asyncpg://user:password@host/name or sqlite+aiosqlite:///path.db"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend not in _ASYNC_DRIVERS:
        raise ConfigError(
            f"the database of {service} is {_masked(parsed)}, which keeps no tables to migrate; "
            "migrations need PostgreSQL (postgresql+asyncpg://user@host/name) or SQLite "
            "(sqlite+aiosqlite:///path.db): give the service one with its --db-url option"
        )
    if not driver:
        return parsed.set(drivername=_ASYNC_DRIVERS[backend])
    if backend == "postgres":  # SQLAlchemy knows PostgreSQL only by its full name
        return parsed.set(drivername=f"postgresql+{driver}")
    return parsed


def _masked(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _masked_text(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _open_sqlite_file(environment: _Environment) -> None:
    """Create the directory of a SQLite database file, and check that the file opens.

    SQLite creates no directory. And aiosqlite (0.22), failing to open a file, leaves its
    thread to report on the event loop once it is closed: the failure is found here, first.

    Raises:
        DatabaseUnavailableError: the directory cannot be created, or the file opened.
    """
    url = environment.url
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database.startswith(":"):
        return
    if database.startswith("file:"):  # a URI filename: SQLite reads it, atoll leaves it alone
        return
    path = Path(database)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sqlite3.connect(path).close()
    except (OSError, sqlite3.Error) as error:
        raise environment.unavailable(error) from error


# -- env.py --------------------------------------------------------------------------------------


def run_migrations(**options: Any) -> None:
    """Run what alembic asks for on the database atoll named, with the async engine.

    The ``env.py`` of each service's migrations calls it. The URL, metadata and version table
    come from ``config.attributes``; on SQLite, migrations are rendered in batch mode, so that
    an ``ALTER`` SQLite cannot do is done by copying the table.

    Args:
        **options: more keyword arguments for alembic's ``context.configure``, over atoll's.

    Raises:
        ConfigError: ``env.py`` was run by alembic's own command line, which knows no schema.
        DatabaseUnavailableError: the database cannot be reached.
    """
    environment = context.config.attributes.get(_ATTRIBUTE)
    if not isinstance(environment, _Environment):
        raise ConfigError(
            "this env.py runs under `atoll db`, which tells it the database, the schema and the "
            "version table; run `atoll db upgrade MODULE:OBJECT` rather than `alembic upgrade` "
            "(or pass alembic the config of "
            "atoll.adapters.sqlalchemy.migrations.Migrations.config())"
        )
    _open_sqlite_file(environment)
    asyncio.run(_run_online(environment, options))


async def _run_online(environment: _Environment, options: dict[str, Any]) -> None:
    engine = create_async_engine(
        environment.url, poolclass=NullPool, connect_args=environment.connect_args
    )
    try:
        try:
            connection = await engine.connect()
        except (OSError, DBAPIError) as error:
            reason = error.orig if isinstance(error, DBAPIError) else error
            raise environment.unavailable(reason) from error
        try:
            await connection.run_sync(_run_sync, environment, options)
        finally:
            await connection.close()
    finally:
        await engine.dispose()


def _run_sync(connection: Connection, environment: _Environment, options: dict[str, Any]) -> None:
    context.configure(
        **{
            "connection": connection,
            "target_metadata": environment.metadata,
            "version_table": environment.version_table,
            "render_as_batch": connection.dialect.name == "sqlite",
            "include_name": environment.include_name,
            "on_version_apply": environment.record,
            **options,
        }
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Instances that start together migrate one after the other: the second finds the
            # database at the head. The lock is the transaction's, released with it.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:table))"),
                {"table": environment.version_table},
            )
        context.run_migrations()
        environment.current = tuple(context.get_context().get_current_heads())
