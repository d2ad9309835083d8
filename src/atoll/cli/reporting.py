"""How a command of atoll's reports a failure: its message alone, with its exit status."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import click

from atoll.errors import AtollError, ConfigError, TargetError
from atoll.kernel.entrypoint import EXIT_FAILURE, EXIT_USAGE

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["reported", "target_reported"]


@contextlib.contextmanager
def reported(
    context: click.Context,
    prog: str,
    *,
    usage: tuple[type[Exception], ...] = (ConfigError,),
    foreign_text: bool = True,
) -> Iterator[None]:
    """Report an error raised in the block as ``prog: message``, never a traceback.

    A target that names nothing runnable is a usage error (click's, with the usage line);
    ``usage`` errors (a bad option) exit 2; any other, 1. An error that is not atoll's is
    named by its class, with its message unless ``foreign_text`` is false (a database
    driver's message may hold a URL with its password).
    """
    try:
        with target_reported(context):
            yield
    except (click.exceptions.Exit, click.ClickException):
        raise
    except usage as error:
        click.echo(f"{prog}: {error}", err=True)
        context.exit(EXIT_USAGE)
    except Exception as error:  # noqa: BLE001 - the message, not a traceback, is for the user
        text = str(error)
        if not isinstance(error, AtollError):  # another library's error: say which it is
            named = type(error).__name__
            text = f"{named}: {text}" if text and foreign_text else named
        click.echo(f"{prog}: {text}", err=True)
        context.exit(EXIT_FAILURE)


@contextlib.contextmanager
def target_reported(context: click.Context) -> Iterator[None]:
    """A target that names nothing runnable, raised in the block: click's usage error.

    Any other error goes through, as it came: an application's module that fails to import
    shows its traceback.
    """
    try:
        yield
    except TargetError as error:
        raise click.UsageError(str(error), context) from error
