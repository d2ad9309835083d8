"""The runs domain: ports, and the rules of what a run is and what a week adds up to."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterable

    from runnerly.runs.model import Run

LONGEST_NOTES = 2000
"""The most characters a run's notes hold."""


LONGEST_RUN = 1_000_000.0
"""The most meters a run covers (1,000 km): past it, a run is a mistake, and the sums overflow."""


class InvalidRunError(ValueError):
    """A run covers some distance in some time, from a start with its offset, with short notes."""


class UnknownRunnerError(LookupError):
    """No runner has this id; or she is not the caller, who is told the same way."""

    def __init__(self, user_id: object) -> None:
        super().__init__(f"no runner with id {user_id}")
        self.user_id = user_id


class UnknownRunError(LookupError):
    """No run has this id; or none of the caller's does, which she is told the same way."""

    def __init__(self, run_id: object) -> None:
        super().__init__(f"no run with id {run_id}")
        self.run_id = run_id


class RunRepository(Protocol):
    """Where runs are kept."""

    async def add(self, run: Run) -> Run:
        """Keep a new run; its id is assigned by the time this returns."""
        ...

    async def get(self, identity: object) -> Run | None:
        """The run with this id, if any."""
        ...

    async def remove(self, run: Run) -> None:
        """Delete a run this unit of work got."""
        ...

    async def of_user(self, user_id: int) -> list[Run]:
        """A runner's runs, oldest first."""
        ...


class RunOwners(Protocol):
    """Whose each run is: what deciding who may touch a run reads, before the call's work."""

    async def owner_of(self, run_id: int) -> int | None:
        """The id of the runner of run ``run_id``; ``None`` when no run has this id."""
        ...


class UserDirectory(Protocol):
    """What the runs service needs to know of users: whether one exists."""

    async def exists(self, user_id: int) -> bool:
        """Whether a runner with this id is registered."""
        ...


def check_run(meters: float, seconds: int, notes: str = "") -> None:
    """Refuse runs of no distance or no time, and notes longer than :data:`LONGEST_NOTES`."""
    if meters <= 0:
        raise InvalidRunError(f"a run covers some distance; got {meters} meters")
    if not meters <= LONGEST_RUN:  # infinity too: "1e999" is a float to JSON
        raise InvalidRunError(f"a run covers at most {LONGEST_RUN:.0f} meters; got {meters}")
    if seconds <= 0:
        raise InvalidRunError(f"a run takes some time; got {seconds} seconds")
    if len(notes) > LONGEST_NOTES:
        raise InvalidRunError(f"a run's notes hold at most {LONGEST_NOTES} characters")


def check_moment(moment: datetime, what: str) -> None:
    """Refuse a time without its offset from UTC: the week it falls in would be a guess.

    Raises:
        InvalidRunError: ``moment`` is naive; the message names ``what`` it is.
    """
    if moment.utcoffset() is None:
        raise InvalidRunError(
            f"{what} needs its offset from UTC, as in 2026-11-23T07:30:00Z; "
            f"got {moment.isoformat()}"
        )


def week_of(moment: datetime) -> datetime:
    """The Monday 00:00 that starts the week of ``moment``."""
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def weekly_meters(runs: Iterable[Run], week_start: datetime) -> float:
    """The distance run in the week that starts at ``week_start``.

    Measured from the week's start: its end, in the last week of the year 9999, is past the
    last datetime.
    """
    week = timedelta(days=7)
    return sum(run.meters for run in runs if timedelta(0) <= run.started_at - week_start < week)
