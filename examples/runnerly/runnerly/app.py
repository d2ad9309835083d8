"""The composition root: runnerly's services and their adapters, as one system.

This is the only module that knows every service and every adapter. It runs on embedded
defaults (in-memory repositories, services calling each other in the process); later
configuration chooses SQL and a broker instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import atoll
from atoll.endpoints.clients import Clients
from atoll.messaging.bus import MessageBus
from runnerly.runs import application as runs
from runnerly.runs.domain import RunRepository, UserDirectory, week_of
from runnerly.runs.infrastructure import InMemoryRunRepository, RemoteUserDirectory
from runnerly.users import application as users
from runnerly.users.domain import UserRepository
from runnerly.users.infrastructure import InMemoryUserRepository

__all__ = ["DemoOptions", "system"]

logger = logging.getLogger("runnerly")

users.service.provide(InMemoryUserRepository, provides=UserRepository)
runs.service.provide(InMemoryRunRepository, provides=RunRepository)
runs.service.provide(RemoteUserDirectory, provides=UserDirectory)

system = atoll.System(
    users.service,
    runs.service,
    name="runnerly",
    version="0.1.0",
    description="Runnerly, the running club's system.",
)


@dataclass(frozen=True)
class DemoOptions:
    """What the demo does when it starts."""

    seed: bool = atoll.option(default=True, help="register a demo runner and record a week of runs")


system.options("demo", DemoOptions)


@system.task
async def seed(options: DemoOptions, bus: MessageBus, clients: Clients) -> None:
    """Register a demo runner and record a week of runs, so there is something to see."""
    if not options.seed:
        return
    runner = await bus.handle(users.RegisterUser(email="ada@runnerly.example", name="Ada"))
    monday = week_of(datetime.now(tz=UTC))
    for day, meters in enumerate((5000.0, 8000.0, 3000.0)):
        started = monday + timedelta(days=day, hours=7)
        await bus.handle(runs.RecordRun(runner.id, meters, int(meters * 0.33), started))
    week = await clients.get("runs").methods.weekly_meters(user_id=runner.id)
    logger.info("seeded runner %s (id %d): %.1f km this week", runner.name, runner.id, week / 1000)
