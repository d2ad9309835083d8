"""``atoll deploy``: write the files that deploy a project: an image, compose, Kubernetes.

::

    atoll deploy image --module runnerly
    atoll deploy compose runnerly.app:system --broker nats --output compose.yaml
    atoll deploy k8s runnerly.app:system --output k8s

``image`` writes a Dockerfile for the project in the current directory (and a
``.dockerignore`` where there is none). ``compose`` and ``k8s`` read a system (MODULE:OBJECT)
and write the deployment of its fleet: each service in a container of its own, run alone
with ``python -m PACKAGE SERVICE`` (``--command`` says otherwise), migrated by a job of its
own before it starts, configured by environment variables, its secrets read from a file.
The same input gives the same bytes: the files can be committed and compared.

Exit status: 0 when written, 2 for a usage or configuration error (a target that names no
system, a ``--command NAME=`` that names no service of it, a setting that names no option, a
secret or a password given inline), 1 when a file cannot be written.
"""

from __future__ import annotations

import functools
import re
import secrets
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import click

from atoll.cli.db import load_service_target
from atoll.cli.reporting import reported
from atoll.deploy.compose import compose_file, secret_files
from atoll.deploy.documents import migrate_options_file, options_file
from atoll.deploy.image import ImageSpec, dockerfile, dockerignore
from atoll.deploy.kubernetes import GENERATED, manifests
from atoll.deploy.plan import DEFAULT_COMMAND, PORT, Broker, plan
from atoll.errors import ConfigError, TargetError
from atoll.service.system import SystemDefinition

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from atoll.deploy.plan import FleetPlan

__all__ = ["deploy"]

