"""When a timer runs: every N seconds, or at the times a cron expression names.

The declarations of :mod:`atoll.service.timers`, apart from what runs them, so that declaring
a service (``@service.every(60)``) loads nothing of the event loop.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from atoll.errors import ConfigError

if TYPE_CHECKING:
    from atoll.messaging.handlers import Handler

__all__ = ["Cron", "Every", "Schedule", "Timer"]


class Schedule(Protocol):
    """When a timer runs."""

    def following(self, after: float) -> float:
        """The first tick strictly after ``after`` (Unix time)."""
        ...

    def describe(self) -> str:
        """The schedule, for logs and ``atoll routes``: ``every 60 s``."""
        ...


@dataclass(frozen=True)
class Every:
    """Every ``seconds``, at the multiples of ``seconds`` since the Unix epoch."""

    seconds: float

    def __post_init__(self) -> None:
        if not 0 < self.seconds < math.inf:
            raise ConfigError(
                f"a timer runs every so many seconds, above 0, such as every(60); got "
                f"{self.seconds!r}"
            )

    def following(self, after: float) -> float:
        """The first multiple of :attr:`seconds` after ``after``."""
        return (math.floor(after / self.seconds) + 1) * self.seconds

    def describe(self) -> str:
        """``every 60 s``."""
        return f"every {self.seconds:g} s"


@dataclass(frozen=True)
class Cron:
    """At the times a cron expression names (``*/5 * * * *``), read in UTC by ``croniter``.

    Raises:
        ConfigError: the expression is not one croniter reads.
        MissingDependencyError: croniter is not installed (``atoll[cron]``).
    """

    expression: str

    def __post_init__(self) -> None:
        if not _cron().is_valid(self.expression):
            raise ConfigError(
                f"{self.expression!r} is not a cron expression; write five fields, minute hour "
                "day month weekday, such as '*/5 * * * *' (every five minutes)"
            )

    def following(self, after: float) -> float:
        """The first time after ``after`` the expression names."""
        found: float = _cron().following(self.expression, after)
        return found

    def describe(self) -> str:
        """``cron '*/5 * * * *' (UTC)``."""
        return f"cron {self.expression!r} (UTC)"


def _cron() -> Any:
    """The croniter adapter (``atoll[cron]``), loaded when a cron timer is declared."""
    return importlib.import_module("atoll.adapters.croniter")


@dataclass(frozen=True)
class Timer:
    """A timer: its handler, when it runs, and whether on one instance of the fleet only."""

    handler: Handler
    schedule: Schedule
    singleton: bool = False

    @property
    def label(self) -> str:
        """How logs name it: ``runs.close_week``."""
        return f"{self.handler.service}.{self.handler.name}"

    @property
    def lease(self) -> str:
        """The name of its lease, when it is a singleton: ``timer:runs.close_week``."""
        return f"timer:{self.handler.service}.{self.handler.name}"
