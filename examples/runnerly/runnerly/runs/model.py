"""The runs model: plain values, no framework."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Run:
    """One run, as its runner recorded it; the database assigns the id of a new one."""

    id: int | None
    user_id: int
    meters: float
    seconds: int
    started_at: datetime

    @property
    def pace(self) -> float:
        """Seconds per kilometre."""
        return self.seconds / (self.meters / 1000)
