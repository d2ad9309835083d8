# Repositories and units of work, used as a service's handlers use them.
# Type-checked by mypy --strict, never run. Each `type: ignore[code]` marks a line mypy must
# reject: with warn_unused_ignores (part of --strict), mypy fails if the error goes away.
from dataclasses import dataclass, field
from typing import assert_type

import atoll
from atoll.persistence.pages import Page
from atoll.persistence.ports import Database


@dataclass
class Run:
    id: int | None
    meters: float
    version: int = 0
    events: list[object] = field(default_factory=list)


class RunRecords(atoll.Repository[Run]):
    async def longest(self) -> Run | None:
        runs = await self.find()
        assert_type(runs, list[Run])
        return max(runs, key=lambda run: run.meters, default=None)


class RunsUnitOfWork(atoll.UnitOfWork):
    runs: RunRecords


async def record(uow: RunsUnitOfWork, meters: float) -> int | None:
    async with uow as same:
        assert_type(same, RunsUnitOfWork)
        run = await uow.runs.add(Run(None, meters))
        assert_type(run, Run)
        assert_type(await uow.runs.get(1), Run | None)
        assert_type(await uow.runs.longest(), Run | None)
        await uow.runs.add("a run")  # type: ignore[arg-type]
        uow.publish(object(), stream="Run:1")
        await uow.commit()
    return run.id


async def browse(uow: RunsUnitOfWork, after: str | None) -> str | None:
    async with uow:
        page = await uow.runs.page(first=20, after=after, order_by=["-meters"], version=0)
        assert_type(page, Page[Run])
        assert_type(page.items, list[Run])
        assert_type(page.edges, list[tuple[str, Run]])
        assert_type(page.has_next, bool)
        await uow.runs.page(first="20")  # type: ignore[arg-type]
        await uow.runs.page(last=20, before=3)  # type: ignore[arg-type]
    return page.end_cursor


async def of_distances(uow: RunsUnitOfWork, distances: set[float]) -> list[Run]:
    async with uow:
        runs = await uow.runs.find_in("meters", distances, version=0)
        assert_type(runs, list[Run])
        assert_type(await uow.runs.find_in("id", (n for n in range(3))), list[Run])
        await uow.runs.find_in(3, [1])  # type: ignore[arg-type]
        await uow.runs.find_in("id", 3)  # type: ignore[arg-type]
        # The attribute and the values come first, by position: keywords are the equals.
        await uow.runs.find_in(attribute="id", values=[1])  # type: ignore[call-arg]
    return runs


def declare(database: Database) -> None:
    schema = atoll.Schema()
    schema.map(Run, version="version")
    service = atoll.Service("runs")
    service.database(schema, RunsUnitOfWork)
    service.database(schema, int)  # type: ignore[arg-type]
    RunsUnitOfWork(database)
