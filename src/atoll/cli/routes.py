"""``atoll routes MODULE:OBJECT``: what an application answers, without running it.

Three sections, in aligned columns: the REST routes (method, path, handler, service, and the
ASGI apps mounted under a prefix), the JSON-RPC methods (name, parameters with their types,
result type), and the message handlers (command, query or event type, handler, service); one
more for an application with timers (schedule, handler, service, on which instances), and
one for an application serving GraphQL (root type, field and its type, JSON-RPC method).

Which parameters of a handler are the caller's and which the container's depends on the whole
provider graph, so the command composes the application and builds its container, exactly as
``atoll run`` does, and then reads the graph: no instance is made, nothing is started, nothing
is connected, and option values are never read (a required option need not be set).
"""

from __future__ import annotations

import types
import typing
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

import click

from atoll.cli.run import load_target
from atoll.endpoints.graphql.engine import graphql_engine
from atoll.endpoints.graphql.fields import fields_of_objects, root_fields, subscription_fields
from atoll.endpoints.graphql.options import GraphQLOptions
from atoll.endpoints.rpc.engines import rpc_methods
from atoll.errors import ConfigError, ContainerError, TargetError
from atoll.kernel.app import App, AppLike, as_app
from atoll.kernel.config import Config
from atoll.kernel.entrypoint import EXIT_FAILURE, EXIT_USAGE, build_container
from atoll.kernel.lifecycle import Lifecycle
from atoll.messaging.bus import MessageBus
from atoll.messaging.handlers import function_name
from atoll.service.composition import system_api
from atoll.service.system import services_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from atoll.endpoints.api import Api
    from atoll.endpoints.graphql.engine import GraphQLEngine
    from atoll.endpoints.rpc.methods import Param
    from atoll.messaging.handlers import Handler
    from atoll.service.definition import ServiceDefinition

__all__ = [
    "application_of",
    "describe_routes",
    "graphql_engine_of",
    "routes",
    "type_name",
]

_NONE = "  (none)"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("target", metavar="MODULE:OBJECT")
@click.pass_context
def routes(context: click.Context, target: str) -> None:
    """List what the application TARGET answers: REST routes, JSON-RPC methods, messages.

    TARGET is MODULE:OBJECT, as for `atoll run`: a service, a system, an atoll.App, or a
    function returning one. Nothing is started, and no option needs a value.
    """
    try:
        obj = load_target(target)
        while callable(obj) and not isinstance(obj, type | AppLike):
            obj = obj()  # a factory, as `atoll run` accepts: the service is what it returns
        text = describe_routes(as_app(obj, repr(target)), services_of(obj))
    except TargetError as error:
        raise click.UsageError(str(error), context) from error
    except ConfigError as error:
        click.echo(f"atoll routes {target}: configuration error:\n{error}", err=True)
        context.exit(EXIT_USAGE)
    except ContainerError as error:
        click.echo(f"atoll routes {target}: {error}", err=True)
        context.exit(EXIT_FAILURE)
    click.echo(text)


def describe_routes(app: App, services: Sequence[ServiceDefinition] = ()) -> str:
    """The routes, methods and message handlers of ``app``, as ``atoll routes`` prints them.

    Args:
        app: the composed application, as ``atoll run`` runs it.
        services: the services it was composed from, whose API it serves; none for an
            application of the kernel alone.

    Raises:
        ContainerError: the providers do not fit together, as ``atoll run`` would find.
    """
    api, bus = _built(app, services)
    sections = [_rest_section(api, services), _rpc_section(api, bus), _message_section(bus)]
    timers = [timer for service in services for timer in service.timers]
    if timers:  # a fourth section, for an application that has some
        rows = [
            (
                timer.schedule.describe(),
                function_name(timer.handler.function),
                timer.handler.service,
                "one instance" if timer.singleton else "each instance",
            )
            for timer in timers
        ]
        sections.append(_section("Timers", ("SCHEDULE", "HANDLER", "SERVICE", "RUNS ON"), rows))
    engine = graphql_engine_of(api, bus)
    if engine is not None:  # one more, for an application serving GraphQL
        sections.append(
            _section(
                f"GraphQL fields (at {GraphQLOptions().path})",
                ("TYPE", "FIELD", "METHOD"),
                list(engine.fields),
            )
        )
    return "\n\n".join(sections)


def application_of(target: str) -> tuple[Api | None, MessageBus | None]:
    """The API of the application ``target`` names, and its bus, built as ``atoll run`` would.

    Raises:
        TargetError: ``target`` names nothing that runs.
        ContainerError: the providers do not fit together.
    """
    obj = load_target(target)
    while callable(obj) and not isinstance(obj, type | AppLike):
        obj = obj()  # a factory, as `atoll run` accepts: the service is what it returns
    return _built(as_app(obj, repr(target)), services_of(obj))


