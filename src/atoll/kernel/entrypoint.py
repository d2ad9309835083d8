"""The entrypoint: configuration, then the container, then the lifecycle, until a signal.

``atoll.main(app)`` is all a service's ``__main__.py`` needs. In order, it:

1. reads the configuration (defaults < file < environment < flags) and exits with status 2 and
   a message naming the option if a value is wrong;
2. builds the container (the provider graph is checked) with every option section provided by
   type, and makes the app-scoped instances;
3. on uvloop's event loop when uvloop is installed (``--loop-impl``), starts the components
   it finds among them (objects with ``async def start`` and ``async def stop``) in
   dependency order, then the background tasks, and logs that it is ready;
4. on SIGTERM or SIGINT, is no longer ready; after SIGTERM, goes on serving for the drain
   period; then finishes the work in flight within the grace period, stops everything in
   reverse, and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from atoll.errors import AtollError, ConfigError, ContainerError
from atoll.kernel.app import App, LogOptions, LoopOptions, ShutdownOptions, as_app
from atoll.kernel.config import ConfigSpec
from atoll.kernel.inflight import InFlight
from atoll.kernel.lifecycle import BackgroundTask, Lifecycle, Unit, is_component
from atoll.kernel.logs import ContextFilter, JsonFormatter, TextFormatter
from atoll.kernel.providers import Key, describe_key, split_key
from atoll.kernel.redaction import Redactor

if TYPE_CHECKING:
    import signal
    from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence

    from atoll.kernel.config import Config
    from atoll.kernel.container import Container

__all__ = [
    "build_container",
    "components",
    "config_spec",
    "configure_logging",
    "execute",
    "load_config",
    "main",
    "prepare_config",
    "running",
    "serve",
]

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

    0 after a clean stop (or ``--help``, ``--version``, ``--print-config``), 1 after a failure
    (start, task, stop), 2 for a configuration error, 128 + the signal number when a second
    signal forced the exit.
    """
    application = as_app(app)
    prog = prog or _default_prog(application, argv)
    config = prepare_config(application, argv, environ, prog=prog)
    if isinstance(config, int):
        return config
    configure_logging(config.section("log"), application.name, config.secrets())
    loop: LoopOptions = config.section("loop")
    watchdog = _ForcedExit()
    try:
        with asyncio.Runner(loop_factory=loop.factory()) as runner:
            return runner.run(serve(application, config, on_forced=watchdog.arm))
    except Exception as error:  # the last line of defence: log, then exit 1
        # atoll's errors, and the system's (a port in use), say what failed and what to check:
        # their traceback is for --log-level debug; anything else is a bug, shown whole.
        explained = isinstance(error, AtollError | OSError)
        if explained and not logger.isEnabledFor(logging.DEBUG):
            logger.critical(
                "%s failed: %s (--log-level debug shows where)", application.name, error
            )
        else:
            logger.critical("%s failed: %s", application.name, error, exc_info=error)
        return EXIT_FAILURE
    finally:
        watchdog.disarm()


def prepare_config(
    app: App,
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    prog: str,
) -> Config | int:
    """``app``'s configuration, ready to run; or the exit status if it is not to run.

    A configuration error is printed, with ``prog``, and is status 2; ``--help`` and
    ``--version`` are answered (status 0); ``--print-config`` prints the configuration
    (status 0).

    Args:
        app: the application.
        argv: its command-line arguments.
        environ: the environment; ``os.environ`` by default.
        prog: the program's name, as the messages show it.
    """
    try:
        config = load_config(app, argv, environ, prog=prog)
    except ConfigError as error:
        print(f"{prog}: configuration error:\n{error}", file=sys.stderr)  # noqa: T201 - the user's terminal
        return EXIT_USAGE
    except SystemExit as done:  # --help and --version have printed what was asked
        return done.code if isinstance(done.code, int) else EXIT_USAGE if done.code else 0
    if config.show_config:
        print(config.describe())  # noqa: T201 - asked for with --print-config
        return 0
    return config


