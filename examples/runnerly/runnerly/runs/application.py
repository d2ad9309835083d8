"""The runs application: runs and weekly distances, served as the ``runs`` service.

Every run is its runner's: she alone may read, change or delete it, and see her runs and her
weeks. The policies beside the handlers say so, and atoll judges them before a handler runs,
whatever brought the call (REST, JSON-RPC, broker RPC, a call in the process). Anyone else is
told that the run, or the runner, does not exist: the very answer an id no one has gets (404,
or the same JSON-RPC error), so that ids cannot be enumerated. Whose a new run is comes from
the caller's token: ``user_id`` is the server's to set, and a call giving it is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

import atoll
from runnerly.runs.contracts import (
    INVALID_RUN,
    UNKNOWN_RUN,
    UNKNOWN_RUNNER,
    RecordRun,
    RunChange,
    RunChanged,
    RunDeleted,
    RunRecorded,
)
from runnerly.runs.domain import (
    InvalidRunError,
    RunOwners,
    RunRepository,
    UnknownRunError,
    UnknownRunnerError,
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
    "caller_is_a_runner",
    "caller_is_the_runner",
    "caller_ran_the_run",
    "change_run",
    "delete_run",
    "get_run",
    "get_weekly_meters",
    "patch_run",
    "record_run",
    "runner_of",
    "runs_of",
    "service",
]


class RunPages(RunRepository, Protocol):
    """Where runs are kept, as the application reads them: by page too.

    atoll's repositories page any aggregate by key; the domain has no use for pages.
    """

    async def page(
        self,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        order_by: str | Sequence[str] = "id",
        **equals: object,
    ) -> atoll.Page[Run]:
        """A page of runs, in the order of ``order_by``: see ``atoll.Repository.page``."""
        ...


class RunsUnitOfWork(atoll.UnitOfWork):
    """The runs service's unit of work."""

    runs: RunPages


PAGE = 20
"""The runs a page holds when the caller says neither ``first`` nor ``last``."""


# -- who may: the policies' checks --------------------------------------------------------------


def runner_of(identity: atoll.Identity) -> int | None:
    """The runner the caller is: a user's token's subject, her id; ``None`` for any other."""
    if identity.kind != "user" or not identity.subject.isdigit():
        return None
    return int(identity.subject)


def caller_is_a_runner(identity: atoll.Identity) -> bool:
    """Whether the caller is a runner: a service, or a token of no runner's, is refused (403)."""
    return runner_of(identity) is not None


def caller_is_the_runner(user_id: int, identity: atoll.Identity) -> bool:
    """Whether the caller is runner ``user_id``.

    Raises:
        UnknownRunnerError: the caller is anyone else, whether runner ``user_id`` exists or
            not: told as an id no runner has is told.
    """
    if runner_of(identity) != user_id:
        raise UnknownRunnerError(user_id)
    return True


async def caller_ran_the_run(run_id: int, identity: atoll.Identity, owners: RunOwners) -> bool:
    """Whether the caller ran run ``run_id``.

    Raises:
        UnknownRunError: no run has this id, or it is another runner's: the same answer.
    """
    runner = runner_of(identity)
    if runner is None or await owners.owner_of(run_id) != runner:
        raise UnknownRunError(run_id)
    return True


RUNNER = atoll.allow(check=caller_is_a_runner, server_owned=["user_id"])
"""A runner records runs of her own: whose is the server's to say, from her token."""
THE_RUNNER = atoll.allow(check=caller_is_the_runner)
"""Runner ``user_id`` herself, and no one else."""
THE_RUNS_RUNNER = atoll.allow(check=caller_ran_the_run)
"""The runner of run ``run_id``, and no one else."""
A_RUNNER = atoll.allow(check=caller_is_a_runner)
"""Any runner: what each is shown of is hers alone, as the handler says."""


# -- the use cases -------------------------------------------------------------------------------


