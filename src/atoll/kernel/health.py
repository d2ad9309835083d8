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
by the timeout at most, not by the sum of its retries.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self, TypeAlias

from atoll.errors import ConfigError
from atoll.kernel.lifecycle import State

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Sequence

    from atoll.kernel.lifecycle import Lifecycle

__all__ = ["OK", "Check", "HealthReport", "Readiness"]

Check: TypeAlias = "Callable[[], Awaitable[None]]"
"""A readiness check: returns ``None`` when ready, raises an exception saying why when not."""

OK = "ok"
"""What a passed check reports."""


@dataclass(frozen=True, slots=True)
class HealthReport:
    """What :meth:`Readiness.report` found.

    Attributes:
        ready: whether the lifecycle is ``ready`` and every check passed.
        state: the lifecycle's state, such as ``"starting"`` or ``"ready"``.
        checks: each check's name and outcome: ``"ok"`` or the reason it is not ready.
    """

    ready: bool
    state: str
    checks: dict[str, str]


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
        outcomes = await asyncio.gather(*map(self._outcome, checks))
        state = self.lifecycle.state  # after the checks: a stop may have begun meanwhile
        ready = state is State.READY and all(outcome == OK for outcome in outcomes)
        return HealthReport(ready, str(state), dict(zip(names, outcomes, strict=True)))

    async def _outcome(self, check: Check) -> str:
        deadline = asyncio.timeout(self.timeout)
        try:
            async with deadline:
                await check()
        except Exception as error:  # noqa: BLE001 - any failure of a check is its reason
            if deadline.expired():  # not a TimeoutError the check itself raised
                return f"no answer within {self.timeout:g} s"
            return str(error) or type(error).__name__
        return OK

    def __repr__(self) -> str:
        return f"<Readiness {self.lifecycle.name!r} checks={self.names}>"
