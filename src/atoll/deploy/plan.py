"""What a fleet deployment is made of: each service of a system as a process of its own.

:func:`plan` reads a :class:`~atoll.System` once and says, per service, what both the compose
file and the Kubernetes manifests need: the command that runs it alone, the command that
migrates its database, the environment that configures it (never a secret), and which of its
options are secrets, to be given through a file instead.

A service runs alone as ``python -m PACKAGE SERVICE`` by default, PACKAGE the top package of
the system's module (``runnerly`` for ``runnerly.app:system``), the way
``examples/runnerly`` runs each of its services; ``commands`` names another command for any
of them (``atoll run atoll.auth:service`` for atoll's token service).
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import msgspec

from atoll.errors import ConfigError
from atoll.kernel.entrypoint import config_spec
from atoll.kernel.options import env_text, masked_url
from atoll.service.composition import compose_target

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    from atoll.kernel.options import Option
    from atoll.service.definition import ServiceDefinition
    from atoll.service.system import SystemDefinition

__all__ = [
    "BROKERS",
    "BROKER_URLS",
    "DEFAULT_COMMAND",
    "DEFAULT_PASSWORD_PLACEHOLDER",
    "FLEET_OPTIONS",
    "PORT",
    "Broker",
    "FleetPlan",
    "ServicePlan",
    "dns_label",
    "plan",
    "sql_identifier",
]

Broker = Literal["nats", "rabbitmq", "redis"]
BROKERS: tuple[Broker, ...] = ("nats", "rabbitmq", "redis")

PORT = 8000
"""The port every service listens on, each in a container of its own."""
DEFAULT_COMMAND = "python -m {package} {service}"
"""How a service of the system runs alone, unless told otherwise."""
DEFAULT_PASSWORD_PLACEHOLDER = "CHANGE-ME"  # noqa: S105 - a placeholder, to replace
"""What stands for a password in the files a person fills in."""
BROKER_URLS: dict[Broker, str] = {
    "nats": "nats://nats:4222",
    "rabbitmq": f"amqp://atoll:{DEFAULT_PASSWORD_PLACEHOLDER}@rabbitmq:5672/",
    "redis": "redis://redis:6379/0",
}
"""Where each broker is, by its host name in the deployment's network."""
FLEET_OPTIONS: dict[str, object] = {
    "server.host": "0.0.0.0",  # noqa: S104 - in a container of its own, reached from outside
    "server.port": PORT,
    "db.migrate": "never",
    "log.format": "json",
    "ui.build": "never",
}
"""What every service of a fleet is set to (those of these options it has): it listens on
its container's network, its database is migrated by a job of its own before it starts, it
logs JSON lines, and it serves the components built into its image
(``atoll deploy image --frontends``) rather than build them as it starts."""
OWNED = ("server.host", "server.port", "server.enabled", "server.health")
"""The options the files are written for (the port the probes and health checks ask, the
health paths they ask for): refused in a ``--set``, which would leave those asking in vain."""


@dataclass(frozen=True)
class ServicePlan:
    """One service of the fleet, as a container runs it.

    Attributes:
        name: the service's name: of its container, its database and its files.
        command: the command that runs it alone.
        migrate: the command that upgrades its database, or ``()`` when it keeps none.
        env_prefix: the prefix of its environment variables (``USERS``).
        config_env: the variable naming its options file (``USERS_CONFIG``).
        environment: the variables that configure it, by name, as text; no secret among them.
        secrets: its options whose type holds a :class:`~atoll.Secret`, given in a file.
        url_keys: its options whose value holds a password (the database's URL), given in
            the same file.
        grace: its ``shutdown.grace``, seconds.
        drain: its ``shutdown.drain``, seconds.
    """

    name: str
    command: tuple[str, ...]
    migrate: tuple[str, ...]
    env_prefix: str
    config_env: str
    environment: Mapping[str, str]
    secrets: tuple[Option, ...]
    url_keys: tuple[str, ...]
    grace: float
    drain: float

    @property
    def has_database(self) -> bool:
        """Whether the service keeps a database, which a job migrates before it starts."""
        return bool(self.migrate)

    def stop_seconds(self, pause: float) -> int:
        """Whole seconds to let it stop in: ``pause``, its drain and grace, and 5 to spare."""
        return math.ceil(pause + self.drain + self.grace) + 5