def load_config(
    app: App,
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    prog: str | None = None,
) -> Config:
    """Read ``app``'s configuration from its defaults, file, environment and flags.

    Raises:
        ConfigError: a value, file or key is invalid; the message names each.
        SystemExit: ``--help`` or ``--version`` printed what was asked.
    """
    return config_spec(app, prog=prog).load(argv, environ)


def config_spec(app: App, *, prog: str | None = None) -> ConfigSpec:
    """The options of ``app``, as its configuration is read: their flags, variables, file.

    What :func:`load_config` reads, and what names the variables that set them
    (:meth:`Option.env_var <atoll.kernel.options.Option.env_var>`,
    :attr:`ConfigSpec.config_env <atoll.kernel.config.ConfigSpec.config_env>`).

    Raises:
        ConfigError: the environment prefix is malformed, or two options take one name.
    """
    return ConfigSpec(
        app.sections,
        prog=prog or app.name,
        env_prefix=app.env_prefix,
        description=app.description,
        version=app.version,
        defaults=app.option_defaults,
    )


async def serve(app: App, config: Config, *, on_forced: Callable[[int], None] | None = None) -> int:
    """Build the container, run the lifecycle until it stops, close the container.

    SIGTERM and SIGINT are handled from the start, while app-scoped instances are made, to the
    end, while their cleanups run: a signal before the application is ready stops it before it
    starts anything more.

    Args:
        app: the application.
        config: its resolved configuration.
        on_forced: called with the exit code when a second signal forces the stop.

    Raises:
        GraphError: the provider graph, or a background task's dependencies, are invalid.
        Exception: whatever a factory or a component's ``start`` raised.
    """
    shutdown: ShutdownOptions = config.section("shutdown")
    lifecycle = Lifecycle(name=app.name, grace=shutdown.grace, drain=shutdown.drain)
    container = build_container(app, config, lifecycle)

    def on_signal(signum: signal.Signals) -> None:
        lifecycle.handle_signal(signum)
        if lifecycle.forced and on_forced is not None:
            on_forced(128 + signum)

    try:
        with lifecycle.handling_signals(on_signal):
            async with container:
                units = components(container, ignore=(lifecycle,))
                return await lifecycle.run(units, _tasks(app, container), signals=False)
    finally:
        _write_queued_lines()


@contextlib.asynccontextmanager
async def running(app: App, config: Config) -> AsyncIterator[Container]:
    """The application started for the block, for a host that owns the process.

    An ASGI server's lifespan uses it: the server handles signals and decides when to stop,
    so nothing here touches them. A background task that fails is logged and stops the
    lifecycle; the host goes on until it stops the block.

    Raises:
        GraphError: the provider graph, or a background task's dependencies, are invalid.
        Exception: whatever a factory or a component's ``start`` raised.
    """
    shutdown: ShutdownOptions = config.section("shutdown")
    lifecycle = Lifecycle(name=app.name, grace=shutdown.grace)
    container = build_container(app, config, lifecycle)
    try:
        async with container:
            units = components(container, ignore=(lifecycle,))
            async with lifecycle.running(units, _tasks(app, container)):
                yield container
    finally:
        _write_queued_lines()


def _write_queued_lines() -> None:
    """Write the lines atoll's handler queued: their flush is due on a loop that may end now."""
    for handler in logging.root.handlers:
        if isinstance(handler, _StderrHandler):
            handler.flush()


def _tasks(app: App, container: Container) -> list[BackgroundTask]:
    return [
        BackgroundTask(t.name, functools.partial(container.acall, t.function)) for t in app.tasks
    ]


