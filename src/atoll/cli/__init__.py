"""The ``atoll`` command line: ``atoll run``, ``atoll --version``; later ones join as they land."""

from __future__ import annotations

import click

from atoll._version import __version__
from atoll.cli.asyncapi import asyncapi
from atoll.cli.auth import auth
from atoll.cli.broker import dlq, publish
from atoll.cli.call import call
from atoll.cli.check import check
from atoll.cli.db import db
from atoll.cli.deploy import deploy
from atoll.cli.frontends import frontends
from atoll.cli.graph import graph
from atoll.cli.graphql import graphql
from atoll.cli.new import new
from atoll.cli.routes import routes
from atoll.cli.run import run
from atoll.cli.services import services
from atoll.cli.shell import shell
from atoll.cli.tokens import tokens

__all__ = ["cli", "main"]


def _print_version(context: click.Context, _: click.Parameter, value: object) -> None:
    if value and not context.resilient_parsing:
        click.echo(f"atoll {__version__}")
        context.exit()


# A plain option rather than click.version_option: that one translates its help text when
# the module is imported, which reads the locale from the environment. Nothing of atoll's
# reads the environment at import.
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-V",
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
def cli() -> None:
    """atoll: build, run and inspect microservices written in clean layers."""


cli.add_command(run)
cli.add_command(call)
cli.add_command(routes)
cli.add_command(asyncapi)
cli.add_command(db)
cli.add_command(publish)
cli.add_command(dlq)
cli.add_command(auth)
cli.add_command(tokens)
cli.add_command(services)
cli.add_command(graphql)
cli.add_command(frontends)
cli.add_command(new)
cli.add_command(check)
cli.add_command(graph)
cli.add_command(deploy)
cli.add_command(shell)


def main() -> None:
    """The ``atoll`` console script."""
    cli.main(prog_name="atoll")