@dataclass(frozen=True)
class FleetPlan:
    """The services of a system, each deployed alone.

    Attributes:
        target: the system, as MODULE:OBJECT.
        name: the system's name: of the compose project, the databases' prefix.
        env_prefix: the system's environment prefix, which ``atoll db upgrade`` reads: of
            its only service for a system of one.
        migrate_config_env: the variable naming the options file of a migration job, which
            ``atoll db upgrade`` reads (``RUNNERLY_CONFIG``).
        image: the image every service runs from.
        broker: the broker the services share.
        services: the services, in the system's order.
    """

    target: str
    name: str
    env_prefix: str
    migrate_config_env: str
    image: str
    broker: Broker
    services: tuple[ServicePlan, ...]

    def broker_url(self) -> str:
        """The broker's URL, a placeholder for its password if it has one."""
        return BROKER_URLS[self.broker]

    def database(self, service: str) -> str:
        """The name of the PostgreSQL database of ``service``: ``runnerly_users``."""
        return sql_identifier(f"{self.name}_{service}")


def dns_label(name: str) -> str:
    """``name`` as Kubernetes names an object: ``shop-api`` for ``shop_api``.

    A DNS-1123 label: lower case, each character other than a letter, a digit or ``-``
    replaced by ``-``, no ``-`` at either end, 63 characters at the most.
    """
    return re.sub(r"[^a-z0-9-]", "-", name.lower())[:63].strip("-")


def sql_identifier(name: str) -> str:
    """``name`` as a PostgreSQL database is named: ``runnerly_users`` for ``runnerly-users``.

    Lower case, each character other than a letter, a digit or ``_`` replaced by ``_``, 63
    characters at the most: a name that needs no quotes, and means the same with them.
    """
    return re.sub(r"[^a-z0-9_]", "_", name.lower())[:63]


def plan(
    system: SystemDefinition[ServiceDefinition],
    target: str,
    *,
    broker: Broker = "nats",
    image: str = "",
    command: str = DEFAULT_COMMAND,
    commands: Mapping[str, str] | None = None,
    only: Sequence[str] = (),
    settings: Sequence[str] = (),
    environment: Mapping[str, object] | None = None,
) -> FleetPlan:
    """The deployment of ``system`` (``target``), a service per container.

    Args:
        system: the system.
        target: where it is, MODULE:OBJECT.
        broker: the broker its services share.
        image: the image they run from; ``SYSTEM:latest`` by default.
        command: how a service runs alone; ``{package}``, ``{service}`` and ``{target}`` are
            filled in.
        commands: a command of its own for a service, by name.
        only: the services to deploy, all by default.
        settings: options to set, ``KEY=VALUE`` for every service that has the option,
            ``SERVICE:KEY=VALUE`` for one; ``KEY`` is dotted (``auth.jwt.issuer``).
        environment: options the deployment sets for every service, by key, over
            :data:`FLEET_OPTIONS` and before ``settings``.

    Raises:
        ConfigError: a service named is not in the system; a command has a placeholder
            other than those; a setting is malformed, names no option, names a secret or a
            URL given in the secrets file, holds a password, or has a value the option does
            not take.
    """
    names = [service.name for service in system.services]
    commands = dict(commands or {})
    for name in [*only, *commands]:
        if name not in names:
            raise ConfigError(f"{target} has no service {name!r}; its services: {', '.join(names)}")
    parsed = [_setting(text, names) for text in settings]
    # Not secrets, but holding a password: given in the secrets file, never inline.
    in_file = ("db.url", "broker.url") if _holds_password(BROKER_URLS[broker]) else ("db.url",)
    given: dict[str, object] = {**FLEET_OPTIONS, "broker.url": BROKER_URLS[broker]}
    given.update(environment or {})
    for _, key, value in parsed:
        if key in OWNED:
            raise ConfigError(
                f"setting {key}: the files are written for the value the deployment gives it "
                "(the port and the health paths their probes and health checks ask); "
                "leave it out"
            )
        if key in in_file or _holds_password(value):
            table, _, name = key.rpartition(".")
            raise ConfigError(
                f"setting {key}: the URL holds a password, so it is given in each service's "
                f"secrets file ([{table}] {name} = ...), never inline"
            )
    package = target.partition(":")[0].split(".")[0]
    services = []
    keys: dict[str, Collection[str]] = {}  # the keys of each service's options
    for service in system.services:
        if only and service.name not in only:
            continue
        line = _command_line(commands.get(service.name, command), package, service.name, target)
        wanted: dict[str, object] = {**system.app.option_defaults, **given}
        wanted.update({key: value for scope, key, value in parsed if scope in {"", service.name}})
        planned, keys[service.name] = _service_plan(service, target, line, wanted, in_file)
        services.append(planned)
    _refuse_unknown(parsed, services, keys)
    # As atoll db upgrade reads the system: a system of one takes its service's prefix.
    migration = config_spec(compose_target(system, serve=False))
    return FleetPlan(
        target=target,
        name=system.name,
        env_prefix=migration.env_prefix,
        migrate_config_env=migration.config_env,
        image=image or f"{system.name}:latest",
        broker=broker,
        services=tuple(services),
    )