class _ForcedExit:
    """Ends the process shortly after a forced stop, even if some code ignores cancellation.

    The cleanups that follow a forced stop (the container's, then asyncio's cancelling of the
    tasks left) get :data:`FORCED_EXIT_DELAY` seconds; whatever still holds the process then is
    cut off. Disarmed when the run ends in time, so a caller of :func:`execute` lives on.
    """

    def __init__(self) -> None:
        self._timer: threading.Timer | None = None

    def arm(self, code: int) -> None:
        if self._timer is None:
            self._timer = threading.Timer(FORCED_EXIT_DELAY, os._exit, (code,))
            self._timer.daemon = True
            self._timer.start()

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def components(container: Container, *, ignore: Sequence[object] = ()) -> list[Unit]:
    """The app-scoped instances that are components, each with the components it needs.

    A component is an object whose class defines ``async def start`` and ``async def stop``.
    An entrypoint (see :func:`is_entrypoint`) needs every other component.
    It needs another component when it depends on it, directly or through providers that are
    not components themselves. An instance provided under several keys is one unit; a unit is
    named after its type, with its module when two types share a name.
    """
    graph = container.graph
    found = [
        (key, instance)
        for key, instance in container.instances().items()
        if is_component(instance) and not any(instance is other for other in ignore)
    ]
    first_keys = {id(instance): key for key, instance in reversed(found)}
    labels = Counter(describe_key(key) for key in first_keys.values())
    unit_of: dict[Key, str] = {}
    for key, instance in found:
        first = first_keys[id(instance)]
        label = describe_key(first)
        unit_of[key] = label if labels[label] == 1 else f"{_module_of(first)}.{label}"

    def needs(key: Key, seen: set[Key]) -> set[str]:
        wanted: set[str] = set()
        for dependency in graph.providers[key].dependencies:
            if dependency.key in seen or dependency.key not in graph.providers:
                continue
            seen.add(dependency.key)
            if dependency.key in unit_of:
                wanted.add(unit_of[dependency.key])
            else:
                wanted |= needs(dependency.key, seen)
        return wanted

    units: dict[str, Unit] = {}
    for key, instance in found:
        name = unit_of[key]
        needed = needs(key, set()) - {name}
        if name in units:
            needed |= units[name].needs
        units[name] = Unit(name, instance, frozenset(needed))
    entrypoints = {name for name, unit in units.items() if is_entrypoint(unit.component)}
    inner = frozenset(units) - entrypoints
    for name in entrypoints:
        unit = units[name]
        units[name] = Unit(name, unit.component, unit.needs | inner)
    return list(units.values())


def is_entrypoint(component: object) -> bool:
    """Whether ``component`` brings work in from outside (a server, a consumer).

    An entrypoint's class sets ``atoll_entrypoint = True``. It starts once every other
    component has started and stops before any of them, so that work still in flight when it
    stops finds what it needs running: what handlers use is reached through the bus at call
    time, which the provider graph cannot see.
    """
    return getattr(type(component), "atoll_entrypoint", False) is True


def build_container(app: App, config: Config, lifecycle: Lifecycle) -> Container:
    """The container of ``app``: its providers, options, lifecycle and build hooks, checked.

    A provider registered with ``when=`` is among them if its condition holds for ``config``.

    Raises:
        ContainerError: the providers, a background task or a build hook do not fit.
    """
    registry = app.registry.copy()
    counts = Counter(options for _, options in app.sections)
    for section, options in app.sections:
        instance = config.section(section)
        registry.value(instance, provides=options, name=section)
        if counts[options] == 1:
            registry.value(instance, provides=options)
    registry.value(lifecycle)
    registry.value(lifecycle.inflight, provides=InFlight)
    try:
        for conditional in app.conditional_providers:
            if conditional.when(config):
                registry.include(conditional.registry(), label="a provider switched on by `when`")
        container = registry.build()
        for task in app.tasks:
            container.graph.check_consumer(f"background task {task.name!r}", task.function)
        for hook in app.build_hooks:
            hook(container)
    except ContainerError as error:
        msg = f"the providers of {app.name} do not fit together: {error}"
        raise type(error)(msg) from error
    return container


def _default_prog(app: App, argv: Sequence[str] | None) -> str:
    """How the user started the program: ``python -m runs``, ``greeter.py``, or the app's name."""
    if argv is not None or not sys.argv or not sys.argv[0]:
        return app.name
    script = Path(sys.argv[0])
    if script.name == "__main__.py":
        return f"python -m {script.parent.name}"
    return script.name


