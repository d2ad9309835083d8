"""What the runs service publishes: the messages and error codes other services may use.

The one module of ``runs`` that another service imports (an import-linter contract keeps it
so): plain dataclasses and constants, no framework. Each message declares its name on the
wire, so that moving or renaming this module changes nothing a consumer sees; a consumer in
another code base declares its own dataclass with the same name and fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

__all__ = [
    "INVALID_RUN",
    "UNKNOWN_RUN",
    "UNKNOWN_RUNNER",
    "RecordRun",
    "RunChange",
    "RunChanged",
    "RunDeleted",
    "RunRecorded",
]

UNKNOWN_RUNNER = -32004
"""The JSON-RPC code of "no runner with this id" (HTTP 404): a run recorded for no registered
runner, or the runs of a runner other than the caller, which are no one else's to see."""

INVALID_RUN = -32002
"""The JSON-RPC code of a run of no distance or no time, or notes too long (HTTP 422)."""

UNKNOWN_RUN = -32007
"""The JSON-RPC code of "no run with this id" (HTTP 404): none, or another runner's."""


@dataclass(frozen=True)
class RecordRun:
    """Record a run of the caller's: its runner is the one whose token the call carries."""

    __atoll_message__: ClassVar[str] = "runs.RecordRun"

    meters: float
    seconds: int
    started_at: datetime
    notes: str = ""
    user_id: int = 0
    """Whose run it is: the server's to set, from the caller's token; a caller's is refused."""


@dataclass(frozen=True)
class RunChange:
    """What changes in a run: each field given; one left out (or null) stays as it is."""

    meters: float | None = None
    seconds: int | None = None
    notes: str | None = None


@dataclass(frozen=True)
class RunRecorded:
    """A run was recorded: what other services (stats) build on."""

    __atoll_message__: ClassVar[str] = "runs.RunRecorded"

    run_id: int
    user_id: int
    meters: float
    started_at: datetime


@dataclass(frozen=True)
class RunChanged:
    """A runner changed a run of hers: its distance, time or notes (never when it started)."""

    __atoll_message__: ClassVar[str] = "runs.RunChanged"

    run_id: int
    user_id: int
    started_at: datetime
    meters: float
    previous_meters: float


@dataclass(frozen=True)
class RunDeleted:
    """A runner deleted a run of hers."""

    __atoll_message__: ClassVar[str] = "runs.RunDeleted"

    run_id: int
    user_id: int
    started_at: datetime
    meters: float