def _built(app: App, services: Sequence[ServiceDefinition]) -> tuple[Api | None, MessageBus | None]:
    """The API ``app`` serves and its bus, from a container built as at start, started not."""
    config = Config({section: _defaults(options) for section, options in app.sections}, (), {})
    container = build_container(app, config, Lifecycle(app.name))
    bus = container.get(MessageBus) if MessageBus in container.graph.providers else None
    return _api(app, services), bus


def graphql_engine_of(api: Api | None, bus: MessageBus | None) -> GraphQLEngine | None:
    """The GraphQL schema ``api`` serves, made as at start; None if it serves none.

    Raises:
        ConfigError: the schema cannot be made, as the start would find.
    """
    if api is None or api.graphql is None or bus is None:
        return None
    fields = root_fields(api, bus, None, sorted(api.graphql.queries))
    objects = fields_of_objects(api, bus)
    subscriptions = subscription_fields(api, bus)
    return graphql_engine(
        api.graphql, fields, api.faults, GraphQLOptions(), api.title, objects, subscriptions
    )


class _Unread:
    """Stands for an option section's values, which listing routes never reads."""


def _defaults(options: type[Any]) -> object:
    """A section at its defaults, which decide the providers switched on by ``when=``.

    A section with a required option has no defaults: it stands unread.
    """
    try:
        return options()
    except (TypeError, ValueError):  # a required option, or a default its own check refuses
        return _Unread()


def _api(app: App, services: Sequence[ServiceDefinition]) -> Api | None:
    if not services:
        return None
    if len(services) == 1:
        return services[0].api()
    return system_api(app.name, app.version, services)


def _rest_section(api: Api | None, services: Sequence[ServiceDefinition]) -> str:
    rows = [
        (
            route.method,
            route.path,
            function_name(route.handler.function),
            route.handler.service,
            _who(route.handler),
        )
        for route in (api.routes if api is not None else ())
    ]
    rows += [
        ("*", f"{prefix}/...", f"mounted {function_name(mounted)}", service.name, "")
        for service in services
        for prefix, mounted in service.mounts
    ]
    return _section("REST routes", ("METHOD", "PATH", "HANDLER", "SERVICE", "WHO"), _told(rows))


def _rpc_section(api: Api | None, bus: MessageBus | None) -> str:
    methods = rpc_methods(api.methods, bus) if api is not None and bus is not None else []
    handlers = {method.name: method.handler for method in (api.methods if api else ())}
    rows = [
        (
            method.name,
            _parameters(method.params),
            type_name(method.result),
            _who(handlers[method.name]) if method.name in handlers else "",
        )
        for method in methods
    ]
    return _section("JSON-RPC methods", ("METHOD", "PARAMETERS", "RESULT", "WHO"), _told(rows))


def _told(rows: Sequence[tuple[str, ...]]) -> Sequence[tuple[str, ...]]:
    """``rows`` without their last column (who may call) when it says nothing in any row."""
    if any(row[-1] for row in rows):
        return rows
    return [row[:-1] for row in rows]


def _who(handler: Handler) -> str:
    """Who may call ``handler`` as declared: its policy, ``public``, or blank for the service's."""
    if handler.policy is not None:
        return handler.policy.describe()
    return "public" if handler.public else ""


def _message_section(bus: MessageBus | None) -> str:
    rows = [
        (
            handler.kind.value,
            type_name(handler.message),
            function_name(handler.function),
            handler.service,
        )
        for handler in (bus.handlers if bus is not None else ())
        if handler.kind.takes_message
    ]
    return _section("Message handlers", ("KIND", "MESSAGE", "HANDLER", "SERVICE"), rows)


def _section(title: str, header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    if not rows:
        return f"{title}\n{_NONE}"
    header = header[: len(rows[0])]
    table = [header, *rows]
    widths = [max(len(row[column]) for row in table) for column in range(len(header))]
    lines = [
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in table
    ]
    return "\n".join([title, *(line.rstrip() for line in lines)])


def _parameters(params: Sequence[Param]) -> str:
    parts: list[str] = []
    for param in params:
        if not param.positional and "*" not in parts:
            parts.append("*")
        part = f"{param.name}: {type_name(param.hint)}"
        parts.append(part if param.required else f"{part} = {param.default!r}")
    return ", ".join(parts) or "-"


def type_name(hint: object) -> str:
    """A type hint as a reader writes it: ``list[RunView]``, ``int | None``, ``Any``."""
    if hint is None or hint is type(None):
        return "None"
    if hint is Any:
        return "Any"
    if hint is Ellipsis:
        return "..."
    origin = get_origin(hint)
    if origin is not None:
        return _generic_name(origin, get_args(hint))
    return hint.__qualname__ if isinstance(hint, type) else str(hint)


def _generic_name(origin: object, args: tuple[Any, ...]) -> str:
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is Union or origin is types.UnionType:
        return " | ".join(type_name(arg) for arg in args)
    if origin is Literal:
        return f"Literal[{', '.join(repr(arg) for arg in args)}]"
    return f"{function_name(origin)}[{', '.join(type_name(arg) for arg in args)}]"
