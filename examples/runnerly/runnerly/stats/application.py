"""The stats application: weekly totals kept from RunRecorded, served as the ``stats`` service.

A read model (CQRS): the runs service owns the runs; this service listens to the events it
commits and keeps, per runner and week, the totals the queries read, in its own database. A
redelivered event is counted once: its unit of work keeps an inbox of the events applied.
"""

from __future__ import annotations

import atoll
from runnerly.runs.contracts import RunRecorded
from runnerly.stats.domain import WeeklyTotals, monday_of
from runnerly.stats.model import WeeklyTotal

__all__ = ["StatsUnitOfWork", "count_run", "service", "weekly_totals"]


class StatsUnitOfWork(atoll.UnitOfWork):
    """The stats service's unit of work."""

    totals: WeeklyTotals


service = atoll.Service("stats", version="0.1.0", description="Weekly totals of each runner.")


@service.on(RunRecorded)
async def count_run(event: RunRecorded, uow: StatsUnitOfWork) -> None:
    """Add the run to its runner's total for its week."""
    week = monday_of(event.started_at)
    async with uow:
        total = await uow.totals.week(event.user_id, week)
        if total is None:
            total = await uow.totals.add(WeeklyTotal(None, event.user_id, week))
        total.add_run(event.meters)
        await uow.commit()


@service.rpc
@service.get("/users/{user_id}/weekly-totals")
async def weekly_totals(user_id: int, uow: StatsUnitOfWork) -> list[WeeklyTotal]:
    """A runner's weekly totals, oldest week first, as the read model has them."""
    async with uow:
        return await uow.totals.of_user(user_id)
