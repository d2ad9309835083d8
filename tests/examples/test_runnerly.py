"""Runnerly, the reference system: its use cases, its services, and the demo ``make demo`` runs."""

from __future__ import annotations

import re
import signal
import socket
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

import atoll.testing
from atoll.errors import RemoteError
from atoll.persistence.ports import Database
from atoll.security.identity import Identity
from atoll.security.policies import DENY
from runnerly.app import system
from runnerly.runs.application import UnknownRunnerError
from runnerly.runs.contracts import RecordRun, RunRecorded
from runnerly.runs.domain import InvalidRunError, week_of
from runnerly.runs.model import Run
from runnerly.stats.domain import monday_of
from runnerly.users.contracts import RegisterUser, UserRegistered
from runnerly.users.domain import EmailTakenError

RUNNERLY = Path(__file__).resolve().parents[2] / "examples" / "runnerly"
MONDAY = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
NO_SEED = ["--no-demo-seed"]


SERVICES = ("users", "runs", "stats")
DATABASES = (*SERVICES, "auth")  # the token service's, beside the three services'
MEMORY = [*NO_SEED, *(arg for name in DATABASES for arg in (f"--{name}-db-url", "memory://"))]
PASSWORD = "correct horse battery"  # noqa: S105 - the test runners'
ADA = Identity(kind="user", subject="1", scheme="jwt")
"""The first runner registered, as a token of hers proves: for the in-process clients."""


def on_sqlite(directory: Path) -> list[str]:
    """Flags keeping each service's SQLite database in ``directory``."""
    return [*NO_SEED, *(f"--{name}-db-data-dir={directory}" for name in DATABASES)]


async def record(harness, command: RecordRun):
    """Record a run as the runner: runs asks users about her, which needs an identity."""
    with harness.acting_as(ADA):
        return await harness.send(command)


def ada(email: str = "ada@example.org", name: str = "Ada") -> RegisterUser:
    """Registering a runner, with the tests' password."""
    return RegisterUser(email=email, name=name, password=PASSWORD)


