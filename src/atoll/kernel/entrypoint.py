"""The entrypoint: configuration, then the container, then the lifecycle, until a signal.

``atoll.main(app)`` is all a service's ``__main__.py`` needs. In order, it:

1. reads the configuration (defaults < file < environment < flags) and exits with status 2 and
   a message naming the option if a value is wrong;
2. builds the container (the provider graph is checked) with every option section provided by
   type, and makes the app-scoped instances;
3. starts the components it finds among them (objects with ``async def start`` and ``async def
   stop``) in dependency order, then the background tasks, and logs that it is ready;
4. on SIGTERM or SIGINT, drains in-flight work within the grace period, stops everything in
   reverse, and exits.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import sys
import threading
from typing import TYPE_CHECKING, Any, NoReturn

from atoll.errors import AtollError, ConfigError, ContainerError
from atoll.kernel.app import App, LogOptions, ShutdownOptions, as_app
from atoll.kernel.config import ConfigSpec
from atoll.kernel.inflight import InFlight
from atoll.kernel.lifecycle import BackgroundTask, Lifecycle, Unit
from atoll.kernel.providers import Key, describe_key

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from atoll.kernel.config import Config
    from atoll.kernel.container import Container

__all__ = ["components", "execute", "main", "serve"]

logger = logging.getLogger("atoll")

EXIT_FAILURE = 1
EXIT_USAGE = 2
FORCED_EXIT_DELAY = 2.0
"""Seconds a forced stop leaves for cleanups before the process is ended regardless."""


def main(app: object, argv: Sequence[str] | None = None) -> NoReturn:
    """Run ``app`` as this process's program, then exit with its status.

    Args:
        app: an :class:`App`, or anything :func:`~atoll.kernel.app.as_app` accepts.
        argv: the command-line arguments; ``sys.argv[1:]`` by default.
    """
    sys.exit(execute(app, argv))


def execute(
    app: object,
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    prog: str | None = None,
) -> int:
    """Run ``app`` until it stops, and return the exit status.

    0 after a clean stop, 1 after a failure (start, task, stop), 2 for a configuration error,
    128 + the signal number when a second signal forced the exit.
    """
    application = as_app(app)
    spec = ConfigSpec(
        application.sections,
        prog=prog or _default_prog(application),
        env_prefix=application.env_prefix,
        description=application.description,
        version=application.version,
    )
    try:
        config = spec.load(argv, environ)
    except ConfigError as error:
        print(f"{spec.prog}: configuration error:\n{error}", file=sys.stderr)  # noqa: T201 - the user's terminal
        return EXIT_USAGE
    if config.show_config:
        print(config.describe())  # noqa: T201 - asked for with --print-config
        return 0
    _configure_logging(config.section("log"))
    try:
        return asyncio.run(serve(application, config))
    except (AtollError, Exception) as error:
        logger.critical("%s failed: %s", application.name, error, exc_info=error)
        return EXIT_FAILURE


async def serve(app: App, config: Config) -> int:
    """Build the container, run the lifecycle until it stops, close the container.

    Raises:
        GraphError: the provider graph is invalid.
        Exception: whatever a factory or a component's ``start`` raised.
    """
    shutdown: ShutdownOptions = config.section("shutdown")
    lifecycle = Lifecycle(name=app.name, grace=shutdown.grace)
    container = _container(app, config, lifecycle)
    async with container:
        tasks = [BackgroundTask(spec.name, _bind(container, spec.function)) for spec in app.tasks]
        code = await lifecycle.run(components(container, ignore=(lifecycle,)), tasks)
        if lifecycle.forced:
            _exit_soon(code)
        return code


def _exit_soon(code: int) -> None:
    """Make sure a forced stop ends the process, even if some code ignores cancellation.

    The cleanups that follow (the container's, then asyncio's cancelling of leftover tasks) get
    a moment to finish; whatever still holds the process after it is cut off.
    """
    timer = threading.Timer(FORCED_EXIT_DELAY, os._exit, (code,))
    timer.daemon = True
    timer.start()


def components(container: Container, *, ignore: Sequence[object] = ()) -> list[Unit]:
    """The app-scoped instances that are components, each with the components it needs.

    A component is an object whose class defines ``async def start`` and ``async def stop``.
    It needs another component when it depends on it, directly or through providers that are
    not components themselves.
    """
    graph = container.graph
    instances = container.instances()
    names: dict[Key, str] = {
        key: describe_key(key)
        for key, instance in instances.items()
        if _is_component(instance) and not any(instance is other for other in ignore)
    }

    def needs(key: Key, seen: set[Key]) -> set[str]:
        found: set[str] = set()
        for dependency in graph.providers[key].dependencies:
            if dependency.key in seen or dependency.key not in graph.providers:
                continue
            seen.add(dependency.key)
            if dependency.key in names:
                found.add(names[dependency.key])
            else:
                found |= needs(dependency.key, seen)
        return found

    return [Unit(name, instances[key], frozenset(needs(key, set()))) for key, name in names.items()]


def _container(app: App, config: Config, lifecycle: Lifecycle) -> Container:
    registry = app.registry.copy()
    counts: dict[type[Any], int] = {}
    for _, options in app.sections:
        counts[options] = counts.get(options, 0) + 1
    for section, options in app.sections:
        instance = config.section(section)
        registry.value(instance, provides=options, name=section)
        if counts[options] == 1:
            registry.value(instance, provides=options)
    registry.value(lifecycle)
    registry.value(lifecycle.inflight, provides=InFlight)
    try:
        return registry.build()
    except ContainerError as error:
        msg = f"the providers of {app.name} do not fit together: {error}"
        raise type(error)(msg) from error


def _bind(container: Container, function: Any) -> Any:
    async def run() -> None:
        await container.acall(function)

    return run


def _is_component(instance: object) -> bool:
    cls = type(instance)
    return inspect.iscoroutinefunction(getattr(cls, "start", None)) and inspect.iscoroutinefunction(
        getattr(cls, "stop", None)
    )


def _default_prog(app: App) -> str:
    return f"python -m {app.name}"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each record."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        """The stream is always the current ``sys.stderr``."""


def _configure_logging(options: LogOptions) -> None:
    root = logging.getLogger()
    if not any(isinstance(handler, _StderrHandler) for handler in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(options.level.upper())
