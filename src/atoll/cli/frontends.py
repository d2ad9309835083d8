"""``atoll frontends build MODULE:OBJECT``: build the UI components a system's services ship.

::

    atoll frontends build runnerly.app:system --ui-build-dir build/ui

Each service declaring ``service.components(...)`` has its components linted, compiled with
Transcrypt, checked in Node and written under ``DIR/<service>/`` (see
``atoll.frontends.build``), as a service starting with ``--ui-build auto`` would; an image
builds them so, and starts its services with ``--ui-build never``.

Exit status: 0 when every service's components are built, 1 when a build failed (each
failure is shown with its reason), 2 for a usage or configuration error.
"""

from __future__ import annotations

from pathlib import Path

import click

from atoll.adapters.transcrypt import TranscryptCompiler
from atoll.cli.routes import services_of
from atoll.cli.run import load_target
from atoll.errors import BuildError, ConfigError, TargetError
from atoll.frontends.build import build_components
from atoll.kernel.entrypoint import EXIT_FAILURE, EXIT_USAGE

__all__ = ["frontends"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def frontends() -> None:
    """UI components: build what the services ship."""


@frontends.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("target", metavar="MODULE:OBJECT")
@click.option(
    "--ui-build-dir",
    default="build/ui",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="the directory of the builds, a directory per service in it",
)
@click.pass_context
def build(context: click.Context, target: str, ui_build_dir: Path) -> None:
    """Build the components of each service of TARGET that declares service.components().

    TARGET is MODULE:OBJECT: a service or a system (or a function returning one). Nothing is
    started.
    """
    try:
        obj = load_target(target)
        while callable(obj) and not isinstance(obj, type) and not services_of(obj):
            obj = obj()  # a factory, as `atoll run` accepts
        services = [service for service in services_of(obj) if service.frontend is not None]
    except TargetError as error:
        raise click.UsageError(str(error), context) from error
    except ConfigError as error:
        click.echo(f"atoll frontends build {target}: configuration error:\n{error}", err=True)
        context.exit(EXIT_USAGE)
    if not services:
        click.echo(
            f"atoll frontends build {target}: no service of it ships components; declare "
            "service.components(...) in the service",
            err=True,
        )
        context.exit(EXIT_FAILURE)
    failed = 0
    compiler = TranscryptCompiler()
    for service in services:
        assert service.frontend is not None  # noqa: S101 - chosen above
        components = service.frontend.components
        click.echo(f"{service.name}: building {len(components)} component(s)...", err=True)
        try:
            built = build_components(
                service.name, components, ui_build_dir / service.name, compiler
            )
        except BuildError as error:
            failed += 1
            click.echo(f"{service.name}: the build failed: {error}", err=True)
            continue
        click.echo(f"{service.name}: {ui_build_dir / service.name / built.module}")
    if failed:
        context.exit(EXIT_FAILURE)
