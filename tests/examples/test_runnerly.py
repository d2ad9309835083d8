"""Runnerly, the reference system: its use cases, its services, and the demo ``make demo`` runs."""

from __future__ import annotations

import re
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

import atoll.testing
from atoll.errors import RemoteError
from runnerly.app import system
from runnerly.runs.application import RecordRun, RunRecorded, Runs, UnknownRunnerError
from runnerly.runs.domain import InvalidRunError, week_of
from runnerly.runs.infrastructure import InMemoryRunRepository
from runnerly.users.application import RegisterUser, UserRegistered, Users
from runnerly.users.domain import EmailTakenError, UnknownUserError
from runnerly.users.infrastructure import InMemoryUserRepository

RUNNERLY = Path(__file__).resolve().parents[2] / "examples" / "runnerly"
MONDAY = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
NO_SEED = ["--no-demo-seed"]


class UsersInProcess:
    """The runs service's UserDirectory port, answered by a Users instance."""

    def __init__(self, users: Users) -> None:
        self.users = users

    async def exists(self, user_id: int) -> bool:
        try:
            self.users.profile(user_id)
        except UnknownUserError:
            return False
        return True


@pytest.fixture
def users() -> Users:
    return Users(InMemoryUserRepository())


@pytest.fixture
def runs(users: Users) -> Runs:
    return Runs(InMemoryRunRepository(), UsersInProcess(users))


# -- the use cases ------------------------------------------------------------------------------


def test_register_normalises_the_email_and_refuses_it_twice(users):
    ada = users.register(RegisterUser(email=" Ada@Example.org ", name="Ada "))
    assert (ada.email, ada.name) == ("ada@example.org", "Ada")
    assert users.profile(ada.id) == ada
    with pytest.raises(EmailTakenError, match=r"ada@example\.org is already registered"):
        users.register(RegisterUser(email="ADA@example.org", name="Other"))


def test_profile_of_an_unknown_user_is_an_error(users):
    with pytest.raises(UnknownUserError, match="no user with id 7"):
        users.profile(7)


async def test_weekly_meters_adds_the_runs_of_that_week_only(users, runs):
    ada = users.register(RegisterUser(email="ada@example.org", name="Ada"))
    await runs.record(RecordRun(ada.id, 5000, 1500, MONDAY))
    await runs.record(RecordRun(ada.id, 3000, 900, MONDAY + timedelta(days=6)))
    await runs.record(RecordRun(ada.id, 9000, 2700, MONDAY - timedelta(days=1)))
    assert runs.weekly_meters(ada.id, MONDAY + timedelta(days=2)) == 8000
    assert [r.meters for r in runs.runs_of(ada.id)] == [9000, 5000, 3000]
    assert runs.runs_of(ada.id)[1].pace == 300


async def test_a_run_needs_a_registered_runner_distance_and_time(users, runs):
    with pytest.raises(UnknownRunnerError, match="no runner with id 1"):
        await runs.record(RecordRun(1, 5000, 1500, MONDAY))
    ada = users.register(RegisterUser(email="ada@example.org", name="Ada"))
    with pytest.raises(InvalidRunError, match="covers some distance"):
        await runs.record(RecordRun(ada.id, 0, 1500, MONDAY))
    with pytest.raises(InvalidRunError, match="takes some time"):
        await runs.record(RecordRun(ada.id, 5000, 0, MONDAY))


def test_a_week_starts_on_monday_at_midnight():
    assert week_of(MONDAY + timedelta(days=3, hours=5)) == MONDAY.replace(hour=0, minute=0)


# -- the services, in one process ---------------------------------------------------------------


async def test_a_runner_registers_over_rest_and_is_read_back():
    async with atoll.testing.run(system, argv=NO_SEED) as harness:
        created = await harness.client.post(
            "/users", json={"email": "Ada@Example.org", "name": "Ada"}
        )
        assert created.status_code == 201
        ada = created.json()
        assert ada == {"id": 1, "email": "ada@example.org", "name": "Ada"}
        assert (await harness.client.get("/users/1")).json() == ada
        assert harness.events_of(UserRegistered) == [UserRegistered(1, "Ada")]


