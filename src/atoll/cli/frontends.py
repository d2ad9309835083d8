"""``atoll frontends``: build the UI components services ship, and write their typed clients.

::

    atoll frontends build runnerly.app:system --ui-build-dir build/ui
    atoll frontends client runnerly.app:system runs > runnerly/runs/ui_client.py

Each service declaring ``service.components(...)`` has its components linted, compiled with
Transcrypt, checked in Node and written under ``DIR/<service>/`` (see
``atoll.frontends.build``), as a service starting with ``--ui-build auto`` would; an image
builds them so, and starts its services with ``--ui-build never``.

``client`` prints the module of the typed client a service's components call it with (see
``atoll.frontends.typed_client``); with ``--check FILE`` it prints nothing and says whether
FILE is that module.

Exit status: 0 when every service's components are built (or the client printed, or FILE is
current), 1 when a build failed (each failure is shown with its reason) or FILE is not
current, 2 for a usage or configuration error.
"""

from __future__ import annotations

from pathlib import Path

import click

from atoll.adapters.transcrypt import TranscryptCompiler
from atoll.cli.routes import application_of, type_name
from atoll.cli.run import load_target
from atoll.endpoints.rpc.engines import rpc_methods
from atoll.errors import BuildError, ConfigError, ContainerError, TargetError
from atoll.frontends.build import build_components
from atoll.frontends.typed_client import ClientMethod, ClientParam, client_source
from atoll.kernel.entrypoint import EXIT_FAILURE, EXIT_USAGE
from atoll.service.system import services_of

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
    # A plain type: click.Path translates its name as it is made, reading the locale from the
    # environment at import, which nothing of atoll's does.
    type=Path,
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


@frontends.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("target", metavar="MODULE:OBJECT")
@click.argument("service", required=False)
@click.option(
    "--check",
    type=Path,
    help="say whether this file is the client as it would be written now, and print nothing",
)
@click.pass_context
def client(context: click.Context, target: str, service: str | None, check: Path | None) -> None:
    """Print the typed client of SERVICE of TARGET, for its components to call it with.

    TARGET is MODULE:OBJECT: a service (SERVICE may then be left out) or a system. Nothing
    is started.
    """
    try:
        api, bus = application_of(target)
    except TargetError as error:
        raise click.UsageError(str(error), context) from error
    except ConfigError as error:
        click.echo(f"atoll frontends client {target}: configuration error:\n{error}", err=True)
        context.exit(EXIT_USAGE)
    except ContainerError as error:
        click.echo(f"atoll frontends client {target}: {error}", err=True)
        context.exit(EXIT_FAILURE)
    methods = rpc_methods(api.methods, bus) if api is not None and bus is not None else []
    # What the server fills in from the caller (``server_owned``) is no parameter of a client.
    owned = {
        method.name: set(getattr(bus.policy_of(method.handler), "server_owned", ()))
        for method in (api.methods if api is not None else ())
        if bus is not None
    }
    parts = [part.title for part in api.parts] if api is not None else []
    if parts:  # a system: its methods are named <service>.<method>
        if service not in parts:
            raise click.UsageError(
                f"name the service whose client to write, one of {', '.join(parts)}", context
            )
        prefix = service + "."
        methods = [m for m in methods if m.name.startswith(prefix)]
    else:
        title = api.title if api is not None else target
        if service not in {None, title}:
            raise click.UsageError(f"{target} is service {title!r}, not {service!r}", context)
        service, prefix = title, ""
    source = client_source(
        service,
        [
            ClientMethod(
                method.name.removeprefix(prefix),
                [
                    ClientParam(p.name, type_name(p.hint), p.required)
                    for p in method.params
                    if p.name not in owned.get(method.name, set())
                ],
                type_name(method.result),
                method.summary,
            )
            for method in methods
        ],
        command=f"atoll frontends client {target} {service}",
    )
    if check is None:
        click.echo(source, nl=False)
        return
    if not check.is_file() or check.read_text(encoding="utf-8") != source:
        click.echo(
            f"{check} is not the client of {service} as it is now: write it again with "
            f"atoll frontends client {target} {service} > {check}",
            err=True,
        )
        context.exit(EXIT_FAILURE)
