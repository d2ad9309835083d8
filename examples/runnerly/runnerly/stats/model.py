"""The stats model: plain values, no framework."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass
class WeeklyTotal:
    """What a runner ran in one week (Monday to Sunday); changed by each run recorded."""

    id: int | None
    user_id: int
    week: date
    meters: float = 0.0
    runs: int = 0
    version: int = 0

    def add_run(self, meters: float) -> None:
        """Count one more run of ``meters``."""
        self.meters += meters
        self.runs += 1