class Runs:
    """The runs service's use cases, over the repository of runs."""

    def __init__(self, repository: RunRepository) -> None:
        self._repository = repository

    @staticmethod
    async def check(command: RecordRun, runner: int, users: UserDirectory) -> None:
        """Refuse a run of an unknown runner, of no distance or time, or of a naive start."""
        if not await users.exists(runner):
            raise UnknownRunnerError(runner)
        check_run(command.meters, command.seconds, command.notes)
        check_moment(command.started_at, "a run's start")

    async def record(self, command: RecordRun, runner: int) -> Run:
        """Keep a run of ``runner``'s that :meth:`check` accepted; it raises RunRecorded."""
        run = await self._repository.add(
            Run(None, runner, command.meters, command.seconds, command.started_at, command.notes)
        )
        run.recorded()
        return run

    async def of(self, run_id: int, runner: int) -> Run:
        """Run ``run_id``, which ``runner`` ran.

        Raises:
            UnknownRunError: no run has this id, or another runner ran it.
        """
        run = await self._repository.get(run_id)
        if run is None or run.user_id != runner:
            raise UnknownRunError(run_id)
        return run

    async def change(self, run_id: int, runner: int, change: RunChange) -> Run:
        """Change what ``change`` gives of a run of ``runner``'s; it raises RunChanged if any."""
        run = await self.of(run_id, runner)
        meters = run.meters if change.meters is None else change.meters
        seconds = run.seconds if change.seconds is None else change.seconds
        notes = run.notes if change.notes is None else change.notes
        check_run(meters, seconds, notes)
        if (meters, seconds, notes) != (run.meters, run.seconds, run.notes):
            run.change(meters, seconds, notes)  # a change that changes nothing raises nothing
        return run

    async def delete(self, run_id: int, runner: int) -> None:
        """Delete a run of ``runner``'s; it raises RunDeleted."""
        run = await self.of(run_id, runner)
        run.deleted()
        await self._repository.remove(run)

    async def weekly_meters(self, user_id: int, moment: datetime) -> float:
        """The distance a runner covered in the week of ``moment``, which says its offset."""
        check_moment(moment, "the day")
        return weekly_meters(await self._repository.of_user(user_id), week_of(moment))


def _runner(identity: atoll.Identity) -> int:
    """The caller's runner id, which a policy made sure of."""
    runner = runner_of(identity)
    if runner is None:
        raise UnknownRunnerError(identity.subject)
    return runner


service = atoll.Service("runs", version="0.3.0", description="Runs and weekly distances.")
service.error(UnknownRunnerError, status=404, code=UNKNOWN_RUNNER)
service.error(UnknownRunError, status=404, code=UNKNOWN_RUN)
service.error(InvalidRunError, status=422, code=INVALID_RUN)
service.publishes(RunRecorded, RunChanged, RunDeleted)  # what a Run raises, through the outbox


@service.command(RecordRun, path="/runs", status=201, policy=RUNNER)
async def record_run(
    command: RecordRun, identity: atoll.Identity, uow: RunsUnitOfWork, users: UserDirectory
) -> Run:
    """Record a run of the caller's; RunRecorded goes out through the outbox.

    Raises:
        UnknownRunnerError: the caller's runner is not registered (any more).
        InvalidRunError: the run covers no distance, takes no time, its notes are too long,
            or its start has no offset from UTC.
    """
    runner = _runner(identity)
    await Runs.check(command, runner, users)  # users is asked before any transaction opens
    async with uow:
        run = await Runs(uow.runs).record(command, runner)
        await uow.commit()  # the run and the event it raised, at once
    return run


@service.rpc(policy=THE_RUNS_RUNNER)
@service.get("/runs/{run_id}", policy=THE_RUNS_RUNNER)
async def get_run(run_id: int, identity: atoll.Identity, uow: RunsUnitOfWork) -> Run:
    """A run of the caller's.

    Raises:
        UnknownRunError: no run has this id, or it is another runner's (the same answer).
    """
    async with uow:
        return await Runs(uow.runs).of(run_id, _runner(identity))