_NAME = re.compile(r"[A-Za-z0-9_.-]+")
"""What reads as a service's name in ``--command NAME=COMMAND``: a word, no space, no brace."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def deploy() -> None:
    """Write the files that deploy a project: its image, a compose file, Kubernetes manifests.

    Each file is the same for the same input, and names the command that wrote it: generate
    it again rather than edit it.
    """


@deploy.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--output", default="Dockerfile", show_default=True, metavar="FILE", help="Where to write."
)
@click.option(
    "--module",
    metavar="MODULE",
    help="What the image runs with `python -m`; the project's name in pyproject.toml by default.",
)
@click.option("--python", "python_version", default="3.11", show_default=True, metavar="X.Y")
@click.option(
    "--lock",
    default="requirements.lock",
    show_default=True,
    metavar="FILE",
    help="The lock file, every requirement pinned with its hashes (pip-compile --generate-hashes).",
)
@click.option(
    "--source",
    "sources",
    multiple=True,
    metavar="DIR",
    help="A directory of modules to copy into the image as they are, not installed; repeat it.",
)
@click.option("--port", default=PORT, show_default=True, help="The port the application serves.")
@click.option(
    "--frontends",
    default="",
    metavar="MODULE:OBJECT",
    help="Build the components of this system's services into the image (with Node.js, in "
    "the build stage), for services that declare service.components().",
)
@click.pass_context
def image(
    context: click.Context,
    *,
    output: str,
    module: str | None,
    python_version: str,
    lock: str,
    sources: tuple[str, ...],
    port: int,
    frontends: str,
) -> None:
    """Write a Dockerfile for the project here, and a .dockerignore.

    The project is the one in the current directory, the build's context. A build stage
    installs the lock file with --require-hashes into a virtual environment (and the
    project, if it has a pyproject.toml); a slim stage runs `python -m MODULE` from it as an
    unprivileged user, with a health check on /health/live. Build it with
    `docker build -f FILE .` or `podman build -f FILE .` from this directory.
    """
    with reported(context, "atoll deploy image"):
        here = Path.cwd()
        _check_lock(here / lock, lock)
        for source in sources:
            if not (here / source).is_dir():
                raise ConfigError(
                    f"--source {source}: no such directory in {here}; name a directory of "
                    "modules, relative to the current directory (the build's context)"
                )
        has_project = (here / "pyproject.toml").is_file()
        module = module or _project_module(here, has_project)
        spec = ImageSpec(module, python_version, lock, has_project, sources, port, frontends)
        arguments = ["--module", module, "--python", python_version, "--lock", lock]
        arguments += [argument for source in sources for argument in ("--source", source)]
        arguments += ["--port", str(port)] if port != PORT else []
        arguments += ["--frontends", frontends] if frontends else []
        text = dockerfile(spec, command=_command("image", arguments))
        _write(Path(output), text)
        ignore = here / ".dockerignore"
        if ignore.exists():
            click.echo(f"kept {ignore.name}, which is there already")
        else:
            _write(ignore, dockerignore())


def _check_lock(path: Path, given: str) -> None:
    if not path.is_file():
        raise ConfigError(
            f"--lock {given}: no such file in {path.parent}; the image installs from a lock "
            "file with hashes: write one with `pip-compile --generate-hashes -o "
            "requirements.lock pyproject.toml`"
        )
    if "--hash=" not in path.read_text(encoding="utf-8"):
        raise ConfigError(
            f"--lock {given} holds no hashes, which the image's pip install --require-hashes "
            "checks; write it with `pip-compile --generate-hashes`"
        )


def _project_module(here: Path, has_project: bool) -> str:  # noqa: FBT001 - one fact
    if has_project:
        with (here / "pyproject.toml").open("rb") as stream:
            name = tomllib.load(stream).get("project", {}).get("name")
        if isinstance(name, str) and name:
            return name.replace("-", "_")
    raise ConfigError(
        "no --module given, and no pyproject.toml here names the project; "
        "say what the image runs: --module PACKAGE (it runs `python -m PACKAGE`)"
    )


@dataclass(frozen=True)
class _FleetRequest:
    """What the fleet options of ``compose`` and ``k8s`` ask for, as given."""

    target: str
    broker: Broker
    image: str
    only: tuple[str, ...]
    commands: tuple[str, ...]
    settings: tuple[str, ...]

    def plan(self) -> FleetPlan:
        """The fleet asked for.

        Raises:
            TargetError: the target names no system.
            ConfigError: a service, a command or a setting is refused (:func:`plan`).
        """
        system = load_service_target(self.target, "atoll deploy writes the deployment of")
        if not isinstance(system, SystemDefinition):
            raise TargetError(
                f"{self.target!r} is one service, {system.name}; atoll deploy writes the fleet "
                f"of an atoll.System: name one, or make one of it: "
                f"atoll.System({system.name}_service)"
            )
        template = DEFAULT_COMMAND
        by_name: dict[str, str] = {}
        for text in self.commands:
            name, equals, line = text.partition("=")
            # NAME=COMMAND; plan() refuses a NAME that is not a service.
            if equals and _NAME.fullmatch(name):
                by_name[name] = line
            else:
                template = text
        return plan(
            system,
            self.target,
            broker=self.broker,
            image=self.image,
            command=template,
            commands=by_name,
            only=self.only,
            settings=self.settings,
        )

    def command(self, name: str) -> str:
        """The command that writes the files of ``name`` (``k8s``), to name in them.

        The options in a fixed order, and where it writes left out.
        """
        arguments = [self.target, "--broker", self.broker]
        arguments += ["--image", self.image] if self.image else []
        arguments += [argument for service in self.only for argument in ("--service", service)]
        arguments += [argument for line in self.commands for argument in ("--command", line)]
        arguments += [argument for line in self.settings for argument in ("--set", line)]
        return _command(name, arguments)


def _fleet_options(function: Callable[..., None]) -> Callable[..., None]:
    """The options ``compose`` and ``k8s`` share, which say what the fleet is.

    The command gets them as one argument, ``request``, a :class:`_FleetRequest`.
    """

    @functools.wraps(function)
    def with_request(
        *args: object,
        target: str,
        broker: Broker,
        image: str,
        only: tuple[str, ...],
        commands: tuple[str, ...],
        settings: tuple[str, ...],
        **kwargs: object,
    ) -> None:
        request = _FleetRequest(target, broker, image, only, commands, settings)
        function(*args, request=request, **kwargs)

    decorators = [
        click.argument("target", metavar="MODULE:OBJECT"),
        click.option(
            "--broker",
            type=click.Choice(get_args(Broker)),
            default="nats",
            show_default=True,
            help="The broker the services share: NATS with JetStream, RabbitMQ or Redis.",
        ),
        click.option(
            "--image",
            default="",
            metavar="IMAGE",
            help="The image the services run from (atoll deploy image); SYSTEM:latest by default.",
        ),
        click.option(
            "--service",
            "only",
            multiple=True,
            metavar="NAME",
            help="A service to deploy; repeat it. All of the system's by default.",
        ),
        click.option(
            "--command",
            "commands",
            multiple=True,
            metavar="[NAME=]COMMAND",
            help=f"How a service runs alone: a template for all ({DEFAULT_COMMAND!r} by "
            "default; {package} is the top package of MODULE), or NAME=COMMAND for one. "
            "Repeat it.",
        ),
        click.option(
            "--set",
            "settings",
            multiple=True,
            metavar="[NAME:]KEY=VALUE",
            help="An option of every service that has it (auth.jwt.issuer=http://auth:8000), "
            "or of service NAME alone; never a secret. Repeat it.",
        ),
    ]
    decorated: Callable[..., None] = with_request
    for decorate in reversed(decorators):
        decorated = decorate(decorated)
    return decorated


@deploy.command(context_settings={"help_option_names": ["-h", "--help"]})
@_fleet_options
@click.option(
    "--output", default="-", metavar="FILE", help="Where to write; standard output by default."
)
@click.option(
    "--secrets-dir",
    metavar="DIR",
    help="Also write the secrets files there, those missing, with the password of those there "
    "(a new random one if none); the directory is made yours alone (0700).",
)
@click.pass_context
def compose(
    context: click.Context,
    *,
    request: _FleetRequest,
    output: str,
    secrets_dir: str | None,
) -> None:
    """Write a compose file for the fleet of the system TARGET.

    PostgreSQL with a database per service, the broker, and per service a migration job and
    the service alone, started once its migration has completed. Options are environment
    variables; secrets are compose secrets, files under secrets/ that the file's first lines
    list.
    """
    with reported(context, f"atoll deploy compose {request.target}"):
        fleet = request.plan()
        text = compose_file(fleet, command=request.command("compose"))
        if output == "-":
            click.echo(text, nl=False)
        else:
            _write(Path(output), text)
        if secrets_dir is not None:
            _write_secrets(fleet, Path(secrets_dir))


@deploy.command(context_settings={"help_option_names": ["-h", "--help"]})
@_fleet_options
@click.option("--output", default="k8s", show_default=True, metavar="DIR", help="Where to write.")
@click.pass_context
def k8s(context: click.Context, *, request: _FleetRequest, output: str) -> None:
    """Write Kubernetes manifests for the fleet of the system TARGET.

    A file per service, each holding a ConfigMap of its options, a migration Job, a
    Deployment, a Service, a HorizontalPodAutoscaler and a PodDisruptionBudget; and apart,
    under secrets/, a template of its Secret, placeholders to replace, to apply once.
    PostgreSQL and the broker are expected as Services of the same namespace (postgres, and
    nats, rabbitmq or redis). The files written before for services no longer deployed are
    removed; no other file is.
    """
    with reported(context, f"atoll deploy k8s {request.target}"):
        files = manifests(request.plan(), command=request.command("k8s"))
        directory = Path(output)
        for name, text in files.items():
            _write(directory / name, text)
        _remove_stale(directory, files)


def _remove_stale(directory: Path, files: Mapping[str, str]) -> None:
    """Remove the manifests written before for services no longer deployed.

    Only a ``.yaml`` file whose first line says ``atoll deploy k8s`` wrote it, and that is
    not among ``files``: no other file is touched.
    """
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("secrets/*.yaml")]):
        if path.relative_to(directory).as_posix() in files or not path.is_file():
            continue
        with path.open(encoding="utf-8", errors="replace") as stream:
            first = stream.readline()
        if first.startswith(GENERATED):
            path.unlink()
            click.echo(f"removed {path}, of a service no longer deployed", err=True)


def _command(name: str, arguments: Sequence[str]) -> str:
    """The command that writes a file, to name in it; where it was written is left out."""
    return shlex.join(["atoll", "deploy", name, *arguments])


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {path}", err=True)


def _write_secrets(fleet: FleetPlan, directory: Path) -> None:
    """Write each secrets file that is missing, one password in all of them.

    The password is the one of the files written before, if any holds one; a new random
    one otherwise. The directory is made its owner's alone (0700), made so if it was there
    already; the files in it are readable by all (0644), as compose mounts them as they are
    into containers that run as users of their own (``USER_ID``): the directory guards them.
    """
    password = _kept_password(directory) or secrets.token_urlsafe(24)
    texts = {"postgres-password": password + "\n"}
    if fleet.broker == "rabbitmq":
        texts["rabbitmq"] = f"default_user = atoll\ndefault_pass = {password}\n"
    for service in fleet.services:
        if service.has_database:
            texts[f"{service.name}-migrate"] = migrate_options_file(
                fleet, service, "postgres", password
            )
        texts[service.name] = options_file(fleet, service, "postgres", password)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    for name, path in secret_files(fleet).items():
        file = directory / Path(path).name
        if file.exists():
            click.echo(f"kept {file}, which is there already", err=True)
            continue
        _write(file, texts[name])
        file.chmod(0o644)


def _kept_password(directory: Path) -> str | None:
    """The password of the secrets files written before: PostgreSQL's, else RabbitMQ's."""
    postgres = directory / "postgres-password"
    if postgres.is_file():
        return postgres.read_text(encoding="utf-8").strip() or None
    rabbitmq = directory / "rabbitmq.conf"
    if rabbitmq.is_file():
        for line in rabbitmq.read_text(encoding="utf-8").splitlines():
            key, equals, value = line.partition("=")
            if equals and key.strip() == "default_pass" and value.strip():
                return value.strip()
    return None
