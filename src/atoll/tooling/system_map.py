"""The map of a system: its services, what each answers, sends, publishes and consumes, and calls.

Most of it is declared, and read from the services' definitions: the REST routes, JSON-RPC
methods and GraphQL schema each serves, the commands and queries it takes, the events it
consumes (``@service.on``) and publishes (``service.publishes``), its database
(``service.database``). Two parts are not declared, and are read from the source of each
service's package instead, so they are only as good as a reading of the source can be:

- the **calls** a service makes to another: a client asked for by a name written in the
  source, ``clients.get("users")`` (on anything named ``clients`` or ``..._clients``) or
  ``atoll.RemoteService("users")``. A name computed at run time is not seen;
- the **commands** it sends to another: another service's command or query type constructed
  in its source (``RecordRun(...)``).

A service's package (its *home*) is where its handlers are defined, up to the layer folder:
``runnerly.runs.application`` makes ``runnerly.runs``. A service whose handlers are all
outside the project (atoll's token service) has no home, and no source is read for it.
"""

from __future__ import annotations

import ast
import functools
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from atoll.messaging.envelope import message_name
from atoll.messaging.handlers import HandlerKind, function_name
from atoll.service.system import services_of
from atoll.tooling.project import LAYERS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from atoll.service.definition import ServiceDefinition
    from atoll.service.system import SystemDefinition
    from atoll.tooling.project import Module, Project

__all__ = ["HandlerEntry", "MessageUse", "Place", "ServiceMap", "SystemMap", "map_system"]

_HOME_PARTS = frozenset({*LAYERS, "contracts", "ui"})


@dataclass(frozen=True, order=True)
class Place:
    """A line of a file."""

    path: Path
    line: int


@dataclass(frozen=True)
class MessageUse:
    """A message type a service takes, publishes or sends, and where that is written."""

    type: type
    place: Place | None = None

    @property
    def name(self) -> str:
        """The message's name on the wire: ``runs.RunRecorded``."""
        return message_name(self.type)


@dataclass(frozen=True)
class HandlerEntry:
    """A function of a service that handles something, with all it answers.

    Args:
        function: the function.
        name: its qualified name.
        kinds: what it answers (``command``, ``rpc``, ``route``...), in the order declared.
        place: where it is defined, decorators included.
        routes: the REST routes it answers, ``POST /runs``.
        methods: the JSON-RPC methods it answers, by their service's names.
        message: the message type it takes, for a command, query or event handler.
    """

    function: Callable[..., object]
    name: str
    kinds: tuple[str, ...]
    place: Place | None
    routes: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    message: type | None = None


@dataclass
class ServiceMap:
    """One service of the map."""

    name: str
    home: str | None = None
    """The service's package (or module), where its source is read; None when not the project's."""
    handlers: list[HandlerEntry] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    graphql: bool = False
    commands: list[MessageUse] = field(default_factory=list)
    """The commands and queries it takes."""
    consumes: list[MessageUse] = field(default_factory=list)
    """The events it consumes."""
    publishes: list[MessageUse] = field(default_factory=list)
    sends: list[MessageUse] = field(default_factory=list)
    """Other services' commands and queries its source constructs."""
    calls: list[tuple[str, Place]] = field(default_factory=list)
    """The services it asks for a client of, by name, where it asks."""
    database: bool = False
    timers: list[str] = field(default_factory=list)


@dataclass
class SystemMap:
    """The services of a system (or of one service alone), mapped."""

    name: str
    services: list[ServiceMap]

    def service(self, name: str) -> ServiceMap | None:
        """The service ``name``, if the system holds it."""
        return next((s for s in self.services if s.name == name), None)

    def consumers(self, event: str) -> list[str]:
        """The services that consume the event of wire name ``event``."""
        return [s.name for s in self.services if any(m.name == event for m in s.consumes)]

    def publishers(self, event: str) -> list[str]:
        """The services that publish the event of wire name ``event``."""
        return [s.name for s in self.services if any(m.name == event for m in s.publishes)]


def map_system(
    target: ServiceDefinition | SystemDefinition[ServiceDefinition], project: Project | None
) -> SystemMap:
    """The map of ``target``, its undeclared parts read from ``project``'s source, if given."""
    # Placing a function or class reads its source, the slow part of the map: each is placed
    # once, though a message handler is asked for twice (as a handler, and as what takes its
    # message) and one event may be published by several services.
    places = functools.cache(_place_of)
    mapped = [_declared(service, project, places) for service in services_of(target)]
    taken = {use.type: service.name for service in mapped for use in service.commands}
    if project is not None:
        for service in mapped:
            calls = _calls_in(_home_modules(service.home, project))  # one walk of each tree
            _read_calls(service, calls)
            _read_sends(service, calls, {t: n for t, n in taken.items() if n != service.name})
            _place_publishes(service, calls)
    return SystemMap(target.name, mapped)


@dataclass
class _Gathered:
    """What one function answers, gathered from every declaration naming it."""

    kinds: list[str] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    message: type | None = None

    def entry(self, function: Callable[..., object], place: Place | None) -> HandlerEntry:
        return HandlerEntry(
            function=function,
            name=function_name(function),
            kinds=tuple(self.kinds),
            place=place,
            routes=tuple(self.routes),
            methods=tuple(self.methods),
            message=self.message,
        )


