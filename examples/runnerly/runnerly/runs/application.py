"""The runs application: recording runs and adding up weeks, served as the ``runs`` service."""

from __future__ import annotations

from datetime import UTC, datetime

import atoll
from runnerly.runs.contracts import INVALID_RUN, UNKNOWN_RUNNER, RecordRun
from runnerly.runs.domain import (
    InvalidRunError,
    RunRepository,
    UserDirectory,
    check_moment,
    check_run,
    week_of,
    weekly_meters,
)
from runnerly.runs.model import Run

__all__ = [
    "Runs",
    "RunsUnitOfWork",
    "UnknownRunnerError",
    "get_weekly_meters",
    "record_run",
    "runs_of",
    "service",
]


class UnknownRunnerError(LookupError):
    """Runs are recorded for registered runners only."""


class RunsUnitOfWork(atoll.UnitOfWork):
    """The runs service's unit of work."""

    runs: RunRepository


class Runs:
    """The runs service's use cases, over a repository and the users service."""

    def __init__(self, repository: RunRepository, users: UserDirectory) -> None:
        self._repository = repository
        self._users = users

    async def check(self, command: RecordRun) -> None:
        """Refuse a run of an unknown runner, of no distance or time, or of a naive start."""
        if not await self._users.exists(command.user_id):
            raise UnknownRunnerError(f"no runner with id {command.user_id}")
        check_run(command.meters, command.seconds, command.started_at)

    async def record(self, command: RecordRun) -> Run:
        """Keep a run that :meth:`check` accepted; it raises RunRecorded."""
        run = await self._repository.add(
            Run(None, command.user_id, command.meters, command.seconds, command.started_at)
        )
        run.recorded()
        return run

    async def weekly_meters(self, user_id: int, moment: datetime) -> float:
        """The distance a runner covered in the week of ``moment``, which says its offset."""
        check_moment(moment, "the day")
        return weekly_meters(await self._repository.of_user(user_id), week_of(moment))


service = atoll.Service("runs", version="0.2.0", description="Runs and weekly distances.")
service.error(UnknownRunnerError, status=404, code=UNKNOWN_RUNNER)
service.error(InvalidRunError, status=422, code=INVALID_RUN)


@service.command(RecordRun, path="/runs", status=201)
async def record_run(command: RecordRun, uow: RunsUnitOfWork, users: UserDirectory) -> Run:
    """Record a run of a registered runner; RunRecorded goes out through the outbox.

    Raises:
        UnknownRunnerError: no runner has this id.
        InvalidRunError: the run covers no distance, or takes no time, or its start has no
            offset from UTC.
    """
    runs = Runs(uow.runs, users)
    await runs.check(command)  # the users service is asked before any transaction opens
    async with uow:
        run = await runs.record(command)
        await uow.commit()  # the run and the event it raised, at once
    return run


@service.get("/users/{user_id}/runs")
async def runs_of(user_id: int, uow: RunsUnitOfWork) -> list[Run]:
    """A runner's runs, oldest first."""
    async with uow:
        return await uow.runs.of_user(user_id)


@service.rpc(name="weekly_meters")
@service.get("/users/{user_id}/weekly-meters")
async def get_weekly_meters(
    user_id: int, uow: RunsUnitOfWork, users: UserDirectory, day: datetime | None = None
) -> float:
    """The meters a runner ran in the week (Monday to Sunday) of ``day``, this week by default.

    Raises:
        InvalidRunError: ``day`` has no offset from UTC.
    """
    async with uow:
        return await Runs(uow.runs, users).weekly_meters(user_id, day or datetime.now(tz=UTC))
