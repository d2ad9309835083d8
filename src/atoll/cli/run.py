"""``atoll run MODULE:OBJECT [options]``: run any importable application."""

from __future__ import annotations

import difflib
import importlib
import sys
from pathlib import Path

import click

from atoll.errors import TargetError
from atoll.kernel.app import as_app
from atoll.kernel.entrypoint import execute

__all__ = ["load_target", "run"]


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("target", metavar="MODULE:OBJECT")
@click.argument("options", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run(context: click.Context, target: str, options: tuple[str, ...]) -> None:
    """Run the application TARGET until SIGTERM or Ctrl-C.

    TARGET is MODULE:OBJECT, where OBJECT is an atoll.App (or a service, a system, or a
    function returning one). The options after it are the application's own: see them with
    `atoll run MODULE:OBJECT --help`.
    """
    if target in {"-h", "--help"}:
        click.echo(context.get_help())
        context.exit(0)
    try:
        app = as_app(load_target(target), repr(target))
    except TargetError as error:
        raise click.UsageError(str(error), context) from error
    context.exit(execute(app, list(options), prog=f"atoll run {target}"))


def importable_cwd() -> None:
    """Make the modules of the current directory importable, as ``python -m`` does."""
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))


def load_target(target: str) -> object:
    """Import ``MODULE:OBJECT`` and return the object; the current directory is importable.

    Raises:
        TargetError: the target is malformed, its module cannot be imported, or it has no
            such attribute.
    """
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise TargetError(
            f"{target!r} is not MODULE:OBJECT; write it like `atoll run runnerly.app:app`"
        )
    importable_cwd()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is None or not (
            module_name == error.name or module_name.startswith(f"{error.name}.")
        ):
            raise  # the module exists but fails to import something itself: show that
        raise TargetError(
            f"cannot import {module_name!r} ({error}); run from the directory that holds it, "
            "or install its package"
        ) from error
    obj: object = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            close = difflib.get_close_matches(part, dir(obj), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TargetError(f"{module_name!r} has no attribute {attribute!r}{hint}")
        obj = getattr(obj, part)
    return obj
