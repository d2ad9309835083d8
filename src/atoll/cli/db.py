"""``atoll db``: migrate a service's database with Alembic.

::

    atoll db revision runnerly.runs.service:service -m "add distance"
    atoll db upgrade runnerly.runs.service:service --db-url postgresql+asyncpg://app@db/runs
    atoll db downgrade runnerly.system:system -1 --service runs --runs-db-url ...
    atoll db current runnerly.runs.service:service
    atoll db history runnerly.runs.service:service

TARGET is MODULE:OBJECT, a service or a system (or a function returning one). The arguments
after it (after the REVISION of ``upgrade`` and ``downgrade``) are the application's own
options, read with its environment and config file exactly as ``atoll run`` reads them: the
database migrated is the one the service would connect to. In a system, ``--service NAME``
picks the service when more than one has a database.

Exit status: 0 when done, 2 for a usage or configuration error, 1 when the migration failed
(the database is out of reach, a migration raised); the message names the service and the
database, never its password.
"""

from __future__ import annotations

import os
import shlex
from typing import TYPE_CHECKING

import click

from atoll.cli.reporting import reported
from atoll.cli.run import load_target
from atoll.errors import MissingDependencyError, TargetError
from atoll.kernel.app import AppLike
from atoll.kernel.entrypoint import load_config
from atoll.kernel.options import masked_url
from atoll.persistence.options import database_section
from atoll.service.composition import compose_target
from atoll.service.definition import ServiceDefinition
from atoll.service.system import SystemDefinition, services_of

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from atoll.adapters.sqlalchemy.migrations import Migrated, Migrations
    from atoll.persistence.declaration import DatabaseDeclaration

__all__ = ["db", "load_service_target", "service_with_database"]

