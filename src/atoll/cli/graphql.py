"""``atoll graphql schema MODULE:OBJECT``: the GraphQL schema an application serves, as SDL.

::

    atoll graphql schema runnerly.app:system > schema.graphql

TARGET is MODULE:OBJECT, as for ``atoll routes``: a service or a system declaring
``service.graphql()`` (or a function returning one). The schema is made as the start makes
it (generated from the handlers, or the SDL bound and checked) and printed; nothing is
started and nothing connects.

Exit status: 0 when printed, 1 when the application serves no GraphQL, 2 for a usage or
configuration error (a schema that does not fit its handlers says why).
"""

from __future__ import annotations

import click

from atoll.cli.routes import application_of, graphql_engine_of
from atoll.errors import ConfigError, ContainerError, TargetError
from atoll.kernel.entrypoint import EXIT_FAILURE, EXIT_USAGE

__all__ = ["graphql"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def graphql() -> None:
    """GraphQL: the schema an application serves."""


@graphql.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("target", metavar="MODULE:OBJECT")
@click.pass_context
def schema(context: click.Context, target: str) -> None:
    """Print the GraphQL schema of TARGET, in the schema definition language.

    TARGET is MODULE:OBJECT: a service or a system declaring service.graphql(). Nothing is
    started, and no option needs a value.
    """
    try:
        api, bus = application_of(target)
        engine = graphql_engine_of(api, bus)
    except TargetError as error:
        raise click.UsageError(str(error), context) from error
    except ConfigError as error:
        click.echo(f"atoll graphql schema {target}: configuration error:\n{error}", err=True)
        context.exit(EXIT_USAGE)
    except ContainerError as error:
        click.echo(f"atoll graphql schema {target}: {error}", err=True)
        context.exit(EXIT_FAILURE)
    if engine is None:
        click.echo(
            f"atoll graphql schema {target}: it serves no GraphQL; declare service.graphql() "
            "in the service to serve its handlers over GraphQL",
            err=True,
        )
        context.exit(EXIT_FAILURE)
    click.echo(engine.sdl)
