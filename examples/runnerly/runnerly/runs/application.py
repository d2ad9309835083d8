"""The runs application: recording runs and adding up weeks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from runnerly.runs.domain import (
    RunRepository,
    UserDirectory,
    check_run,
    week_of,
    weekly_meters,
)
from runnerly.runs.model import Run


class UnknownRunnerError(LookupError):
    """Runs are recorded for registered runners only."""


@dataclass(frozen=True)
class RecordRun:
    """Record a run."""

    user_id: int
    meters: float
    seconds: int
    started_at: datetime


class Runs:
    """The runs service's use cases."""

    def __init__(self, repository: RunRepository, users: UserDirectory) -> None:
        self._repository = repository
        self._users = users

    def record(self, command: RecordRun) -> Run:
        """Record a run of a registered runner."""
        if not self._users.exists(command.user_id):
            raise UnknownRunnerError(f"no runner with id {command.user_id}")
        check_run(command.meters, command.seconds)
        run = Run(
            id=self._repository.next_id(),
            user_id=command.user_id,
            meters=command.meters,
            seconds=command.seconds,
            started_at=command.started_at,
        )
        self._repository.add(run)
        return run

    def runs_of(self, user_id: int) -> list[Run]:
        """A runner's runs, oldest first."""
        return self._repository.of_user(user_id)

    def weekly_meters(self, user_id: int, moment: datetime) -> float:
        """The distance a runner covered in the week of ``moment``."""
        return weekly_meters(self._repository.of_user(user_id), week_of(moment))
