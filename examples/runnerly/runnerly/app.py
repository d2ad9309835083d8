"""The composition root: runnerly's services and their adapters, as one system.

This is the only module that knows every service and every adapter. Importing it does
nothing: :func:`system` composes the system when first asked (``atoll run
runnerly.app:system`` calls it, as ``python -m runnerly`` does), and :func:`service` one
service alone. On embedded defaults each service keeps its own SQLite database under
``data/`` (migrated at start) and the services call each other in the process;
``--users-db-url``, ``--runs-db-url`` and ``--stats-db-url`` choose PostgreSQL (or
``memory://``) instead. Run apart (:mod:`runnerly.fleet`), each service is its own process,
on its own database, and they talk through the broker of ``--broker-url``: events through
the outbox and the broker, calls as broker RPC.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import atoll
from runnerly.runs import application as runs
from runnerly.runs import infrastructure as runs_sql
from runnerly.runs.contracts import RecordRun
from runnerly.runs.domain import RunRepository, UserDirectory, week_of
from runnerly.stats import application as stats
from runnerly.stats import infrastructure as stats_sql
from runnerly.stats.domain import WeeklyTotals
from runnerly.users import application as users
from runnerly.users import infrastructure as users_sql
from runnerly.users.contracts import RegisterUser
from runnerly.users.domain import EmailTakenError, UserRepository

__all__ = ["NAMES", "DemoOptions", "service", "system"]

logger = logging.getLogger("runnerly")

NAMES = ("users", "runs", "stats")
"""The services, by name: each runs alone with ``python -m runnerly NAME``."""


@functools.cache
def _services() -> dict[str, atoll.Service]:
    """Each service with its database and its adapters declared: done once, when asked."""
    users.service.database(
        users_sql.schema,
        users.UsersUnitOfWork,
        repositories={UserRepository: users_sql.UserRecords},
    )
    runs.service.database(
        runs_sql.schema, runs.RunsUnitOfWork, repositories={RunRepository: runs_sql.RunRecords}
    )
    runs.service.provide(runs_sql.RemoteUserDirectory, provides=UserDirectory)
    stats.service.database(
        stats_sql.schema,
        stats.StatsUnitOfWork,
        repositories={WeeklyTotals: stats_sql.WeeklyTotalRecords},
    )
    return {"users": users.service, "runs": runs.service, "stats": stats.service}


def service(name: str) -> atoll.Service:
    """The service ``name`` (one of :data:`NAMES`), composed to run alone, as the fleet runs it."""
    return _services()[name]


@dataclass(frozen=True)
class DemoOptions:
    """What the demo does when it starts."""

    seed: bool = atoll.option(
        default=True, help="register a demo runner and record a week of runs, if none is there"
    )


@functools.cache
def system() -> atoll.System:
    """The three services as one system, with the demo's seeding task: made once, when asked."""
    composed = atoll.System(
        *_services().values(),
        name="runnerly",
        version="0.2.0",
        description="Runnerly, the running club's system.",
    )
    composed.options("demo", DemoOptions)
    composed.task(seed)
    return composed


async def seed(options: DemoOptions, bus: atoll.MessageBus, clients: atoll.Clients) -> None:
    """Register a demo runner and record a week of runs, so there is something to see."""
    if not options.seed:
        return
    email = "ada@runnerly.example"
    try:
        runner = await bus.handle(RegisterUser(email=email, name="Ada"))
    except EmailTakenError:
        logger.info("the demo runner is registered already (data/ keeps the databases)")
        return
    monday = week_of(datetime.now(tz=UTC))
    for day, meters in enumerate((5000.0, 8000.0, 3000.0)):
        started = monday + timedelta(days=day, hours=7)
        await bus.handle(RecordRun(runner.id, meters, int(meters * 0.33), started))
    week = await clients.get("runs").methods.weekly_meters(user_id=runner.id)
    logger.info("seeded runner %s (id %d): %.1f km this week", runner.name, runner.id, week / 1000)