@service.rpc(policy=THE_RUNS_RUNNER)
async def change_run(
    run_id: int,
    identity: atoll.Identity,
    uow: RunsUnitOfWork,
    *,
    meters: float | None = None,
    seconds: int | None = None,
    notes: str | None = None,
) -> Run:
    """Change the distance, time or notes of a run of the caller's; RunChanged goes out.

    Each of ``meters``, ``seconds`` and ``notes`` left out stays as it is.

    Raises:
        UnknownRunError: no run has this id, or it is another runner's (the same answer).
        InvalidRunError: the run would cover no distance, take no time, or its notes are
            too long.
    """
    return await patch_run(run_id, RunChange(meters, seconds, notes), identity, uow)


@service.patch("/runs/{run_id}", name="change_run", policy=THE_RUNS_RUNNER)
async def patch_run(
    run_id: int, change: RunChange, identity: atoll.Identity, uow: RunsUnitOfWork
) -> Run:
    """Change the distance, time or notes of a run of the caller's; RunChanged goes out.

    A field of the body left out (or null) stays as it is.

    Raises:
        UnknownRunError: no run has this id, or it is another runner's (the same answer).
        InvalidRunError: the run would cover no distance, take no time, or its notes are
            too long.
    """
    async with uow:
        run = await Runs(uow.runs).change(run_id, _runner(identity), change)
        await uow.commit()
    return run


@service.rpc(policy=THE_RUNS_RUNNER)
@service.delete("/runs/{run_id}", status=204, policy=THE_RUNS_RUNNER)
async def delete_run(run_id: int, identity: atoll.Identity, uow: RunsUnitOfWork) -> None:
    """Delete a run of the caller's; RunDeleted goes out.

    Raises:
        UnknownRunError: no run has this id, or it is another runner's (the same answer).
    """
    async with uow:
        await Runs(uow.runs).delete(run_id, _runner(identity))
        await uow.commit()


@service.get("/users/{user_id}/runs", policy=THE_RUNNER)
async def runs_of(user_id: int, uow: RunsUnitOfWork) -> list[Run]:
    """The caller's runs, oldest first.

    Raises:
        UnknownRunnerError: ``user_id`` is not the caller's (whether a runner has it or not).
    """
    async with uow:
        return await uow.runs.of_user(user_id)


@service.rpc(name="runs", policy=THE_RUNNER)
async def runs_by_page(  # noqa: PLR0917 - a connection's arguments
    user_id: int,
    uow: RunsUnitOfWork,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> atoll.Page[Run]:
    """The caller's runs, by when they started, a page at a time (20 unless asked).

    Over GraphQL, a Relay connection: ``runs(userId: 1, first: 10, after: $cursor)``. A run
    recorded between two pages never shifts the next one.

    Raises:
        UnknownRunnerError: ``user_id`` is not the caller's (whether a runner has it or not).
    """
    if first is None and last is None:
        first = PAGE
    async with uow:
        return await uow.runs.page(
            first=first,
            after=after,
            last=last,
            before=before,
            order_by="started_at",
            user_id=user_id,
        )


@service.rpc(name="weekly_meters", policy=THE_RUNNER)
@service.get("/users/{user_id}/weekly-meters", policy=THE_RUNNER)
async def get_weekly_meters(
    user_id: int, uow: RunsUnitOfWork, day: datetime | None = None
) -> float:
    """The meters the caller ran in the week (Monday to Sunday) of ``day``, this week by default.

    Raises:
        UnknownRunnerError: ``user_id`` is not the caller's (whether a runner has it or not).
        InvalidRunError: ``day`` has no offset from UTC.
    """
    async with uow:
        return await Runs(uow.runs).weekly_meters(user_id, day or datetime.now(tz=UTC))


@service.subscription(RunRecorded, policy=A_RUNNER)
async def run_recorded(event: RunRecorded, identity: atoll.Identity) -> RunRecorded | None:
    """Each run the caller records, as it is recorded (over GraphQL, a subscription).

    Another runner's runs are not told: a subscriber sees her own alone.
    """
    return event if event.user_id == runner_of(identity) else None


service.graphql(queries=[runs_by_page])
