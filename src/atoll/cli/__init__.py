"""The ``atoll`` command line: ``atoll run``, ``atoll --version``; later ones join as they land."""

from __future__ import annotations

import click

from atoll._version import __version__
from atoll.cli.run import run

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, "-V", "--version", prog_name="atoll", message="%(prog)s %(version)s"
)
def cli() -> None:
    """atoll: build, run and inspect microservices written in clean layers."""


cli.add_command(run)


def main() -> None:
    """The ``atoll`` console script."""
    cli.main(prog_name="atoll")
