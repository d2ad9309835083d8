"""The stats model: plain values, no framework."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass
class WeeklyTotal:
    """What a runner ran in one week (Monday to Sunday); kept up as her runs come and go."""

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

    def change_run(self, previous_meters: float, meters: float) -> None:
        """Count a run of ``previous_meters`` as one of ``meters``."""
        self.meters += meters - previous_meters

    def remove_run(self, meters: float) -> None:
        """Count one run of ``meters`` less."""
        self.meters -= meters
        self.runs -= 1
