"""``atoll new``: a project with one service in four layers, whose tests pass at once.

::

    atoll new tally
    atoll new tally --broker nats --database postgres --with-ui --directory ~/src/tally

NAME is the project's, its package's and its service's: lower-case letters, digits and
underscores, starting with a letter. The project is written into ``--directory`` (``./NAME``
by default), which must be new or empty: nothing is overwritten. ``--broker`` and
``--database`` choose what its configuration file (``NAME.toml``) names and the extras its
lock installs; its tests run on atoll's in-memory broker and database whatever they are.

Exit status: 0 when the project is written, 2 for a usage error (a name refused, a directory
not empty), 1 when writing failed (the directory cannot be written, the disk is full): then
nothing is left of the project, and the same command may run again.
"""

from __future__ import annotations

from pathlib import Path

import click

from atoll.errors import ConfigError
from atoll.kernel.entrypoint import EXIT_FAILURE
from atoll.scaffold.project import BROKERS, DATABASES, ProjectPlan, create_project

__all__ = ["new"]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("name")
@click.option(
    "--broker",
    type=click.Choice([broker for broker in BROKERS if broker != "memory"]),
    help="the broker of the configuration; atoll's in-memory broker when not given",
)
@click.option(
    "--database",
    type=click.Choice(list(DATABASES)),
    default="sqlite",
    show_default=True,
    help="the database of the configuration",
)
@click.option("--with-ui", is_flag=True, help="a UI component the service serves (Transcrypt)")
@click.option(
    "--directory",
    # A plain type: click.Path translates its name as it is made, reading the locale from the
    # environment at import, which nothing of atoll's does.
    type=Path,
    metavar="DIR",
    help="where to write the project: a new or empty directory; ./NAME by default",
)
@click.pass_context
def new(
    context: click.Context,
    name: str,
    broker: str | None,
    database: str,
    directory: Path | None,
    *,
    with_ui: bool,
) -> None:
    """Write a new project NAME: a service in four layers, its tests, and how to run them.

    The service keeps notes: a command, an event, a query, a repository on SQL with its first
    migration. Beside it: the tests (the domain, the handlers, end to end over HTTP), the layer
    contracts, requirements.lock, a Makefile (make run, make test, and make image, which writes
    the Dockerfile with atoll deploy image) and CI.
    """
    target = directory if directory is not None else Path(name)
    try:
        plan = ProjectPlan(name, broker=broker or "memory", database=database, with_ui=with_ui)
        written = create_project(plan, target)
    except ConfigError as error:
        raise click.UsageError(str(error), context) from error
    except OSError as error:
        click.echo(f"atoll new {name}: cannot write {target}: {error.strerror}", err=True)
        context.exit(EXIT_FAILURE)
    click.echo(f"atoll new {name}: wrote {len(written)} files into {target}")
    for path in written:
        click.echo(f"  {path}")
    click.echo(f"next: cd {target} && make test (then make run)")
