# ruff: noqa: S101 - pytest asserts with assert
"""Tests of a small runs service: atoll's harness, its fixtures, and its ASGI test client.

Run them with ``pytest test_runs_example.py``, pytest-asyncio in auto mode
(``asyncio_mode = "auto"`` under ``[tool.pytest.ini_options]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING

import pytest

import atoll
import atoll.testing
from atoll.errors import RemoteError

if TYPE_CHECKING:
    from atoll.testing.plugin import AsgiClientFactory, HarnessFactory

# -- the service under test; in a project, it is imported from its package ------------------------


@dataclass(frozen=True)
class RecordRun:
    """Record a run."""

    user_id: int
    meters: float


@dataclass(frozen=True)
class RunRecorded:
    """A run was recorded; another service gives badges for them."""

    run_id: int
    user_id: int
    meters: float


class InvalidRunError(ValueError):
    """A run of no distance."""


class RunRepository:
    """Where runs are kept: a port, whose real adapter would be SQL."""

    def __init__(self) -> None:
        """Start with no run."""
        self.runs: list[RecordRun] = []

    def add(self, run: RecordRun) -> int:
        """Keep ``run`` and return its id."""
        self.runs.append(run)
        return len(self.runs)

    def total(self, user_id: int) -> float:
        """The meters a runner ran."""
        return sum(run.meters for run in self.runs if run.user_id == user_id)


service = atoll.Service("runs")
service.provide(RunRepository)
service.error(InvalidRunError, status=422)


@service.command(RecordRun)
async def record_run(cmd: RecordRun, runs: RunRepository, events: atoll.Events) -> int:
    """Record a run, and say so."""
    if cmd.meters <= 0:
        msg = f"a run covers some distance; got {cmd.meters} meters"
        raise InvalidRunError(msg)
    run_id = runs.add(cmd)
    events.add(RunRecorded(run_id, cmd.user_id, cmd.meters))
    return run_id


@service.rpc
async def total(user_id: int, runs: RunRepository) -> float:
    """The meters a runner ran."""
    return runs.total(user_id)


@service.get("/runs/{user_id}/total")
async def total_of(user_id: int, runs: RunRepository) -> float:
    """The meters a runner ran."""
    return runs.total(user_id)


# -- the tests ------------------------------------------------------------------------------------


async def test_recording_a_run_raises_run_recorded() -> None:
    """A command's result, and the events it raised, even those nothing here handles."""
    async with atoll.testing.run(service) as harness:
        run_id = await harness.send(RecordRun(user_id=1, meters=5000))
        assert harness.events_of(RunRecorded) == [RunRecorded(run_id, 1, 5000)]


async def test_the_total_over_rest(atoll_harness: HarnessFactory) -> None:
    """The same, through the fixture; the HTTP client reaches the service in the process."""
    async with atoll_harness(service) as harness:
        meters = 5000.0
        await harness.send(RecordRun(user_id=1, meters=meters))
        response = await harness.client.get("/runs/1/total")
        assert response.json() == meters


async def test_the_total_over_json_rpc(atoll_harness: HarnessFactory) -> None:
    """A JSON-RPC client of the service, in the process."""
    async with atoll_harness(service) as harness:
        meters = 3000.0
        await harness.send(RecordRun(user_id=2, meters=meters))
        assert await harness.rpc.methods.total(user_id=2) == meters


async def test_an_invalid_run_is_refused_on_every_transport() -> None:
    """The declared error: raised on the bus, 422 over REST, an error object over JSON-RPC."""
    async with atoll.testing.run(service) as harness:
        with pytest.raises(InvalidRunError):
            await harness.send(RecordRun(user_id=1, meters=0))
        response = await harness.client.post("/record-run", json={"user_id": 1, "meters": 0})
        assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
        with pytest.raises(RemoteError, match="invalid run"):
            await harness.rpc.methods.record_run(user_id=1, meters=0)
        assert harness.events == []


async def test_a_fake_repository_replaces_the_real_one() -> None:
    """Overrides: given from the start, or for a block."""
    fake = RunRepository()
    async with atoll.testing.run(service, overrides={RunRepository: fake}) as harness:
        await harness.send(RecordRun(user_id=1, meters=1000))
        other = RunRepository()
        with harness.override(RunRepository, other):
            await harness.send(RecordRun(user_id=1, meters=2000))
    assert [run.meters for run in fake.runs] == [1000]
    assert [run.meters for run in other.runs] == [2000]


async def test_the_asgi_app_starts_with_its_lifespan(asgi_client: AsgiClientFactory) -> None:
    """Any ASGI app, its lifespan run around the block: here the service's own."""
    async with asgi_client(service.asgi()) as client:
        response = await client.post("/record-run", json={"user_id": 3, "meters": 4000})
        assert response.json() == 1