def _added(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def _declared(
    definition: ServiceDefinition,
    project: Project | None,
    places: Callable[[object], Place | None],
) -> ServiceMap:
    """What ``definition`` declares, each function and class placed by ``places``."""
    service = ServiceMap(definition.name)
    gathered: dict[Callable[..., object], _Gathered] = {}
    for handler in definition.handlers:
        found = gathered.setdefault(handler.function, _Gathered())
        _added(found.kinds, handler.kind.value)
        if handler.kind.takes_message:
            found.message = handler.message
    for route in definition.routes:
        found = gathered.setdefault(route.handler.function, _Gathered())
        _added(found.kinds, HandlerKind.ROUTE.value)
        _added(found.routes, f"{route.method} {route.path}")
        service.routes.append(f"{route.method} {route.path}")
    for method in definition.methods:
        found = gathered.setdefault(method.handler.function, _Gathered())
        _added(found.kinds, HandlerKind.RPC.value)
        _added(found.methods, method.name)
        service.methods.append(method.name)
    for timer in definition.timers:
        found = gathered.setdefault(timer.handler.function, _Gathered())
        _added(found.kinds, HandlerKind.TIMER.value)
        service.timers.append(
            f"{timer.schedule.describe()}: {function_name(timer.handler.function)}"
        )
    service.routes += [f"GET {path} (page)" for path, _ in definition.pages]
    service.routes += [f"* {prefix}/... (mounted)" for prefix, _ in definition.mounts]
    service.handlers = [
        found.entry(function, places(function)) for function, found in gathered.items()
    ]
    for handler in definition.handlers:
        if handler.message is None:
            continue
        use = MessageUse(handler.message, places(handler.function))
        if handler.kind is HandlerKind.EVENT:
            service.consumes.append(use)
        elif handler.kind in {HandlerKind.COMMAND, HandlerKind.QUERY}:
            service.commands.append(use)
    service.publishes = [MessageUse(event, places(event)) for event in definition.published]
    service.graphql = definition.graphql_declaration is not None
    service.database = definition.database_declaration is not None
    service.home = _home(service, project)
    return service


def _place_of(obj: object) -> Place | None:
    """Where ``obj`` (a function or a class) is defined, its decorators included."""
    try:
        unwrapped = inspect.unwrap(obj) if callable(obj) else obj
        path = inspect.getsourcefile(unwrapped)  # type: ignore[arg-type]  # a function or class
        _, line = inspect.getsourcelines(unwrapped)  # type: ignore[arg-type]  # as above
    except (TypeError, OSError):
        return None
    return Place(Path(path), max(line, 1)) if path is not None else None


def _home(service: ServiceMap, project: Project | None) -> str | None:
    """The package (or module) of ``service``'s handlers in ``project``, up to the layer."""
    if project is None:
        return None
    modules: list[str] = []
    for handler in service.handlers:
        module = getattr(handler.function, "__module__", None)
        if isinstance(module, str) and module in project.modules:
            modules.append(module)
    if not modules:
        return None
    parts = modules[0].split(".")
    for index in range(len(parts) - 1, 0, -1):
        if parts[index] in _HOME_PARTS:
            return ".".join(parts[:index])
    return modules[0]


def _home_modules(home: str | None, project: Project) -> list[Module]:
    if home is None:
        return []
    return [m for name, m in project.modules.items() if name == home or name.startswith(home + ".")]


def _called_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _calls_in(modules: Iterable[Module]) -> list[tuple[Module, ast.Call]]:
    """Every call written in ``modules``, with its module: what the readings below look at."""
    return [
        (module, node)
        for module in modules
        for node in ast.walk(module.tree)
        if isinstance(node, ast.Call)
    ]


def _first_text(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def _read_calls(service: ServiceMap, calls: list[tuple[Module, ast.Call]]) -> None:
    for module, call in calls:
        name = _first_text(call)
        if name is None:
            continue
        function = call.func
        asked = _called_name(function) == "RemoteService" or (
            isinstance(function, ast.Attribute)
            and function.attr == "get"
            and (_called_name(function.value) or "").lower().endswith("clients")
        )
        if asked and name != service.name:
            service.calls.append((name, Place(module.path, call.lineno)))
    service.calls.sort(key=lambda call: (call[0], call[1]))


def _read_sends(
    service: ServiceMap, calls: list[tuple[Module, ast.Call]], others: dict[type, str]
) -> None:
    by_name = {message.__name__: message for message in others}
    seen: set[type] = set()
    for module, call in calls:
        message = by_name.get(_called_name(call.func) or "")
        if message is not None and message not in seen:
            seen.add(message)
            service.sends.append(MessageUse(message, Place(module.path, call.lineno)))


def _place_publishes(service: ServiceMap, calls: list[tuple[Module, ast.Call]]) -> None:
    """Where each published event is declared: the ``publishes(...)`` call naming it."""
    places: dict[str, Place] = {}
    for module, call in calls:
        if isinstance(call.func, ast.Attribute) and call.func.attr == "publishes":
            for argument in call.args:
                name = _called_name(argument)
                if name is not None:
                    places.setdefault(name, Place(module.path, call.lineno))
    service.publishes = [
        MessageUse(use.type, places.get(use.type.__name__, use.place)) for use in service.publishes
    ]