async def log_in(harness, email: str = "ada@example.org", password: str = PASSWORD) -> dict:
    """The answer to a login over REST: the session's tokens."""
    answer = await harness.client.post("/login", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def bearer(harness, email: str = "ada@example.org") -> dict[str, str]:
    """The headers of a call made with the runner's access token."""
    tokens = await log_in(harness, email)
    return {"authorization": f"Bearer {tokens['access_token']}"}


# -- the use cases ------------------------------------------------------------------------------


async def test_register_normalises_the_email_and_refuses_it_twice():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        registered = await harness.send(ada(email=" Ada@Example.org ", name="Ada "))
        assert (registered.email, registered.name) == ("ada@example.org", "Ada")
        with pytest.raises(EmailTakenError, match=r"ada@example\.org is already registered"):
            await harness.send(ada(email="ADA@example.org", name="Other"))


async def test_profile_of_an_unknown_user_is_an_error():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        with harness.acting_as(ADA), pytest.raises(RemoteError, match="no user with id 7"):
            await harness.rpc.methods.users.get_profile(user_id=7)


async def test_weekly_meters_adds_the_runs_of_that_week_only():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        runner = await harness.send(ada())
        for meters, seconds, day in ((5000, 1500, 0), (3000, 900, 6), (9000, 2700, -1)):
            await record(harness, RecordRun(meters, seconds, MONDAY + timedelta(days=day)))
        day = (MONDAY + timedelta(days=2)).isoformat()
        with harness.acting_as(ADA):
            assert await harness.rpc.methods.runs.weekly_meters(user_id=runner.id, day=day) == 8000
        headers = await bearer(harness)
        runs = (await harness.client.get(f"/users/{runner.id}/runs", headers=headers)).json()
        assert [r["meters"] for r in runs] == [9000, 5000, 3000]


async def test_a_run_needs_a_registered_runner_distance_and_time():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        with pytest.raises(UnknownRunnerError, match="no runner with id 1"):
            await record(harness, RecordRun(5000, 1500, MONDAY))
        await harness.send(ada())
        with pytest.raises(InvalidRunError, match="covers some distance"):
            await record(harness, RecordRun(0, 1500, MONDAY))
        with pytest.raises(InvalidRunError, match="takes some time"):
            await record(harness, RecordRun(5000, 0, MONDAY))


async def test_a_time_without_its_offset_is_refused_rather_than_compared_with_aware_ones():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        runner = await harness.send(ada())
        await record(harness, RecordRun(5000, 1500, MONDAY))
        naive = MONDAY.replace(tzinfo=None)
        with pytest.raises(InvalidRunError, match="a run's start needs its offset from UTC"):
            await record(harness, RecordRun(3000, 900, naive))
        headers = await bearer(harness)
        body = {"meters": 3000, "seconds": 900, "started_at": naive.isoformat()}
        refused = await harness.client.post("/runs", json=body, headers=headers)
        url = f"/users/{runner.id}/weekly-meters"
        asked = await harness.client.get(url, params={"day": naive.isoformat()}, headers=headers)
        runs = await harness.client.get(f"/users/{runner.id}/runs", headers=headers)
    assert refused.status_code == 422  # was a 201, then a 500 for every read of her runs
    assert refused.json()["detail"].endswith("as in 2026-11-23T07:30:00Z; got 2026-11-23T07:30:00")
    assert asked.status_code == 422  # was a 500
    assert asked.json()["detail"].startswith("the day needs its offset from UTC")
    assert [run["meters"] for run in runs.json()] == [5000]


async def test_a_run_naming_a_runner_id_past_64_bits_is_a_422_not_a_500():
    # Its runner is the caller's token's: a body naming one is refused, however large.
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        await harness.send(ada())
        headers = await bearer(harness)
        body = {"user_id": 2**63, "meters": 5000, "seconds": 1500, "started_at": MONDAY.isoformat()}
        refused = await harness.client.post("/runs", json=body, headers=headers)
        runs = await harness.client.get("/users/1/runs", headers=headers)
    assert refused.status_code == 422  # was a 500, when the body named the runner
    assert "user_id" in refused.json()["detail"]
    assert runs.json() == []


async def test_a_run_past_the_longest_is_refused_so_that_no_total_overflows_to_null():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        runner = await harness.send(ada())
        await record(harness, RecordRun(1_000_000.0, 360_000, MONDAY))
        for meters in (1e308, float("inf")):
            with pytest.raises(InvalidRunError, match="at most 1000000 meters"):
                await record(harness, RecordRun(meters, 1500, MONDAY))
        headers = await bearer(harness)
        huge = b'{"meters": 1e999, "seconds": 1, "started_at": "2026-11-23T07:30:00Z"}'
        refused = await harness.client.post(
            "/runs", content=huge, headers={**headers, "content-type": "application/json"}
        )
        totals = await harness.client.get(f"/users/{runner.id}/weekly-totals", headers=headers)
    assert refused.status_code == 422
    assert [total["meters"] for total in totals.json()] == [1_000_000.0]


async def test_the_last_week_of_the_calendar_adds_up_without_overflowing():
    last = datetime(9999, 12, 30, 7, 30, tzinfo=UTC)
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        runner = await harness.send(ada())
        await record(harness, RecordRun(5000, 1500, last))
        headers = await bearer(harness)
        url = f"/users/{runner.id}/weekly-meters"
        total = await harness.client.get(url, params={"day": last.isoformat()}, headers=headers)
    assert (total.status_code, total.json()) == (200, 5000)  # was a 500 (OverflowError)


def test_a_week_starts_on_monday_at_midnight():
    assert week_of(MONDAY + timedelta(days=3, hours=5)) == MONDAY.replace(hour=0, minute=0)
    assert monday_of(MONDAY + timedelta(days=6, hours=10)) == MONDAY.date()


def test_a_run_knows_its_pace():
    assert Run(None, 1, 5000, 1500, MONDAY).pace == 300


# -- the services, in one process ---------------------------------------------------------------


async def test_a_runner_registers_over_rest_and_is_read_back_with_her_token():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        created = await harness.client.post(
            "/users", json={"email": "Ada@Example.org", "name": "Ada", "password": PASSWORD}
        )
        assert created.status_code == 201
        profile = created.json()
        assert profile == {"id": 1, "email": "ada@example.org", "name": "Ada"}  # no hash
        headers = await bearer(harness)
        assert (await harness.client.get("/users/1", headers=headers)).json() == profile
        assert (await harness.client.get("/me", headers=headers)).json() == profile
        assert harness.events_of(UserRegistered) == [UserRegistered(1, "Ada")]


async def test_a_taken_email_is_a_409_and_an_unknown_user_a_404():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        await harness.send(ada())
        body = {"email": "ada@example.org", "name": "A", "password": PASSWORD}
        taken = await harness.client.post("/users", json=body)
        assert taken.status_code == 409
        assert taken.json()["detail"] == "ada@example.org is already registered"
        headers = await bearer(harness)
        assert (await harness.client.get("/users/9", headers=headers)).status_code == 404


async def test_runs_asks_users_through_its_client_and_records_a_run_of_the_caller():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        await harness.send(ada())
        headers = await bearer(harness)
        body = {"meters": 5000, "seconds": 1500, "started_at": MONDAY.isoformat()}
        recorded = await harness.client.post("/runs", json=body, headers=headers)
        assert recorded.status_code == 201
        assert recorded.json() == {
            "id": 1,
            "user_id": 1,  # hers: her token says whose
            "meters": 5000.0,
            "seconds": 1500,
            "started_at": "2026-11-23T07:30:00Z",
            "notes": "",
        }
        assert harness.events_of(RunRecorded) == [RunRecorded(1, 1, 5000.0, MONDAY)]


async def test_weekly_meters_over_json_rpc_with_the_methods_qualified_by_service():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        await harness.send(ada())
        await record(harness, RecordRun(5000, 1500, MONDAY))
        day = (MONDAY + timedelta(days=1)).isoformat()
        with harness.acting_as(ADA):
            total = await harness.rpc.methods.runs.weekly_meters(user_id=1, day=day)
            assert total == 5000
            with pytest.raises(RemoteError) as error:
                await harness.rpc.methods.users.get_profile(user_id=5)
        assert error.value.code == -32004


async def test_each_service_of_the_system_answers_by_plain_names_at_its_own_rpc_path():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        await harness.send(ada())
        headers = await bearer(harness)
        call = {"jsonrpc": "2.0", "method": "get_profile", "params": {"user_id": 1}, "id": 7}
        answer = (await harness.client.post("/rpc/users", json=call, headers=headers)).json()
        assert answer["result"]["name"] == "Ada"
        unknown = (await harness.client.post("/rpc/runs", json=call, headers=headers)).json()
        assert unknown["error"]["code"] == -32601


async def test_every_handler_says_who_may_run_it_and_one_that_forgot_would_be_refused():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        assert harness.bus.default_policy is DENY  # --auth-default-deny, the system's default
        handlers = harness.bus.handlers
        assert {"list_users", "get_run", "record_run", "count_run"} <= {h.name for h in handlers}
        assert [h.label for h in handlers if h.policy is None and not h.public] == []


async def test_the_api_documents_list_the_services_and_their_bearer_scheme():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        document = (await harness.client.get("/openapi.json")).json()
        assert {
            "/users",
            "/users/{user_id}",
            "/login",
            "/refresh",
            "/logout",
            "/me",
            "/runs",
            "/users/{user_id}/runs",
        } <= set(document["paths"])
        assert "bearer" in str(document["components"]["securitySchemes"]).lower()
        with harness.acting_as(ADA):
            names = await harness.rpc.method_names()
        assert {"users.get_profile", "users.register_user", "runs.weekly_meters"} <= set(names)


async def test_stats_keeps_weekly_totals_from_the_runs_recorded(tmp_path):
    async with atoll.testing.run(system(), argv=on_sqlite(tmp_path)) as harness:
        runner = await harness.send(ada())
        for meters, day in ((5000, 0), (3000, 2), (9000, 7)):
            await record(harness, RecordRun(meters, 1500, MONDAY + timedelta(days=day)))
        with harness.acting_as(ADA):
            totals = await harness.rpc.methods.stats.weekly_totals(user_id=runner.id)
        assert [(t["week"], t["meters"], t["runs"]) for t in totals] == [
            ("2026-11-23", 8000.0, 2),
            ("2026-11-30", 9000.0, 1),
        ]
        headers = await bearer(harness)
        url = f"/users/{runner.id}/weekly-totals"
        assert (await harness.client.get(url, headers=headers)).json() == totals
    assert sorted(p.name for p in tmp_path.glob("*.db")) == [
        "auth.db",
        "runs.db",
        "stats.db",
        "users.db",
    ]


async def test_the_databases_keep_what_was_recorded_across_restarts(tmp_path):
    async with atoll.testing.run(system(), argv=on_sqlite(tmp_path)) as harness:
        runner = await harness.send(ada())
        await record(harness, RecordRun(5000, 1500, MONDAY))
        before = await log_in(harness)
    async with atoll.testing.run(system(), argv=on_sqlite(tmp_path)) as harness:
        refresh = {"refresh_token": before["refresh_token"]}
        ended = await harness.client.post("/refresh", json=refresh)
        assert ended.status_code == 401  # the demo's client is registered anew: sessions end
        headers = await bearer(harness)  # her password, kept as its hash
        profile = await harness.client.get(f"/users/{runner.id}", headers=headers)
        assert profile.json()["name"] == "Ada"
        day = MONDAY.isoformat()
        with harness.acting_as(ADA):
            assert await harness.rpc.methods.runs.weekly_meters(user_id=runner.id, day=day) == 5000
            (total,) = await harness.rpc.methods.stats.weekly_totals(user_id=runner.id)
        assert total["runs"] == 1


async def test_a_run_relayed_again_is_counted_once_by_stats():
    relay_off = [*MEMORY, "--no-runs-db-relay"]
    async with atoll.testing.run(system(), argv=relay_off) as harness:
        runner = await harness.send(ada())
        await record(harness, RecordRun(5000, 1500, MONDAY))
        runs_database = harness.container.get(Database, "runs")
        (kept,) = runs_database.unsent()
        await harness.bus.deliver(kept.envelope)
        await harness.bus.deliver(kept.envelope)  # the relay died before marking it sent
        with harness.acting_as(ADA):
            (total,) = await harness.rpc.methods.stats.weekly_totals(user_id=runner.id)
        assert (total["meters"], total["runs"]) == (5000.0, 1)


@pytest.fixture
async def postgres_databases():
    """A fresh PostgreSQL database for each service, dropped afterwards."""
    names = {service: f"runnerly_{service}_{uuid.uuid4().hex[:8]}" for service in DATABASES}
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    try:
        for name in names.values():
            await admin.execute(f'CREATE DATABASE "{name}"')
        yield {s: f"postgresql+asyncpg://postgres@127.0.0.1:5432/{n}" for s, n in names.items()}
    finally:
        for name in names.values():
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.mark.services("postgres")
async def test_on_postgresql_by_configuration_alone_migrated_at_start(postgres_databases):
    argv = [*NO_SEED]
    for service, url in postgres_databases.items():
        argv += [f"--{service}-db-url", url, f"--{service}-db-migrate", "always"]
    async with atoll.testing.run(system(), argv=argv) as harness:
        runner = await harness.send(ada())
        await record(harness, RecordRun(5000, 1500, MONDAY))
        await record(harness, RecordRun(3000, 1500, MONDAY + timedelta(days=1)))
        headers = await bearer(harness)  # the token service keeps its keys in PostgreSQL too
        url = f"/users/{runner.id}/weekly-totals"
        (total,) = (await harness.client.get(url, headers=headers)).json()
        assert (total["meters"], total["runs"]) == (8000.0, 2)
        day = MONDAY.isoformat()
        with harness.acting_as(ADA):
            assert await harness.rpc.methods.runs.weekly_meters(user_id=runner.id, day=day) == 8000
    connection = await asyncpg.connect(
        postgres_databases["runs"].replace("postgresql+asyncpg", "postgresql")
    )
    try:
        tables = {r["tablename"] for r in await connection.fetch("SELECT tablename FROM pg_tables")}
        assert {"runs", "atoll_outbox", "atoll_inbox", "alembic_version_runs"} <= tables
        unsent = await connection.fetchval(
            "SELECT count(*) FROM atoll_outbox WHERE sent_at IS NULL"
        )
        assert unsent == 0
    finally:
        await connection.close()


# -- the demo, as `make demo` runs it -----------------------------------------------------------


@pytest.mark.slow
def test_the_demo_serves_the_system_and_says_how_to_log_in(spawn, tmp_path):
    flags = [f"--{name}-db-data-dir={tmp_path}" for name in DATABASES]
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    here = f"http://127.0.0.1:{port}"
    # Served elsewhere than on 8000: its URL for the token service, and for what trusts it.
    flags += ["--server-port", str(port), "--tokens-issuer", here, "--auth-jwt-issuer", here]
    flags += ["--auth-jwt-jwks-url", f"{here}/.well-known/jwks.json"]
    process = spawn(sys.executable, "-m", "runnerly", *flags, cwd=str(RUNNERLY))
    # Its start migrates three databases and may build the page's components: a generous
    # bound, as for the schemathesis run's, since the machine may be busy.
    serving = process.wait_for("serving on http://127.0.0.1:", timeout=120)
    found = re.search(
        r"serving on (http://127\.0\.0\.1:\d+): API page at \1/docs, JSON-RPC at \1/rpc", serving
    )
    assert found, serving
    base = found.group(1)
    process.wait_for("seeded runner Ada (id 1) and a week of runs", timeout=60)
    how = process.wait_for("log in as the demo runner:", timeout=60)
    login = re.search(r"-d '(\{.*\})'", how)
    assert login, how
    assert httpx.get(f"{base}/users/1", timeout=5).status_code == 401  # a token is needed
    assert f"curl -X POST {base}/login" in how
    json = {"content-type": "application/json"}
    tokens = httpx.post(f"{base}/login", content=login.group(1), headers=json, timeout=5).json()
    headers = {"authorization": f"Bearer {tokens['access_token']}"}
    assert httpx.get(f"{base}/users/1", headers=headers, timeout=5).json()["name"] == "Ada"
    call = {"jsonrpc": "2.0", "method": "runs.weekly_meters", "params": {"user_id": 1}, "id": 0}
    answer = httpx.post(f"{base}/rpc", json=call, headers=headers, timeout=5).json()
    assert answer == {"jsonrpc": "2.0", "result": 16000.0, "id": 0}
    process.signal(signal.SIGINT)
    assert process.finish() == 0
    assert "runnerly stopped" in process.output
    assert f"open {base}/ and log in as" in how  # the page, where a runner logs in


def test_importing_the_composition_root_changes_no_service(spawn):
    code = (
        "import runnerly.app\n"
        "from runnerly.runs.application import service\n"
        "print('declared' if service.database_declaration else 'untouched')\n"
        "runnerly.app.system()\n"
        "print('declared' if service.database_declaration else 'untouched')\n"
    )
    process = spawn(sys.executable, "-c", code, cwd=str(RUNNERLY))
    assert process.finish() == 0
    assert process.lines == ["untouched", "declared"]  # composed when asked, not on import


async def test_an_aggregate_raises_its_event_in_the_stream_of_its_identity():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        runner = await harness.send(ada())
        run = await record(harness, RecordRun(5000.0, 1500, MONDAY))
        [registered] = harness.events_of(UserRegistered)
        [recorded] = harness.events_of(RunRecorded)
    assert registered == UserRegistered(runner.id, "Ada")
    assert recorded == RunRecorded(run.id, runner.id, 5000.0, MONDAY)
    assert run.events == []  # committed to the outbox, not kept on the aggregate
