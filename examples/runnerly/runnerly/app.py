"""The composition root: runnerly's services wired into one application.

This is the only module that knows every service and every adapter. It runs on embedded
defaults (in-memory repositories); later configuration chooses SQL and a broker instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import atoll
from runnerly.runs.application import RecordRun, Runs
from runnerly.runs.domain import RunRepository, UserDirectory, week_of
from runnerly.runs.infrastructure import InMemoryRunRepository, LocalUserDirectory
from runnerly.users.application import RegisterUser, Users
from runnerly.users.domain import UserRepository
from runnerly.users.infrastructure import InMemoryUserRepository

__all__ = ["DemoOptions", "app"]

logger = logging.getLogger("runnerly")


@dataclass(frozen=True)
class DemoOptions:
    """What the demo does when it starts."""

    seed: bool = atoll.option(default=True, help="register a demo runner and record a week of runs")


app = atoll.App("runnerly", version="0.1.0", description="Runnerly, the running club's system.")
app.options("demo", DemoOptions)
app.provide(InMemoryUserRepository, provides=UserRepository)
app.provide(Users)
app.provide(InMemoryRunRepository, provides=RunRepository)
app.provide(LocalUserDirectory, provides=UserDirectory)
app.provide(Runs)


@app.task
async def seed(options: DemoOptions, users: Users, runs: Runs) -> None:
    """Register a demo runner and record a week of runs, so there is something to see."""
    if not options.seed:
        return
    runner = users.register(RegisterUser(email="ada@runnerly.example", name="Ada"))
    now = datetime.now(tz=UTC)
    monday = week_of(now)
    for day, meters in enumerate((5000.0, 8000.0, 3000.0)):
        started = monday + timedelta(days=day, hours=7)
        runs.record(RecordRun(runner.id, meters, int(meters * 0.33), started))
    logger.info(
        "seeded runner %s (id %d): %.1f km this week",
        runner.name,
        runner.id,
        runs.weekly_meters(runner.id, now) / 1000,
    )
