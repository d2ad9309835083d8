"""The runs application: recording runs and adding up weeks, served as the ``runs`` service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import atoll
from runnerly.runs.domain import (
    InvalidRunError,
    RunRepository,
    UserDirectory,
    check_run,
    week_of,
    weekly_meters,
)
from runnerly.runs.model import Run

__all__ = [
    "RecordRun",
    "RunRecorded",
    "Runs",
    "UnknownRunnerError",
    "get_weekly_meters",
    "record_run",
    "runs_of",
    "service",
]


class UnknownRunnerError(LookupError):
    """Runs are recorded for registered runners only."""


@dataclass(frozen=True)
class RecordRun:
    """Record a run."""

    user_id: int
    meters: float
    seconds: int
    started_at: datetime


@dataclass(frozen=True)
class RunRecorded:
    """A run was recorded."""

    run_id: int
    user_id: int
    meters: float


class Runs:
    """The runs service's use cases."""

    def __init__(self, repository: RunRepository, users: UserDirectory) -> None:
        self._repository = repository
        self._users = users

    async def record(self, command: RecordRun) -> Run:
        """Record a run of a registered runner."""
        if not await self._users.exists(command.user_id):
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


service = atoll.Service("runs", version="0.1.0", description="Runs and weekly distances.")
service.provide(Runs)
service.error(UnknownRunnerError, status=404, code=-32004)
service.error(InvalidRunError, status=422, code=-32002)


@service.command(RecordRun, path="/runs", status=201)
async def record_run(command: RecordRun, runs: Runs, events: atoll.Events) -> Run:
    """Record a run of a registered runner."""
    run = await runs.record(command)
    events.add(RunRecorded(run.id, run.user_id, run.meters))
    return run


@service.get("/users/{user_id}/runs")
async def runs_of(user_id: int, runs: Runs) -> list[Run]:
    """A runner's runs, oldest first."""
    return runs.runs_of(user_id)


@service.rpc(name="weekly_meters")
@service.get("/users/{user_id}/weekly-meters")
async def get_weekly_meters(user_id: int, runs: Runs, day: datetime | None = None) -> float:
    """The meters a runner ran in the week (Monday to Sunday) of ``day``, this week by default."""
    return runs.weekly_meters(user_id, day or datetime.now(tz=UTC))