def _holds_password(value: object) -> bool:
    """Whether ``value`` is a URL with a credential in it, as atoll masks one in its logs.

    A password (``amqp://user:password@rabbitmq``), of any host of a list, or a NATS token
    (``nats://token@nats``).
    """
    return isinstance(value, str) and masked_url(value) != value


def _command_line(template: str, package: str, service: str, target: str) -> tuple[str, ...]:
    try:
        line = template.format(package=package, service=service, target=target)
    except (KeyError, IndexError, ValueError) as error:
        raise ConfigError(
            f"command {template!r} cannot be filled in ({type(error).__name__}: {error}); "
            "its placeholders are {package}, {service} and {target}, and a brace of its own "
            "is written twice: {{"
        ) from None
    words = tuple(shlex.split(line))
    if not words:
        raise ConfigError(f"the command of {service} is empty; give one like {DEFAULT_COMMAND!r}")
    return words


def _setting(text: str, names: Sequence[str]) -> tuple[str, str, object]:
    key, equals, value = text.partition("=")
    scope, colon, key = key.rpartition(":")
    if not equals or not key or (colon and scope not in names):
        raise ConfigError(
            f"setting {text!r} is not KEY=VALUE or SERVICE:KEY=VALUE with SERVICE one of "
            f"{', '.join(names)}; write it like auth.jwt.issuer=http://auth:8000"
        )
    return scope, key, value


def _service_plan(
    service: ServiceDefinition,
    target: str,
    command: tuple[str, ...],
    wanted: Mapping[str, object],
    in_file: Sequence[str],
) -> tuple[ServicePlan, Collection[str]]:
    """The plan of ``service``, and the keys of its options."""
    app = compose_target(service, serve=True)
    spec = config_spec(app)
    options = {opt.key: opt for opt in spec.options}
    environment: dict[str, str] = {}
    for key, value in wanted.items():
        opt = options.get(key)
        if opt is None or key in in_file:
            continue  # another service's option, or the system's; or one given in the file
        if opt.secret:
            raise ConfigError(
                f"{service.name}: {key} is a secret; it is given in the service's secrets "
                f"file ([{'.'.join(opt.path[:-1])}] {opt.path[-1]} = ...), never inline"
            )
        text = env_text(value)
        if _holds_password(text):  # from the system's defaults: a password all the same
            raise ConfigError(
                f"{service.name}: {key} holds a password; it is given in the service's "
                f"secrets file ([{'.'.join(opt.path[:-1])}] {opt.path[-1]} = ...), never inline"
            )
        _check(service.name, opt, text)
        environment[opt.env_var(spec.env_prefix)] = text
    has_database = service.database_declaration is not None
    migrate: tuple[str, ...] = ()
    if has_database:
        migrate = ("python", "-m", "atoll", "db", "upgrade", target, "--service", service.name)
    planned = ServicePlan(
        name=service.name,
        command=command,
        migrate=migrate,
        env_prefix=spec.env_prefix,
        config_env=spec.config_env,
        environment=dict(sorted(environment.items())),
        secrets=tuple(opt for opt in spec.options if opt.secret),
        url_keys=tuple(key for key in in_file if key in options and _used(key, has_database)),
        grace=_seconds(options["shutdown.grace"], environment, spec.env_prefix),
        drain=_seconds(options["shutdown.drain"], environment, spec.env_prefix),
    )
    return planned, options.keys()


def _check(service: str, opt: Option, text: str) -> None:
    """Refuse a value the option does not take, as the service would when it starts."""
    try:
        opt.convert(opt.parse_text(text))
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise ConfigError(
            f"{service}: {opt.key} = {text!r} is invalid: {error}; it takes {opt.type_name}"
        ) from None


def _used(key: str, has_database: bool) -> bool:  # noqa: FBT001 - a predicate
    return has_database or not key.startswith("db.")


def _seconds(opt: Option, environment: Mapping[str, str], prefix: str) -> float:
    text = environment.get(opt.env_var(prefix))
    value = opt.default() if text is None and opt.default is not None else opt.convert(text)
    return float(str(value))


def _refuse_unknown(
    parsed: Sequence[tuple[str, str, object]],
    services: Sequence[ServicePlan],
    keys: Mapping[str, Collection[str]],
) -> None:
    for scope, key, _ in parsed:
        concerned = [s for s in services if scope in {"", s.name}]
        if concerned and not any(key in keys[s.name] for s in concerned):
            first = concerned[0]
            raise ConfigError(
                f"setting {key} names no option of {scope or 'any service deployed'}; list "
                f"the options of {first.name} with `{shlex.join(first.command)} --help`"
            )
