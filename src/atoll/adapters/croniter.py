"""Cron expressions, read by croniter (``atoll[cron]``): the schedules of ``service.cron``."""

from __future__ import annotations

import datetime as dt

from atoll.errors import MissingDependencyError

try:
    from croniter import croniter  # type: ignore[import-untyped]
except ImportError as error:  # pragma: no cover - atoll[all] installs it
    raise MissingDependencyError("croniter", "cron") from error

__all__ = ["following", "is_valid"]


def is_valid(expression: str) -> bool:
    """Whether croniter reads ``expression``: five fields, or six with seconds."""
    valid: bool = croniter.is_valid(expression)
    return valid


def following(expression: str, after: float) -> float:
    """The first time after ``after`` (Unix time) that ``expression`` names, in UTC."""
    start = dt.datetime.fromtimestamp(after, dt.UTC)
    found: float = croniter(expression, start).get_next(float)
    return found
