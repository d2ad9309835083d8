"""Readiness: whether the application can take work now, from its lifecycle and its checks.

A check is an async callable that returns ``None`` when what it checks is ready and raises
when it is not; the exception's message is the reason. The components that can tell whether
they reach what they hold (the databases) offer it as ``async def ping(self) -> None``, and
:meth:`Readiness.from_components` turns every such method into a check::

    readiness = Readiness.from_components(lifecycle, [("database users", users_db)])
    report = await readiness.report()
    # HealthReport(ready=False, state='starting', checks={'database users': 'ok'})

The application is ready when its lifecycle is ``ready`` and every check passed. The checks
run side by side, each within a timeout, so that one database out of reach delays the answer
by the timeout at most, not by the sum of its retries; the report says how long each took.

:class:`About` holds what a health page tells of the application besides its health, read once
when it starts: its name, its version (or its package's) and what it was built from and with.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Self, TypeAlias

from atoll._version import __version__
from atoll.errors import ConfigError
from atoll.kernel.lifecycle import State

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence

    from atoll.kernel.lifecycle import Lifecycle

__all__ = ["OK", "UNVERSIONED", "About", "Check", "HealthReport", "Readiness", "package_version"]

Check: TypeAlias = "Callable[[], Awaitable[None]]"
"""A readiness check: returns ``None`` when ready, raises an exception saying why when not."""

OK = "ok"
"""What a passed check reports."""

UNVERSIONED = "0.0.0"
"""The version of an application that was given none."""


@dataclass(frozen=True, slots=True)
class HealthReport:
    """What :meth:`Readiness.report` found.

    Attributes:
        ready: whether the lifecycle is ``ready`` and every check passed.
        state: the lifecycle's state, such as ``"starting"`` or ``"ready"``.
        checks: each check's name and outcome: ``"ok"`` or the reason it is not ready.
        latencies: each check's name and the seconds it took. Left out of comparisons: two
            reports that found the same are equal, however long the checks took.
    """

    ready: bool
    state: str
    checks: dict[str, str]
    latencies: dict[str, float] = field(default_factory=dict, compare=False)


class Readiness:
    """The readiness checks of an application, and its lifecycle they are read with.

    Args:
        lifecycle: the application's lifecycle; only its ``ready`` state can be ready.
        checks: the first checks, as ``(name, check)`` pairs; :meth:`add` adds more.
        timeout: the seconds each check may take before it counts as not ready.

    Raises:
        ConfigError: ``timeout`` is not a positive finite number, or two checks share a name.
    """

    def __init__(
        self,
        lifecycle: Lifecycle,
        checks: Sequence[tuple[str, Check]] = (),
        *,
        timeout: float = 2.0,
    ) -> None:
        if not 0 < timeout < math.inf:
            raise ConfigError(
                f"the readiness timeout must be a positive finite number of seconds; got "
                f"{timeout!r}: pass for example timeout=2.0"
            )
        self.lifecycle = lifecycle
        self.timeout = timeout
        self._checks: dict[str, Check] = {}
        for name, check in checks:
            self.add(name, check)

    @classmethod
    def from_components(
        cls, lifecycle: Lifecycle, instances: Iterable[tuple[str, object]], *, timeout: float = 2.0
    ) -> Self:
        """A readiness checking every instance whose class defines ``async def ping(self)``.

        Args:
            lifecycle: the application's lifecycle.
            instances: ``(name, instance)`` pairs, such as the app-scoped components; each
                instance with an async ``ping`` becomes a check under its name, the others are
                left out.
            timeout: the seconds each check may take.

        Raises:
            ConfigError: as the constructor does.
        """
        # The class, not the instance, is asked, as is_component does: a plain `def ping` that
        # blocks would stall the event loop, and a mock's every attribute would pass.
        checks = [
            (name, instance.ping)  # type: ignore[attr-defined]  # the condition just found it
            for name, instance in instances
            if inspect.iscoroutinefunction(getattr(type(instance), "ping", None))
        ]
        return cls(lifecycle, checks, timeout=timeout)

    def add(self, name: str, check: Check) -> None:
        """Add ``check``, reported under ``name``.

        Raises:
            ConfigError: a check named ``name`` was added already.
        """
        if name in self._checks:
            raise ConfigError(
                f"a readiness check named {name!r} was added already; give each check its "
                "own name, such as that of the component it checks"
            )
        self._checks[name] = check

    @property
    def names(self) -> list[str]:
        """The names of the checks, in the order they were added."""
        return list(self._checks)

    async def report(self) -> HealthReport:
        """Run every check side by side, each within the timeout, and say what they found."""
        names, checks = list(self._checks), list(self._checks.values())  # add() may come meanwhile
        found = await asyncio.gather(*map(self._outcome, checks))
        state = self.lifecycle.state  # after the checks: a stop may have begun meanwhile
        ready = state is State.READY and all(outcome == OK for outcome, _ in found)
        return HealthReport(
            ready,
            str(state),
            {name: outcome for name, (outcome, _) in zip(names, found, strict=True)},
            {name: seconds for name, (_, seconds) in zip(names, found, strict=True)},
        )

    async def _outcome(self, check: Check) -> tuple[str, float]:
        """The check's outcome, and the seconds it took."""
        began = time.perf_counter()
        deadline = asyncio.timeout(self.timeout)
        try:
            async with deadline:
                await check()
        except Exception as error:  # noqa: BLE001 - any failure of a check is its reason
            if deadline.expired():  # not a TimeoutError the check itself raised
                outcome = f"no answer within {self.timeout:g} s"
            else:
                outcome = str(error) or type(error).__name__
        else:
            outcome = OK
        return outcome, time.perf_counter() - began

    def __repr__(self) -> str:
        return f"<Readiness {self.lifecycle.name!r} checks={self.names}>"