def _module_of(key: Key) -> str:
    return str(getattr(split_key(key)[0], "__module__", "?"))


def _on_a_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced by an object without it, or closed
        return False


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each record.

    Its formatter makes lines without records too (``line()``), which the access logs write
    straight to its stream while it is the only handler (``writes_lines``).
    """

    writes_lines = True

    def __init__(self) -> None:
        super().__init__()
        self.queued: list[Any] = []
        """Lines made without records, to encode and write together, each after its text.

        Pairs (see :meth:`JsonFormatter.queued`), each added by one ``extend``, so that a
        thread writing the queue never takes a line without its text: the text nobody has
        looked at for secrets yet, then the line, a msgspec struct. Encoding and writing the
        lines of a moment at once cost an access line 3.5k CPU instructions less than one write
        each. Whoever queues one sees that they are written soon
        (``atoll.observability.access``); a record written first writes them, in order.
        """

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        """The stream is always the current ``sys.stderr``."""

    def write_queued(self) -> None:
        """Write the lines queued, encoded, to the stream (its buffer, when it has one)."""
        with self.lock:  # type: ignore[union-attr] # a handler's lock is made with it
            queued = self.queued
            lines = queued.copy()
            del queued[: len(lines)]  # not clear(): a line queued meanwhile by another thread
            if not lines:
                return
            formatter = self.formatter
            if not isinstance(formatter, JsonFormatter):  # replaced since they were queued
                formatter = JsonFormatter("", "")
            encoded = formatter.queued(lines)
            stream = self.stream
            try:
                target = stream.buffer
            except AttributeError:  # a stream of text alone, such as io.StringIO
                stream.write(encoded.decode())
            else:
                target.write(encoded)

    def setFormatter(self, fmt: logging.Formatter | None) -> None:  # noqa: N802 - logging's name
        """Write the lines queued under the formatter they were made for, then take ``fmt``.

        Their texts are masked by the secrets that formatter's redactor knows: a new one
        (``configure_logging`` again, another service's) may know other secrets.
        """
        if self.queued:
            self.write_queued()
        super().setFormatter(fmt)

    def emit(self, record: logging.LogRecord) -> None:
        """Write the lines queued first, then the record."""
        if self.queued:
            self.write_queued()
        super().emit(record)

    def flush(self) -> None:
        """Write the lines queued, and flush the stream."""
        if self.queued:
            self.write_queued()
        super().flush()


LIBRARIES = (
    "aiosqlite",
    "sqlalchemy",
    "alembic",
    "asyncpg",
    "nats",
    "aio_pika",
    "aiormq",
    "redis",
    "httpx",
    "httpcore",
    "asyncio",
    "hpack",
    "multipart",
)
"""The loggers of the libraries atoll runs on: ``--log-libraries`` sets their level."""

_SET_HERE: dict[str, int] = {}
"""The level set here last on each library logger: another one was set by the application."""


def configure_logging(options: LogOptions, service: str, secrets: Iterable[str] = ()) -> None:
    """The root logger at ``--log-level`` in ``--log-format``; libraries' at ``--log-libraries``.

    So that ``--log-level debug`` shows atoll's and the application's records, not every
    statement aiosqlite runs. A library logger the application set a level on is left alone.
    Either format masks ``secrets``, the configuration's, and whatever is named as a secret.
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _StderrHandler)), None)
    if handler is None:
        handler = _StderrHandler()
        handler.addFilter(ContextFilter())
        root.addHandler(handler)
    json_lines = options.format == "json" or (options.format == "auto" and not _on_a_terminal())
    redactor = Redactor(secrets)
    handler.setFormatter(
        JsonFormatter(service, redactor=redactor)
        if json_lines
        else TextFormatter(redactor=redactor)
    )
    root.setLevel(options.level.upper())
    level = logging.getLevelName(options.libraries.upper())
    for name in LIBRARIES:
        library = logging.getLogger(name)
        if library.level in {logging.NOTSET, _SET_HERE.get(name)}:
            library.setLevel(level)
            _SET_HERE[name] = level
