"""The stats application: weekly totals kept from the runs' events, served as ``stats``.

A read model (CQRS): the runs service owns the runs; this service listens to the events it
commits (a run recorded, changed, deleted) and keeps, per runner and week, the totals the
queries read, in its own database. A redelivered event is counted once: its unit of work keeps
an inbox of the events applied. The events are taken from ``runs`` alone, and a runner's
totals are hers alone to read: anyone else is told there is no such runner.

Each change of a total is published through the outbox with it (``WeeklyTotalChanged``), and
offered to GraphQL subscribers, each of whom is shown her own: a runner's page shows a run
counted as the event arrives, from whichever instance counted it.
"""

from __future__ import annotations

import atoll
from runnerly.runs.contracts import RunChanged, RunDeleted, RunRecorded
from runnerly.stats.contracts import UNKNOWN_RUNNER, WeeklyTotalChanged
from runnerly.stats.domain import UnknownRunnerError, WeeklyTotals, monday_of
from runnerly.stats.model import WeeklyTotal

__all__ = [
    "StatsUnitOfWork",
    "caller_is_a_runner",
    "caller_is_the_runner",
    "count_run",
    "count_run_changed",
    "count_run_deleted",
    "service",
    "weekly_total_changed",
    "weekly_totals",
]


class StatsUnitOfWork(atoll.UnitOfWork):
    """The stats service's unit of work."""

    totals: WeeklyTotals


def caller_is_a_runner(identity: atoll.Identity) -> bool:
    """Whether the caller is a runner, a user's token: a service is refused (403)."""
    return identity.kind == "user" and identity.subject.isdigit()


def caller_is_the_runner(user_id: int, identity: atoll.Identity) -> bool:
    """Whether the caller is runner ``user_id``: a user's token whose subject is her id.

    Raises:
        UnknownRunnerError: the caller is anyone else, whether runner ``user_id`` exists or
            not: told as an id no runner has is told.
    """
    if identity.kind != "user" or identity.subject != str(user_id):
        raise UnknownRunnerError(user_id)
    return True


FROM_RUNS = atoll.allow(services=["runs"])
"""The runs service's events, and no one else's."""
THE_RUNNER = atoll.allow(check=caller_is_the_runner)
"""Runner ``user_id`` herself, and no one else."""
A_RUNNER = atoll.allow(check=caller_is_a_runner)
"""Any runner: what each is shown of is hers alone, as the handler says."""

service = atoll.Service("stats", version="0.3.0", description="Weekly totals of each runner.")
service.error(UnknownRunnerError, status=404, code=UNKNOWN_RUNNER)
# No service of runnerly consumes WeeklyTotalChanged: it reaches the runners' pages through
# the GraphQL subscription below, on each instance's broadcast receiver.
# atoll: allow[unconsumed-event] - shown to GraphQL subscribers, not consumed
service.publishes(WeeklyTotalChanged)


def changed(uow: StatsUnitOfWork, total: WeeklyTotal) -> None:
    """Publish the total as it is now, committed with it; in the runner's stream, in order."""
    uow.publish(
        WeeklyTotalChanged(total.user_id, total.week, total.meters, max(total.runs, 0)),
        stream=f"runner-{total.user_id}",
    )


@service.on(RunRecorded, policy=FROM_RUNS)
async def count_run(event: RunRecorded, uow: StatsUnitOfWork) -> None:
    """Add the run to its runner's total for its week."""
    week = monday_of(event.started_at)
    async with uow:
        total = await uow.totals.week(event.user_id, week)
        if total is None:
            total = await uow.totals.add(WeeklyTotal(None, event.user_id, week))
        total.add_run(event.meters)
        changed(uow, total)
        await uow.commit()


@service.on(RunChanged, policy=FROM_RUNS)
async def count_run_changed(event: RunChanged, uow: StatsUnitOfWork) -> None:
    """Count the run's new distance in its week's total instead of the one before."""
    async with uow:
        total = await uow.totals.week(event.user_id, monday_of(event.started_at))
        if total is not None:
            total.change_run(event.previous_meters, event.meters)
            changed(uow, total)
        await uow.commit()  # the event's id into the inbox, even with nothing to change


@service.on(RunDeleted, policy=FROM_RUNS)
async def count_run_deleted(event: RunDeleted, uow: StatsUnitOfWork) -> None:
    """Take the run out of its week's total; a week left with no run has no total."""
    async with uow:
        total = await uow.totals.week(event.user_id, monday_of(event.started_at))
        if total is not None:
            total.remove_run(event.meters)
            if total.runs <= 0:
                await uow.totals.remove(total)
            changed(uow, total)
        await uow.commit()


@service.rpc(policy=THE_RUNNER)
@service.get("/users/{user_id}/weekly-totals", policy=THE_RUNNER)
async def weekly_totals(user_id: int, uow: StatsUnitOfWork) -> list[WeeklyTotal]:
    """The caller's weekly totals, oldest week first, as the read model has them.

    Raises:
        UnknownRunnerError: ``user_id`` is not the caller's (whether a runner has it or not).
    """
    async with uow:
        return await uow.totals.of_user(user_id)


@service.subscription(WeeklyTotalChanged, policy=A_RUNNER)
async def weekly_total_changed(
    event: WeeklyTotalChanged, identity: atoll.Identity
) -> WeeklyTotalChanged | None:
    """Each change of the caller's weekly totals, as a run of hers is counted (GraphQL).

    Another runner's are not told: a subscriber sees her own alone.
    """
    return event if identity.subject == str(event.user_id) else None


service.graphql()
