"""A batched field on a SQL database: one SELECT per level of a document, counted as sent.

``{ runners { name runs { meters } } }`` lists the runners in one query; the runs of all of
them are one more (``find_in``) when ``runs`` is batched, where resolving it runner by runner
is one query per runner: the N+1 queries of a list.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy import event

import atoll
from atoll.persistence.ports import Database
from atoll.testing import run

RUNNERS = 5
DOCUMENT = "{ runners { name runs { meters } } }"


@dataclass
class Runner:
    id: int | None
    name: str


@dataclass
class Run:
    id: int | None
    runner_id: int
    meters: int


metadata = sa.MetaData()
runners_table = sa.Table(
    "gql_runners",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(50), nullable=False),
)
runs_table = sa.Table(
    "gql_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("runner_id", sa.Integer, nullable=False, index=True),
    sa.Column("meters", sa.Integer, nullable=False),
)
schema = atoll.Schema(metadata)
schema.map(Runner, runners_table)
schema.map(Run, runs_table)


class ClubUnits(atoll.UnitOfWork):
    runners: atoll.Repository[Runner]
    runs: atoll.Repository[Run]


def club(*, batched: bool) -> atoll.Service:
    service = atoll.Service("club")
    service.database(schema, ClubUnits)

    @service.rpc
    @service.get("/runners")
    async def runners(uow: ClubUnits) -> list[Runner]:
        async with uow:
            return await uow.runners.find()

    if batched:

        @service.field(Runner, name="runs", batched=True)
        async def runs_of_runners(runners: list[Runner], uow: ClubUnits) -> list[list[Run]]:
            async with uow:
                found = await uow.runs.find_in("runner_id", [runner.id for runner in runners])
            of_runner: dict[object, list[Run]] = {runner.id: [] for runner in runners}
            for each in found:
                of_runner[each.runner_id].append(each)
            return [of_runner[runner.id] for runner in runners]

    else:

        @service.field(Runner)
        async def runs(runner: Runner, uow: ClubUnits) -> list[Run]:
            async with uow:
                return await uow.runs.find(runner_id=runner.id)

    service.graphql()
    return service


async def answer_and_statements(
    service: atoll.Service, tmp_path, runners: int = RUNNERS
) -> tuple[dict, list[str]]:
    """The answer to :data:`DOCUMENT` with ``runners`` runners, and the statements it sent.

    Runner ``n`` has ``n`` runs, of 1,000 meters to ``n`` times that.
    """
    argv = ["--db-url", f"sqlite+aiosqlite:///{tmp_path / 'club.db'}", "--no-db-relay"]
    async with run(service, argv=argv) as harness:
        database = harness.container.get(Database, "club")
        engine = database.engine.sync_engine
        numbers = range(1, runners + 1)
        if runners:
            async with database.engine.begin() as connection:
                await connection.execute(
                    sa.insert(runners_table), [{"id": n, "name": f"runner {n}"} for n in numbers]
                )
                await connection.execute(
                    sa.insert(runs_table),
                    [
                        {"runner_id": n, "meters": 1000 * k}
                        for n in numbers
                        for k in range(1, n + 1)
                    ],
                )
        statements: list[str] = []

        def sent(_connection, _cursor, statement, *_):
            statements.append(" ".join(statement.split()))

        event.listen(engine, "before_cursor_execute", sent)
        try:
            response = await harness.client.post("/graphql", json={"query": DOCUMENT})
        finally:
            event.remove(engine, "before_cursor_execute", sent)
    return response.json(), statements


def selects(statements: list[str]) -> list[str]:
    """The SELECT statements of ``statements``, each named by the table it reads."""
    return [
        statement.partition(" FROM ")[2].split()[0]
        for statement in statements
        if statement.upper().startswith("SELECT")
    ]


EXPECTED = {
    "data": {
        "runners": [
            {"name": f"runner {n}", "runs": [{"meters": 1000 * k} for k in range(1, n + 1)]}
            for n in range(1, RUNNERS + 1)
        ]
    }
}


async def test_a_batched_field_reads_the_runs_of_every_runner_in_one_select(tmp_path):
    answer, statements = await answer_and_statements(club(batched=True), tmp_path)
    assert answer == EXPECTED
    assert selects(statements) == ["gql_runners", "gql_runs"]  # one per level
    (of_runs,) = (each for each in statements if "FROM gql_runs" in each)
    assert "WHERE gql_runs.runner_id IN (?, ?, ?, ?, ?) ORDER BY gql_runs.id" in of_runs


async def test_a_field_resolved_per_runner_reads_the_runs_once_per_runner(tmp_path):
    answer, statements = await answer_and_statements(club(batched=False), tmp_path)
    assert answer == EXPECTED
    assert selects(statements) == ["gql_runners"] + ["gql_runs"] * RUNNERS  # the N+1


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "alone"])
async def test_a_level_with_no_parent_sends_no_select_for_its_field(tmp_path, batched):
    answer, statements = await answer_and_statements(club(batched=batched), tmp_path, 0)
    assert answer == {"data": {"runners": []}}
    assert selects(statements) == ["gql_runners"]
