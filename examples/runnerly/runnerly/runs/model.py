"""The runs model: the run aggregate, and the event it raises; no framework."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from runnerly.runs.contracts import RunRecorded


@dataclass(frozen=True)
class Run:
    """One run, as its runner recorded it; the database assigns the id of a new one.

    ``events`` holds what the run raised until its unit of work commits them to the outbox
    (in the stream ``Run:<id>``); it is never stored, and never shown.
    """

    id: int | None
    user_id: int
    meters: float
    seconds: int
    started_at: datetime
    events: list[object] = field(default_factory=list, compare=False, repr=False)

    @property
    def pace(self) -> float:
        """Seconds per kilometre."""
        return self.seconds / (self.meters / 1000)

    def recorded(self) -> None:
        """Raise :class:`RunRecorded`, once the run has its id (its repository added it)."""
        if self.id is None:
            raise ValueError("a run is recorded once its repository added it and gave it an id")
        self.events.append(RunRecorded(self.id, self.user_id, self.meters, self.started_at))