@dataclass(frozen=True, slots=True)
class About:
    """What a health page tells of the application besides its health; the same while it runs.

    Attributes:
        name: the application's name.
        version: its version; ``None`` when neither it nor its package says one.
        build: what it was built with and from: atoll's version and Python's, and the commit
            and the date of the build where they were given.
    """

    name: str
    version: str | None
    build: dict[str, str]

    @classmethod
    def of(
        cls,
        name: str,
        version: str,
        modules: Iterable[str] = (),
        *,
        commit: str = "",
        build_date: str = "",
    ) -> Self:
        """What to tell of an application, its version its package's if it was given none.

        Reads the installed packages' metadata when the version is :data:`UNVERSIONED`: make
        it once, when the application starts.

        Args:
            name: the application's name.
            version: its version; :data:`UNVERSIONED` when none was given.
            modules: the modules of its code (its handlers'); the first one outside atoll
                names the package whose version serves when the application has none.
            commit: the commit it was built from; left out when empty.
            build_date: when it was built; left out when empty.
        """
        told: str | None = version
        if version == UNVERSIONED:
            packages = (module.partition(".")[0] for module in modules)
            package = next((each for each in packages if each not in {"", "atoll"}), None)
            told = None if package is None else package_version(package)
        build = {"atoll": __version__, "python": sys.version.partition(" ")[0]}
        if commit:
            build["commit"] = commit
        if build_date:
            build["date"] = build_date
        return cls(name, told, build)


def package_version(package: str) -> str | None:
    """The version of ``package``: its ``__version__``, else its installed distribution's.

    Returns:
        The version, or ``None`` when the package is not imported with a ``__version__`` and no
        installed distribution holds it.
    """
    # Read from the module's own names: a module __getattr__ may warn that __version__ is
    # deprecated (click's does), and a health page must not cause a warning.
    declared = vars(sys.modules[package]).get("__version__") if package in sys.modules else None
    if isinstance(declared, str):
        return declared
    import importlib.metadata  # noqa: PLC0415 - read once at start-up; the import is not free

    def distributions() -> Iterator[str]:
        yield package  # most often the distribution's name; asking costs one look
        # Reads every installed distribution's file list: only when the name was not it.
        yield from importlib.metadata.packages_distributions().get(package, ())

    for name in distributions():
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None