async def test_a_taken_email_is_a_409_and_an_unknown_user_a_404():
    async with atoll.testing.run(system, argv=NO_SEED) as harness:
        await harness.send(RegisterUser("ada@example.org", "Ada"))
        taken = await harness.client.post("/users", json={"email": "ada@example.org", "name": "A"})
        assert taken.status_code == 409
        assert taken.json()["detail"] == "ada@example.org is already registered"
        assert (await harness.client.get("/users/9")).status_code == 404


async def test_runs_asks_users_through_its_client_and_records_a_run():
    async with atoll.testing.run(system, argv=NO_SEED) as harness:
        await harness.send(RegisterUser("ada@example.org", "Ada"))
        body = {"user_id": 1, "meters": 5000, "seconds": 1500, "started_at": MONDAY.isoformat()}
        recorded = await harness.client.post("/runs", json=body)
        assert recorded.status_code == 201
        assert recorded.json()["meters"] == 5000
        assert harness.events_of(RunRecorded) == [RunRecorded(1, 1, 5000.0)]
        unknown = await harness.client.post("/runs", json={**body, "user_id": 2})
        assert unknown.status_code == 404
        assert unknown.json()["detail"] == "no runner with id 2"


async def test_weekly_meters_over_json_rpc_with_the_methods_qualified_by_service():
    async with atoll.testing.run(system, argv=NO_SEED) as harness:
        await harness.send(RegisterUser("ada@example.org", "Ada"))
        await harness.send(RecordRun(1, 5000, 1500, MONDAY))
        day = (MONDAY + timedelta(days=1)).isoformat()
        total = await harness.rpc.methods.runs.weekly_meters(user_id=1, day=day)
        assert total == 5000
        with pytest.raises(RemoteError) as error:
            await harness.rpc.methods.users.get_profile(user_id=5)
        assert error.value.code == -32004


async def test_each_service_of_the_system_answers_by_plain_names_at_its_own_rpc_path():
    async with atoll.testing.run(system, argv=NO_SEED) as harness:
        await harness.send(RegisterUser("ada@example.org", "Ada"))
        call = {"jsonrpc": "2.0", "method": "get_profile", "params": {"user_id": 1}, "id": 7}
        answer = (await harness.client.post("/rpc/users", json=call)).json()
        assert answer["result"]["name"] == "Ada"
        unknown = (await harness.client.post("/rpc/runs", json=call)).json()
        assert unknown["error"]["code"] == -32601


async def test_the_api_documents_list_both_services():
    async with atoll.testing.run(system, argv=NO_SEED) as harness:
        document = (await harness.client.get("/openapi.json")).json()
        assert {"/users", "/users/{user_id}", "/runs", "/users/{user_id}/runs"} <= set(
            document["paths"]
        )
        names = await harness.rpc.method_names()
        assert {"users.get_profile", "users.register_user", "runs.weekly_meters"} <= set(names)


# -- the demo, as `make demo` runs it -----------------------------------------------------------


@pytest.mark.slow
def test_the_demo_serves_the_system_and_stops_cleanly_on_ctrl_c(spawn):
    process = spawn(sys.executable, "-m", "runnerly", "--server-port", "0", cwd=str(RUNNERLY))
    serving = process.wait_for("serving on http://127.0.0.1:")
    found = re.search(
        r"serving on (http://127\.0\.0\.1:\d+): API page at \1/docs, JSON-RPC at \1/rpc", serving
    )
    assert found, serving
    base = found.group(1)
    process.wait_for("seeded runner Ada (id 1): 16.0 km this week")
    profile = httpx.get(f"{base}/users/1", timeout=5)
    assert profile.json()["name"] == "Ada"
    call = {"jsonrpc": "2.0", "method": "runs.weekly_meters", "params": {"user_id": 1}, "id": 0}
    answer = httpx.post(f"{base}/rpc", json=call, timeout=5).json()
    assert answer == {"jsonrpc": "2.0", "result": 16000.0, "id": 0}
    process.signal(signal.SIGINT)
    assert process.finish() == 0
    assert "runnerly stopped" in process.output
