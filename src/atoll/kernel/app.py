"""The application: its options, providers and background tasks, in one composition root.

An :class:`App` only records what it is made of; nothing is read, connected or started until
:func:`atoll.main` (or ``atoll run``) runs it. The kernel adds three sections of its own to every
application: ``shutdown`` (the drain and grace periods), ``log`` (the log level) and ``loop``
(the event loop).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, overload, runtime_checkable

from atoll.errors import ConfigError, ProviderError, TargetError
from atoll.kernel.options import option
from atoll.kernel.registry import Registry

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable, Mapping

    from atoll.kernel.config import Config
    from atoll.kernel.container import Container
    from atoll.kernel.providers import Key

__all__ = [
    "App",
    "AppLike",
    "BackgroundTaskSpec",
    "ConditionalProvider",
    "Declarations",
    "LogOptions",
    "LoopOptions",
    "ShutdownOptions",
    "as_app",
]

T = TypeVar("T")
F = TypeVar("F", bound="Callable[..., Awaitable[Any]]")

_NAME = re.compile(r"[a-z][a-z0-9_-]*\Z")


@dataclass(frozen=True)
class ShutdownOptions:
    """How the application stops."""

    grace: float = option(
        10.0, help="seconds in-flight work may take to finish on SIGTERM before it is cut off"
    )
    drain: float = option(
        0.0,
        help="seconds the service goes on serving after SIGTERM, answering 503 to "
        "/health/ready, so that a load balancer sends the traffic elsewhere before the "
        "listener closes; the grace period begins after (5 suits Kubernetes)",
    )

    def __post_init__(self) -> None:
        for name, example in (("grace", 10), ("drain", 5)):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                msg = (
                    f"{name} must be a finite number of seconds, 0 or more, such as {example}; "
                    f"got {value}"
                )
                raise ValueError(msg)


@dataclass(frozen=True)
class LogOptions:
    """What the application logs."""

    level: Literal["debug", "info", "warning", "error"] = option(
        "info", help="the lowest level of log record written, of atoll and of the application"
    )
    libraries: Literal["debug", "info", "warning", "error"] = option(
        "warning",
        help="the lowest level written of the libraries atoll runs on (SQLAlchemy, aiosqlite, "
        "asyncpg, Alembic, the broker clients, httpx, asyncio)",
    )
    format: Literal["text", "json", "auto"] = option(
        "auto",
        help="how records are written: text (for a terminal), json (one object per line, with "
        "the service, the instance and the context of the work in progress), or auto (text "
        "on a terminal, json elsewhere)",
    )
    access: list[str] = option(
        default_factory=list,
        help="the access log lines written, comma-separated: http (one per request), rpc (one "
        "per JSON-RPC call), messages (one per message handled), graphql (one per GraphQL "
        "operation), or all; none by default",
    )

    def __post_init__(self) -> None:
        unknown = sorted(set(self.access) - {*ACCESS_LOGS, "all"})
        if unknown:
            msg = (
                f"access holds {', '.join(unknown)}; choose among {', '.join(ACCESS_LOGS)}, "
                "or all, such as http,messages"
            )
            raise ValueError(msg)

    def logs_access(self, kind: str) -> bool:
        """Whether access lines of ``kind`` (one of :data:`ACCESS_LOGS`) are written."""
        return kind in self.access or "all" in self.access


ACCESS_LOGS = ("http", "rpc", "messages", "graphql")
"""The kinds of access log line: per HTTP request, per JSON-RPC call, per message handled, per
GraphQL operation."""


@dataclass(frozen=True)
class LoopOptions:
    """Which event loop the application runs on."""

    impl: Literal["auto", "uvloop", "asyncio"] = option(
        "auto",
        help="the event loop: uvloop's (the faster) when it is installed, or asyncio's own",
    )

    def __post_init__(self) -> None:
        if self.impl == "uvloop" and importlib.util.find_spec("uvloop") is None:
            msg = (
                "impl is uvloop, but uvloop is not installed: install it (pip install uvloop; "
                "it does not run on Windows) or choose auto"
            )
            raise ValueError(msg)

    def factory(self) -> Callable[[], asyncio.AbstractEventLoop] | None:
        """What makes the chosen loop; None for asyncio's own.

        uvloop is imported here, when the application runs, never when atoll is imported.
        """
        if self.impl == "asyncio":
            return None
        try:
            uvloop = importlib.import_module("uvloop")
        except ImportError:  # auto without uvloop: asyncio's own loop
            return None
        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return factory


@dataclass(frozen=True)
class BackgroundTaskSpec:
    """A supervised background task: a coroutine function whose parameters are injected."""

    name: str
    function: Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class ConditionalProvider:
    """A provider registered only when the configuration asks for it (``provide(when=...)``)."""

    when: Callable[[Config], bool]
    """Called with the resolved configuration when the container is built."""
    factory: Callable[..., Any]
    """The recipe."""
    arguments: Mapping[str, Any] = field(default_factory=dict)
    """The other arguments of :meth:`Registry.provide`: ``scope``, ``provides``, ``name``."""

    def registry(self) -> Registry:
        """A registry holding this provider alone."""
        alone = Registry()
        alone.provide(self.factory, **self.arguments)
        return alone

    @property
    def key(self) -> Key:
        """What the provider provides: its type, or ``(type, name)``."""
        return next(iter(self.registry()))


@runtime_checkable
class AppLike(Protocol):
    """Anything that can hand over an :class:`App`, such as a service or a system of them."""

    def __atoll_app__(self) -> App:
        """The application to run."""
        ...


class App:
    """An application: options, providers and background tasks.

    ::

        app = atoll.App("runs", version="1.0.0")
        app.options("db", DatabaseOptions)          # --db-url, RUNS_DB_URL, [db] url
        app.provide(make_engine)                    # gets DatabaseOptions by type hint
        @app.task
        async def relay(outbox: Outbox) -> None: ...
        atoll.main(app)                             # python -m runs --help

    Args:
        name: lower-case name, used in logs, ``--help`` and the environment prefix.
        version: shown by ``--version``.
        description: the first paragraph of ``--help``.
        env_prefix: the prefix of environment variables; the upper-cased name by default.
    """

    def __init__(
        self,
        name: str,
        *,
        version: str = "0.0.0",
        description: str = "",
        env_prefix: str | None = None,
    ) -> None:
        if not _NAME.match(name):
            raise ConfigError(
                f"application name {name!r} is not valid: use lower-case letters, digits, "
                "'-' and '_', starting with a letter (it becomes the environment prefix)"
            )
        self.name = name
        self.version = version
        self.description = description
        self.env_prefix = env_prefix or name.upper().replace("-", "_")
        self.registry = Registry()
        self._sections: dict[str, type[Any]] = {}
        self._defaults: dict[str, object] = {}
        self._tasks: list[BackgroundTaskSpec] = []
        self._on_build: list[Callable[[Container], None]] = []
        self._conditional: list[ConditionalProvider] = []
        self.options("shutdown", ShutdownOptions)
        self.options("log", LogOptions)
        self.options("loop", LoopOptions)

    @property
    def sections(self) -> list[tuple[str, type[Any]]]:
        """The option sections, in the order they were added."""
        return list(self._sections.items())

    @property
    def tasks(self) -> list[BackgroundTaskSpec]:
        """The background tasks, in the order they were added."""
        return list(self._tasks)

    @property
    def conditional_providers(self) -> list[ConditionalProvider]:
        """The providers registered with ``when=``, in the order added."""
        return list(self._conditional)

    @property
    def build_hooks(self) -> list[Callable[[Container], None]]:
        """What is called with the container once it is built, in the order added."""
        return list(self._on_build)

    def on_build(self, hook: Callable[[Container], None]) -> None:
        """Call ``hook`` with the container once it is built, before any instance is made.

        For what must check itself against the whole provider graph, or keep the container:
        the message bus binds its handlers this way. A hook that raises a
        :class:`~atoll.errors.ContainerError` fails the start like an invalid graph does.
        """
        self._on_build.append(hook)

    def options(self, section: str, options: type[T]) -> type[T]:
        """Add a section of options; its resolved instance is provided by type.

        Raises:
            ConfigError: the section name is taken.
        """
        if section in self._sections:
            raise ConfigError(
                f"section {section!r} is already declared by {self._sections[section].__name__}; "
                "give the second one another section name"
            )
        self._sections[section] = options
        return options

    def defaults(self, values: Mapping[str, Any]) -> None:
        """Set the defaults of options in place of those their dataclasses declare.

        ``values`` is written as a config file is, a table per section::

            app.defaults({"auth": {"anonymous": False, "jwt": {"issuer": "https://id.example"}}})

        These are the application's own defaults: below its config file, environment and
        flags, and shown by ``--help`` as the defaults. A key that names no option is an
        error when the configuration is loaded; a value is checked as any other.
        """
        self._defaults.update(_flattened(values))

    @property
    def option_defaults(self) -> dict[str, object]:
        """The defaults :meth:`defaults` set, by the options' dotted keys."""
        return dict(self._defaults)

    @overload
    def provide(
        self, factory: T, /, *, when: Callable[[Config], bool] | None = ..., **kwargs: Any
    ) -> T: ...

    @overload
    def provide(
        self,
        factory: None = None,
        /,
        *,
        when: Callable[[Config], bool] | None = ...,
        **kwargs: Any,
    ) -> Callable[[T], T]: ...

    def provide(
        self,
        factory: Any = None,
        /,
        *,
        when: Callable[[Config], bool] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Register a provider; the arguments are those of :meth:`Registry.provide`.

        Args:
            factory: the recipe.
            when: register it only if this returns true for the resolved configuration, when
                the container is built: ``when=lambda config: config.section("server").enabled``.
                Otherwise nothing is ever made from it, and whatever depends on it fails the
                graph check.
            **kwargs: ``scope``, ``provides``, ``name``, ``replace``.
        """
        if when is None:
            return self.registry.provide(factory, **kwargs)
        if factory is None:
            return lambda f: self.provide(f, when=when, **kwargs)
        conditional = ConditionalProvider(when, factory, kwargs)
        conditional.registry()  # its hints are read, and refused, now rather than at start
        self._conditional.append(conditional)
        return factory

    def value(self, value: object, /, **kwargs: Any) -> None:
        """Register an instance; the arguments are those of :meth:`Registry.value`."""
        self.registry.value(value, **kwargs)

    @overload
    def task(self, function: F, /) -> F: ...

    @overload
    def task(self, function: None = None, /, *, name: str | None = None) -> Callable[[F], F]: ...

    def task(
        self, function: F | None = None, /, *, name: str | None = None
    ) -> F | Callable[[F], F]:
        """Add a supervised background task, started once every component has started.

        Its parameters are filled from the app scope by type hint. If it raises, the
        application stops with a non-zero exit; if it returns, it is done and the application
        goes on. It is cancelled when the application stops.
        """
        if function is None:
            return lambda f: self._add_task(f, name)
        return self._add_task(function, name)

    def _add_task(self, function: F, name: str | None) -> F:
        name = name or function.__name__
        is_async: bool = inspect.iscoroutinefunction(function)
        if not is_async:
            raise ProviderError(
                f"background task {name!r} ({getattr(function, '__qualname__', function)}) is "
                "not an async function; declare it with `async def`, and run blocking work in "
                "a thread with `await asyncio.to_thread(...)`"
            )
        self._tasks.append(BackgroundTaskSpec(name, function))
        return function

    def __atoll_app__(self) -> App:
        return self

    def __repr__(self) -> str:
        return f"App({self.name!r}, version={self.version!r})"


class Declarations:
    """What a service or a system declares through the :class:`App` it holds, as ``self.app``."""

    app: App

    @property
    def name(self) -> str:
        """The name: of the environment prefix, the API's title, what clients call it."""
        return self.app.name

    @property
    def version(self) -> str:
        """The version, shown by ``--version`` and in the API documents."""
        return self.app.version

    @property
    def description(self) -> str:
        """The first paragraph of ``--help`` and of the API page."""
        return self.app.description

    def options(self, section: str, options: type[T]) -> type[T]:
        """Add a section of options; see :meth:`App.options`."""
        return self.app.options(section, options)

    def defaults(self, values: Mapping[str, Any]) -> None:
        """Set the defaults of options in place of their dataclasses'; see :meth:`App.defaults`."""
        self.app.defaults(values)

    def provide(self, factory: Any = None, /, **kwargs: Any) -> Any:
        """Register a provider; see :meth:`atoll.Registry.provide`."""
        return self.app.provide(factory, **kwargs)

    def value(self, value: object, /, **kwargs: Any) -> None:
        """Register an instance; see :meth:`atoll.Registry.value`."""
        self.app.value(value, **kwargs)

    def task(self, function: Any = None, /, *, name: str | None = None) -> Any:
        """Add a supervised background task; see :meth:`App.task`."""
        return self.app.task(function, name=name)


def _flattened(values: Mapping[str, Any], within: str = "") -> dict[str, object]:
    """``values``, nested by section, as dotted keys.

    ``{"auth": {"anonymous": False}}`` gives ``{"auth.anonymous": False}``: no option's value
    is a mapping, so a mapping is a section.
    """
    flat: dict[str, object] = {}
    for name, value in values.items():
        key = f"{within}.{name}" if within else name
        if isinstance(value, dict):
            flat.update(_flattened(value, key))
        else:
            flat[key] = value
    return flat


def as_app(target: object, label: str = "the target") -> App:
    """The :class:`App` behind ``target``: an App, an :class:`AppLike`, or a function returning one.

    Raises:
        TargetError: ``target`` is none of those.
    """
    if isinstance(target, App):
        return target
    if isinstance(target, type):
        raise TargetError(
            f"{label} is the class {target.__name__}, not an application; point it at an "
            "instance (an atoll.App, or an object with __atoll_app__()), or a function "
            "returning one"
        )
    if isinstance(target, AppLike):
        return target.__atoll_app__()
    if callable(target) and not isinstance(target, type):
        return as_app(target(), f"what {label} returned")
    raise TargetError(
        f"{label} is {type(target).__name__} {target!r:.60}, not an application; point it at an "
        "atoll.App, an object with __atoll_app__(), or a function returning one"
    )
