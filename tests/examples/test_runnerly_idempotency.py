"""Runnerly records a run once, however often a runner's app retries it with its key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import atoll.testing
from runnerly.app import system
from runnerly.runs.contracts import RunRecorded
from runnerly.users.contracts import RegisterUser

MONDAY = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
PASSWORD = "correct horse battery"  # noqa: S105 - the test runners'
DATABASES = ("users", "runs", "stats", "auth")


@pytest.fixture(params=["sqlite", "memory"])
def argv(request, tmp_path) -> list[str]:
    if request.param == "memory":
        return ["--no-demo-seed", *(f"--{name}-db-url=memory://" for name in DATABASES)]
    # SQLite made by the services' migrations, which must hold atoll_idempotency.
    return ["--no-demo-seed", *(f"--{name}-db-data-dir={tmp_path}" for name in DATABASES)]


async def test_a_run_retried_with_its_idempotency_key_is_recorded_once(argv):
    async with atoll.testing.run(system(), argv=argv) as harness:
        await harness.send(RegisterUser(email="ada@example.org", name="Ada", password=PASSWORD))
        login = {"email": "ada@example.org", "password": PASSWORD}
        tokens = (await harness.client.post("/login", json=login)).json()
        headers = {
            "authorization": f"Bearer {tokens['access_token']}",
            "idempotency-key": "0d5a3e58-1f0c-4c8e-9c1f-6f1b2f4f2a10",
        }
        body = {"meters": 5000, "seconds": 1500, "started_at": MONDAY.isoformat()}
        first = await harness.client.post("/runs", json=body, headers=headers)
        retried = await harness.client.post("/runs", json=body, headers=headers)
        changed = await harness.client.post("/runs", json={**body, "meters": 6000}, headers=headers)
        runs = await harness.client.get("/users/1/runs", headers=headers)
    assert first.status_code == retried.status_code == 201
    assert retried.json() == first.json()
    assert retried.headers["idempotent-replayed"] == "true"
    assert changed.status_code == 422
    assert [run["meters"] for run in runs.json()] == [5000]
    assert harness.events_of(RunRecorded) == [RunRecorded(1, 1, 5000.0, MONDAY)]
