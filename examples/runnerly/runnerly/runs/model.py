"""The runs model: the run aggregate, and the events it raises; no framework."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from runnerly.runs.contracts import RunChanged, RunDeleted, RunRecorded


@dataclass
class Run:
    """One run, as its runner recorded it; the database assigns the id of a new one.

    ``user_id`` is its runner's, who alone may see, change or delete it; it never changes.
    ``events`` holds what the run raised until its unit of work commits them to the outbox
    (in the stream ``Run:<id>``); it is never stored, and never shown. ``version`` counts its
    committed changes, so that two changes at once cannot both win; it is never shown either.
    """

    id: int | None
    user_id: int
    meters: float
    seconds: int
    started_at: datetime
    notes: str = ""
    version: int = 0
    events: list[object] = field(default_factory=list, compare=False, repr=False)

    @property
    def pace(self) -> float:
        """Seconds per kilometre."""
        return self.seconds / (self.meters / 1000)

    def recorded(self) -> None:
        """Raise :class:`RunRecorded`, once the run has its id (its repository added it)."""
        self.events.append(RunRecorded(self._id(), self.user_id, self.meters, self.started_at))

    def change(self, meters: float, seconds: int, notes: str) -> None:
        """Take the distance, time and notes given; raise :class:`RunChanged`."""
        previous = self.meters
        self.meters, self.seconds, self.notes = meters, seconds, notes
        self.events.append(
            RunChanged(self._id(), self.user_id, self.started_at, self.meters, previous)
        )

    def deleted(self) -> None:
        """Raise :class:`RunDeleted`, as its repository removes it."""
        self.events.append(RunDeleted(self._id(), self.user_id, self.started_at, self.meters))

    def _id(self) -> int:
        if self.id is None:
            raise ValueError("a run has an id once its repository added it")
        return self.id
