"""``atoll check MODULE:OBJECT``: what in a project breaks atoll's rules, each with its fix.

::

    atoll check runnerly.app:system
    atoll check path/to/project
    atoll check shop.app:system --tests tests/unit --tests tests/api

Each finding is printed as ``path:line: [kind] what is wrong; fix: what to do``, sorted by
file and line. The kinds: ``layer-import`` (a model or domain module importing atoll, a
framework or infrastructure; a layer importing one outside it), ``service-internals`` (a
service importing another's modules other than its ``contracts``), ``import-failed`` and
``import-time-work`` (found by importing every module of the project in a child interpreter
whose audit hooks record the work done at import, and refuse it), ``untested-handler`` (no
test names it), ``unconsumed-event`` and ``unpublished-event``. A line that means it says so
with a comment on the line or the one above: ``# atoll: allow[unconsumed-event] - why``.

TARGET is MODULE:OBJECT (a service, a system, or a function returning one), whose project is
its top-level package (or its module, a file of its own); or a project's directory: the
system its ``pyproject.toml`` names (``[tool.atoll] system = "shop.app:system"``), else its
packages read from their layout alone (each package holding a ``model``, ``domain``,
``application`` or ``infrastructure`` module is a service), where the handler and event
rules, which need the system, are not run.

Exit status: 0 when nothing is found, 1 when something is, 2 for a usage error (a ``--tests``
path that does not exist among them).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from atoll.cli.inspection import read_target
from atoll.cli.reporting import reported
from atoll.kernel.entrypoint import EXIT_FAILURE
from atoll.tooling.check import check_project

__all__ = ["check"]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("target", metavar="MODULE:OBJECT|DIRECTORY")
@click.option(
    "--tests",
    "tests",
    multiple=True,
    type=Path,
    metavar="PATH",
    help="A test file or directory to look for handlers in (repeatable); the project's "
    "test_*.py files by default.",
)
@click.pass_context
def check(context: click.Context, target: str, tests: tuple[Path, ...]) -> None:
    """Check the project of TARGET against atoll's rules; exit 1 if anything is found.

    Layers (model and domain import no framework), services importing each other through
    their contracts alone, nothing done at import, a test for every handler, every event
    published consumed and every event consumed published. Each finding names its file and
    line and the fix.
    """
    prog = f"atoll check {target}"
    files = _test_files(context, tests) if tests else None
    with reported(context, prog):
        project, system = read_target(target, "atoll check checks")
        if project is None:
            raise click.UsageError(
                f"{target.partition(':')[0]!r} has no source file atoll check can read; name "
                "a system defined in a package or a module file, or the project's directory",
                context,
            )
        findings = check_project(project, system, files)
    for finding in findings:
        click.echo(str(finding))
    if not findings:
        what = f"system {system.name!r}" if system is not None else str(project.root)
        click.echo(f"atoll check: nothing found in {what}")
        return
    kinds = Counter(finding.kind for finding in findings)
    counted = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    click.echo(f"atoll check: {len(findings)} found ({counted})")
    context.exit(EXIT_FAILURE)


def _test_files(context: click.Context, given: tuple[Path, ...]) -> list[Path]:
    """The Python files of ``given``, each a file or a directory; one that is neither refused."""
    files: list[Path] = []
    for path in given:
        if path.is_dir():
            files += sorted(path.rglob("*.py"))
        elif path.is_file():
            files.append(path)
        else:
            raise click.UsageError(
                f"--tests {str(path)!r}: no such file or directory; name a test file or a "
                "directory of tests",
                context,
            )
    return files
