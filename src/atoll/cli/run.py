"""``atoll run [--reload] MODULE:OBJECT [options]``: run any importable application.

With ``--reload``, for development, the application runs in a child process, started again
each time a source file changes (:mod:`atoll.adapters.watchfiles`).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from pathlib import Path

import click

from atoll.cli.reporting import target_reported
from atoll.errors import TargetError
from atoll.kernel.app import as_app
from atoll.kernel.entrypoint import execute

__all__ = ["importable_cwd", "load_target", "make_importable", "run", "split_target"]

_ASKS_ONLY = frozenset({"-h", "--help", "--version", "--print-config"})
"""The application's flags that print an answer and exit, rather than run it."""


@click.command(
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        # what follows the target is the application's, even a flag named as one of ours
        "allow_interspersed_args": False,
    },
    add_help_option=False,
)
@click.option(
    "--reload",
    is_flag=True,
    help="Restart the application when a Python or TOML file under the current directory "
    "(or the target's package) changes; for development only.",
)
@click.argument("target", metavar="MODULE:OBJECT")
@click.argument("options", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run(context: click.Context, target: str, options: tuple[str, ...], *, reload: bool) -> None:
    """Run the application TARGET until SIGTERM or Ctrl-C.

    TARGET is MODULE:OBJECT, where OBJECT is an atoll.App (or a service, a system, or a
    function returning one). The options after it are the application's own: see them with
    `atoll run MODULE:OBJECT --help`. atoll run's own options come before TARGET.
    """
    if target in {"-h", "--help"}:
        click.echo(context.get_help())
        context.exit(0)
    if "--reload" in options:
        raise click.UsageError(
            f"--reload is atoll run's own option: put it before the target, as in "
            f"`atoll run --reload {target} ...`",
            context,
        )
    if reload and not _ASKS_ONLY.intersection(options):  # a question has nothing to reload
        context.exit(_run_reloading(context, target, options))
    with target_reported(context):
        app = as_app(load_target(target), repr(target))
    context.exit(execute(app, list(options), prog=f"atoll run {target}"))


def _run_reloading(context: click.Context, target: str, options: tuple[str, ...]) -> int:
    """Run ``atoll run TARGET OPTIONS`` in a child process, restarted on each change."""
    from atoll.adapters.watchfiles import run_reloading  # noqa: PLC0415 - with --reload only

    with target_reported(context):
        paths = _watched(target)
    shown = ", ".join(str(path) for path in paths)
    click.echo(f"atoll run: watching {shown} for changes (--reload: development only)", err=True)
    command = [sys.executable, "-m", "atoll", "run", target, *options]
    return run_reloading(command, paths, echo=lambda line: click.echo(line, err=True))


def _watched(target: str) -> list[Path]:
    """The current directory, and the target's package where it lies outside it.

    The package is found without importing it: the application is imported by the child
    alone, so that an error in it is the child's to report, and the next change's to fix.

    Raises:
        TargetError: the target is not MODULE:OBJECT, or no module has its name.
    """
    module_name, _ = split_target(target)
    importable_cwd()
    top = module_name.partition(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is None or (spec.origin is None and not spec.submodule_search_locations):
        raise TargetError(
            f"cannot find the module {top!r}; run from the directory that holds it, "
            "or install its package"
        )
    here = Path.cwd()
    locations = list(spec.submodule_search_locations or [])
    found = [Path(p) for p in locations] if locations else [Path(spec.origin or "")]
    outside = [p for p in found if p.exists() and not p.resolve().is_relative_to(here.resolve())]
    return [here, *outside]


def split_target(target: str) -> tuple[str, str]:
    """``MODULE:OBJECT`` as its module's name and its object's (dotted) name.

    Raises:
        TargetError: ``target`` is not ``MODULE:OBJECT``.
    """
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise TargetError(
            f"{target!r} is not MODULE:OBJECT; write it like `atoll run runnerly.app:app`"
        )
    return module_name, attribute


def make_importable(directory: Path) -> None:
    """Put ``directory`` first on ``sys.path``, unless it is already there."""
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))


def importable_cwd() -> None:
    """Make the modules of the current directory importable, as ``python -m`` does."""
    make_importable(Path.cwd())


def load_target(target: str) -> object:
    """Import ``MODULE:OBJECT`` and return the object; the current directory is importable.

    Raises:
        TargetError: the target is malformed, its module cannot be imported, or it has no
            such attribute.
    """
    module_name, attribute = split_target(target)
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