_WITH_APP_OPTIONS = {
    "ignore_unknown_options": True,
    "allow_extra_args": True,
    "help_option_names": ["-h", "--help"],
}
"""Commands whose arguments after TARGET are the application's options, which click keeps."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def db() -> None:
    """Migrate a service's database: write, apply and undo its Alembic migrations.

    Each service's migrations live in the directory its Schema names (migrations=...), and
    its place in them in its own version table, alembic_version_<service>.
    """


def _target_arguments(metavar: str | None) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """TARGET, ``--service``, and the arguments after TARGET (none when ``metavar`` is None)."""

    def decorate(function: Callable[..., None]) -> Callable[..., None]:
        function = click.pass_context(function)
        function = click.option(
            "--service",
            "service_name",
            metavar="NAME",
            help="The service whose database to migrate, in a system of several with one.",
        )(function)
        if metavar is not None:
            function = click.argument(
                "arguments", nargs=-1, type=click.UNPROCESSED, metavar=metavar
            )(function)
        return click.argument("target", metavar="MODULE:OBJECT")(function)

    return decorate


@db.command(context_settings=_WITH_APP_OPTIONS)
@_target_arguments("[REVISION] [APP OPTIONS]...")
def upgrade(
    context: click.Context, target: str, arguments: tuple[str, ...], service_name: str | None
) -> None:
    """Apply TARGET's migrations up to REVISION.

    REVISION is the head by default, +1 for the next one, or a revision id; if given, it comes
    right after TARGET. The options after it are the application's (--db-url, or
    --<service>-db-url in a system), read as `atoll run` reads them: list them with
    `atoll run MODULE:OBJECT --help`.
    """
    revision, options = _split_revision(arguments, required=False)
    with reported(context, f"atoll db upgrade {target}"):
        migrations = _migrations(target, service_name, options, "upgrade")
        done = migrations.upgrade(revision or "head")
        _echo_migrated(migrations, done, "upgrade")


@db.command(context_settings=_WITH_APP_OPTIONS)
@_target_arguments("REVISION [APP OPTIONS]...")
def downgrade(
    context: click.Context, target: str, arguments: tuple[str, ...], service_name: str | None
) -> None:
    """Undo TARGET's migrations down to REVISION.

    REVISION is -1 for the last one, base for all of them, or a revision id; it comes right
    after TARGET. The options after it are the application's, as for upgrade.
    """
    revision, options = _split_revision(arguments, required=True)
    with reported(context, f"atoll db downgrade {target}"):
        migrations = _migrations(target, service_name, options, "downgrade")
        done = migrations.downgrade(revision or "")
        _echo_migrated(migrations, done, "downgrade")


@db.command(context_settings=_WITH_APP_OPTIONS)
@_target_arguments("[APP OPTIONS]...")
@click.option("-m", "--message", required=True, help="What the migration does: 'add distance'.")
@click.option(
    "--empty",
    is_flag=True,
    help="Write a migration to fill in by hand, without comparing with the database.",
)
def revision(
    context: click.Context,
    target: str,
    arguments: tuple[str, ...],
    service_name: str | None,
    message: str,
    *,
    empty: bool,
) -> None:
    """Write a migration of TARGET's schema.

    It is autogenerated by comparing the schema's tables (and atoll's outbox and inbox) with
    the database, which must have every migration applied; --empty writes one to fill in by
    hand. The first revision creates the migrations directory. The options after TARGET are
    the application's, as for upgrade.
    """
    with reported(context, f"atoll db revision {target}"):
        migrations = _migrations(target, service_name, arguments, "revision")
        for path in migrations.create_directory():
            click.echo(f"{migrations.service}: created {path}")
        written = migrations.revision(message, autogenerate=not empty)
        if written is None:
            click.echo(
                f"{migrations.service}: {migrations.safe_url} matches the schema; no revision "
                "written (--empty writes one to fill in by hand)"
            )
            return
        click.echo(
            f"{migrations.service}: wrote revision {written.revision} ({written.message}) "
            f"to {written.path}"
        )
        if not empty:
            click.echo(
                f"  compared with {migrations.safe_url}; read it through, then apply it with "
                f"`{_upgrade_command(target, service_name, arguments)}`"
            )


@db.command(context_settings=_WITH_APP_OPTIONS)
@_target_arguments("[APP OPTIONS]...")
def current(
    context: click.Context, target: str, arguments: tuple[str, ...], service_name: str | None
) -> None:
    """Show the revision TARGET's database is at.

    And whether it is the head. The options after TARGET are the application's, as for
    upgrade.
    """
    with reported(context, f"atoll db current {target}"):
        migrations = _migrations(target, service_name, arguments, "current")
        at, heads = migrations.current(), migrations.heads()
        line = f"{migrations.service}: {migrations.safe_url} is at {_revisions(at, heads)}"
        if set(at) != set(heads):
            line += (
                f"; the head is {', '.join(heads)}: "
                f"`{_upgrade_command(target, service_name, arguments)}` applies the rest"
            )
        click.echo(line)


@db.command(context_settings={"help_option_names": ["-h", "--help"]})
@_target_arguments(None)
def history(context: click.Context, target: str, service_name: str | None) -> None:
    """List TARGET's migrations, newest first.

    Only the migrations directory is read, not the database: no application option is needed.
    """
    with reported(context, f"atoll db history {target}"):
        migrations = _migrations(target, service_name, None, "history")
        text = migrations.history()
        click.echo(f"{migrations.service}: migrations in {migrations.directory}")
        click.echo(text.rstrip("\n") or "  (none yet)")


# -- helpers of the commands --------------------------------------------------------------------


def _split_revision(arguments: Sequence[str], *, required: bool) -> tuple[str | None, list[str]]:
    """REVISION, right after TARGET, and the application's options after it.

    A downgrade's REVISION may be ``-1``; only a long option (``--db-url``) is never one.
    """
    first = arguments[0] if arguments else None
    if first is not None and not first.startswith("--") and (required or first[:1] != "-"):
        return first, list(arguments[1:])
    if required:
        raise click.UsageError(
            "downgrade needs a REVISION right after MODULE:OBJECT: -1 (the last migration), "
            "base (every one), or a revision id from `atoll db history`"
        )
    return None, list(arguments)


def _migrations(
    target: str, service_name: str | None, options: Sequence[str] | None, command: str
) -> Migrations:
    """The migrations of the service of ``target``, at the URL its ``options`` give.

    Raises:
        TargetError: the target names nothing, or nothing with a database.
        ConfigError: an option is wrong; the schema names no migrations.
        click.exceptions.Exit: the application's ``--version`` printed what was asked.
    """
    obj = load_service_target(target, "atoll db migrates the database of")
    service, declaration, section = service_with_database(obj, target, service_name)
    migrations_class = _migrations_class()
    if options is None:
        return migrations_class(declaration.schema, None, service.name)
    app = compose_target(obj, serve=False)
    try:
        config = load_config(app, options, os.environ, prog=f"atoll db {command} {target}")
    except SystemExit as done:  # the application's --version printed what was asked
        raise click.exceptions.Exit(done.code if isinstance(done.code, int) else 0) from None
    database = config.section(section)
    return migrations_class(
        declaration.schema,
        database.url_for(service.name),
        service.name,
        connect_timeout=database.connect_timeout,
    )


def load_service_target(
    target: str, doing: str
) -> ServiceDefinition | SystemDefinition[ServiceDefinition]:
    """The service or system ``target`` names, made by its factory if it names one.

    Raises:
        TargetError: ``target`` names nothing, or something else; ``doing`` says what the
            command does with one (``"atoll db migrates the database of"``).
    """
    obj = load_target(target)
    while callable(obj) and not isinstance(obj, type | AppLike):
        obj = obj()  # a factory, as `atoll run` accepts: the service is what it returns
    if not isinstance(obj, ServiceDefinition | SystemDefinition):
        raise TargetError(
            f"{target!r} is {type(obj).__name__} {obj!r:.60}; {doing} "
            "an atoll.Service, or of a service in an atoll.System"
        )
    return obj


def service_with_database(
    obj: ServiceDefinition | SystemDefinition[ServiceDefinition], target: str, name: str | None
) -> tuple[ServiceDefinition, DatabaseDeclaration, str]:
    """The service whose database to migrate, its declaration, and its options section.

    Raises:
        TargetError: no service has a database, several have and none is named, or the one
            named has none.
    """
    services = services_of(obj)
    declared = {s.name: (s, s.database_declaration) for s in services}
    with_database = [n for n, (_, declaration) in declared.items() if declaration is not None]
    if name is None and not with_database:
        raise TargetError(
            f"{target!r} keeps no database; declare one with service.database(schema), "
            "whose Schema names the migrations directory"
        )
    if name is None and len(with_database) > 1:
        raise TargetError(
            f"{target!r} has {len(with_database)} services with a database "
            f"({', '.join(with_database)}); pick one with --service NAME"
        )
    name = name if name is not None else with_database[0]
    service, declaration = declared.get(name, (None, None))
    if service is None or declaration is None:
        raise TargetError(
            f"{target!r} has no service {name!r} with a database; "
            f"those with one: {', '.join(with_database) or 'none'}"
        )
    section = database_section(name, alone=isinstance(obj, ServiceDefinition))
    return service, declaration, section


def _migrations_class() -> type[Migrations]:
    """The Alembic adapter, imported when a command runs: `atoll run` needs no Alembic.

    Raises:
        MissingDependencyError: Alembic or SQLAlchemy is not installed.
    """
    try:
        from atoll.adapters.sqlalchemy.migrations import Migrations  # noqa: PLC0415 - see above
    except ModuleNotFoundError as error:
        library = (error.name or "").partition(".")[0]
        if library not in {"alembic", "sqlalchemy"}:
            raise
        raise MissingDependencyError(library, "sql") from error
    return Migrations


def _echo_migrated(migrations: Migrations, done: Migrated, verb: str) -> None:
    where = f"{migrations.service}: {migrations.safe_url}"
    at = _revisions(done.current, done.heads)
    if not done.steps:
        click.echo(f"{where} is at {at} already; nothing to {verb}")
        return
    click.echo(f"{where}: {verb}d to {at}")
    for step in done.steps:
        sign = "+" if step.upgrade else "-"
        click.echo(f"  {sign} {step.revision}  {step.message}".rstrip())


def _upgrade_command(target: str, service_name: str | None, arguments: Sequence[str]) -> str:
    """The upgrade of the same database: the application's options as given, passwords masked."""
    service = f" --service {service_name}" if service_name is not None else ""
    options = "".join(f" {shlex.quote(masked_url(argument))}" for argument in arguments)
    return f"atoll db upgrade {target}{service}{options}"


def _revisions(revisions: Sequence[str], heads: Sequence[str]) -> str:
    if not revisions:
        return "base (no migration applied)"
    text = ", ".join(revisions)
    return f"{text} (head)" if set(revisions) == set(heads) else text
