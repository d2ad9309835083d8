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

__all__ = ["INVALID_RUN", "UNKNOWN_RUNNER", "RecordRun", "RunRecorded"]

UNKNOWN_RUNNER = -32004
"""The JSON-RPC code of a run recorded for no registered runner (HTTP 404)."""

INVALID_RUN = -32002
"""The JSON-RPC code of a run of no distance or no time (HTTP 422)."""


@dataclass(frozen=True)
class RecordRun:
    """Record a run."""

    __atoll_message__: ClassVar[str] = "runs.RecordRun"

    user_id: int
    meters: float
    seconds: int
    started_at: datetime


@dataclass(frozen=True)
class RunRecorded:
    """A run was recorded: what other services (stats) build on."""

    __atoll_message__: ClassVar[str] = "runs.RunRecorded"

    run_id: int
    user_id: int
    meters: float
    started_at: datetime
