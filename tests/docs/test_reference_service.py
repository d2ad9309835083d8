"""The examples of docs/reference/service.md run as shown, and serve what their comments say.

The page's service declares its handlers with ``...`` bodies, over types the page leaves out:
the test supplies them (and, once the block has run, the database and providers they need).
The block's last line, ``atoll.main(service)``, runs with ``--help`` on the command line, so
that it prints the options and exits rather than serve on port 8000; the test then runs the
service with ``atoll.testing.run`` and reads what it serves. The system's block composes
runnerly's services, the ones it names; the middleware's block wraps the first block's service.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from dataclasses import dataclass
from typing import Any

import pytest

import atoll
import atoll.testing
from atoll.clients.transports import HttpTransport
from atoll.errors import RemoteError
from atoll.messaging.bus import Call, Next
from atoll.service.timers import Timers
from atoll.testing.client import TEST_BASE_URL
from runnerly import app as runnerly_app
from runnerly.runs import application as runs
from runnerly.users import application as users
from runnerly.users.contracts import RegisterUser
from tests.docs.pages import REFERENCE, python_blocks

PAGE = REFERENCE / "service.md"
MEMORY = ["--db-url", "memory://"]


@dataclass(frozen=True)
class RecordRun:
    user_id: int
    meters: float
    seconds: int


@dataclass(frozen=True)
class WeeklyMeters:
    user_id: int


@dataclass(frozen=True)
class RunRecorded:
    run_id: int


@dataclass
class Run:
    id: int | None
    user_id: int
    meters: float


class RunsUnitOfWork(atoll.UnitOfWork):
    pass


class RunRepository:
    pass


class Stats:
    pass


def run_block(number: int, namespace: dict[str, Any], prog: str) -> None:
    """Run the page's block ``number`` (from 0), its ``atoll.main`` given ``--help``."""
    code = compile(python_blocks(PAGE)[number], f"service.md, block {number + 1}", "exec")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", [prog, "--help"])
        with pytest.raises(SystemExit) as exited:
            exec(code, namespace)  # noqa: S102 - the documentation's own example
    assert exited.value.code == 0


def declared() -> dict[str, Any]:
    """The namespace of the page's first block, once run; its service ready to run."""
    namespace: dict[str, Any] = {"__name__": "runs", "atoll": atoll, "Run": Run, "Stats": Stats}
    namespace.update(RecordRun=RecordRun, WeeklyMeters=WeeklyMeters, RunRecorded=RunRecorded)
    namespace.update(RunsUnitOfWork=RunsUnitOfWork, RunRepository=RunRepository)
    run_block(0, namespace, "runs")
    service: atoll.Service = namespace["service"]
    service.database(atoll.Schema(), RunsUnitOfWork)
    service.provide(RunRepository)
    service.provide(Stats)
    return namespace


def composed() -> dict[str, Any]:
    """The namespace of the page's system block, once run over runnerly's services."""
    runnerly_app.service("users")  # runnerly's services, their databases declared
    namespace: dict[str, Any] = {"atoll": atoll, "users": users, "runs": runs}
    namespace["DemoOptions"] = runnerly_app.DemoOptions
    run_block(2, namespace, "runnerly")
    return namespace


def test_the_page_has_the_four_blocks_read_here():
    assert len(python_blocks(PAGE)) == 4


def test_main_of_the_service_takes_help_and_would_serve_on_127_0_0_1_port_8000(capsys):
    declared()
    shown = " ".join(capsys.readouterr().out.split())
    assert shown.startswith("usage: runs ")
    host = r"--server-host STR the address to listen on; [^]]*default: \"127\.0\.0\.1\""
    assert re.search(host, shown)
    assert re.search(r"--server-port INT the TCP port to listen on; [^]]*default: 8000;", shown)


async def test_the_service_serves_each_handler_as_its_comment_says():
    service = declared()["service"]
    async with atoll.testing.run(service, argv=MEMORY) as harness:
        assert await harness.rpc.method_names() == ["record_run", "weekly_meters", "ping"]
        paths = (await harness.client.get("/openapi.json")).json()["paths"]
        assert {path: sorted(operations) for path, operations in paths.items()} == {
            "/record-run": ["post"],
            "/weekly-meters": ["get"],
            "/runs/{run_id}": ["get"],
            "/rpc": ["post"],  # the JSON-RPC endpoint
        }
        (user_id,) = paths["/weekly-meters"]["get"]["parameters"]
        assert (user_id["name"], user_id["in"]) == ("user_id", "query")
        assert [handler.name for handler in harness.bus.event_handlers(RunRecorded)] == ["tally"]


async def test_the_timers_are_declared_as_their_comments_say():
    namespace = declared()
    code = compile(python_blocks(PAGE)[1], "service.md, block 2", "exec")
    exec(code, namespace)  # noqa: S102 - the documentation's own example
    service: atoll.Service = namespace["service"]
    assert [(t.label, t.schedule.describe(), t.singleton) for t in service.timers] == [
        ("runs.expire_drafts", "every 60 s", False),
        ("runs.close_week", "cron '0 3 * * 1' (UTC)", True),
    ]
    async with atoll.testing.run(service, argv=MEMORY) as harness:  # the lease's database too
        assert harness.container.get(Timers).timers == service.timers


async def test_middleware_wraps_every_handler_call_whatever_brought_it(caplog):
    namespace = declared()
    namespace.update(Call=Call, Next=Next, Any=Any, time=time, log=logging.getLogger("runs"))
    code = compile(python_blocks(PAGE)[3], "service.md, block 4", "exec")
    exec(code, namespace)  # noqa: S102 - the documentation's own example
    caplog.set_level(logging.INFO, logger="runs")
    run = {"user_id": 1, "meters": 5000.0, "seconds": 1500}
    async with atoll.testing.run(namespace["service"], argv=MEMORY) as harness:
        # The handlers' bodies are the page's `...`: each returns None, which REST sends as 204.
        assert await harness.rpc.methods.record_run(**run) is None
        assert (await harness.client.post("/record-run", json=run)).is_success
        assert await harness.rpc.methods.weekly_meters(user_id=1) is None
        assert (await harness.client.get("/weekly-meters", params={"user_id": 1})).is_success
        await harness.publish(RunRecorded(1))
        assert await harness.rpc.methods.ping() is None
        assert (await harness.client.get("/runs/1")).is_success
    logged = [record.getMessage() for record in caplog.records if record.name == "runs"]
    assert all(re.fullmatch(r"\w+ took \d+\.\d{3}s", line) for line in logged), logged
    assert [line.split()[0] for line in logged] == [
        "record_run",  # JSON-RPC "record_run"
        "record_run",  # REST POST /record-run
        "weekly_meters",  # JSON-RPC "weekly_meters"
        "weekly_meters",  # REST GET /weekly-meters?user_id=1
        "tally",  # a RunRecorded raised in the process
        "ping",  # JSON-RPC "ping"
        "get_run",  # REST GET /runs/1
    ]


def test_main_of_the_system_takes_help_with_its_services_and_its_own_options(capsys):
    composed()
    shown = " ".join(capsys.readouterr().out.split())
    assert shown.startswith("usage: runnerly ")
    for flag in ("--users-db-url", "--runs-db-url", "--demo-seed"):
        assert flag in shown


async def test_a_client_of_users_works_at_the_systems_rpc_and_at_its_own():
    argv = ["--users-db-url", "memory://", "--runs-db-url", "memory://"]
    # users opens sessions at a token service, which this system does not hold: over HTTP.
    argv += ["--clients-token-url", "http://127.0.0.1:8004/oauth/token"]
    argv += ["--clients-client-id", "users", "--clients-client-secret", "never-used"]
    async with atoll.testing.run(composed()["system"], argv=argv) as harness:
        registering = RegisterUser("ada@example.org", "Ada", "ada runs far")
        ada = await harness.send(registering)
        whole = HttpTransport(f"{TEST_BASE_URL}/rpc", client=harness.client)
        own = HttpTransport(f"{TEST_BASE_URL}/rpc/users", client=harness.client)
        async with atoll.RemoteService(whole) as system, atoll.RemoteService(own) as users_alone:
            bo = {"email": "bo@example.org", "name": "Bo", "password": "bo runs far"}
            profile = await system.methods.users.register_user(**bo)
            assert profile == {"id": ada.id + 1, "email": "bo@example.org", "name": "Bo"}
            cy = {**bo, "email": "cy@example.org", "name": "Cy"}
            assert (await users_alone.methods.register_user(**cy))["id"] == ada.id + 2
            # Ada's profile is hers: a caller proving nothing is refused alike at both.
            refusals = []
            for methods in (system.methods.users, users_alone.methods):
                with pytest.raises(RemoteError) as refused:
                    await methods.get_profile(user_id=ada.id)
                refusals.append((refused.value.code, refused.value.data))
            assert refusals[0] == refusals[1]
            assert await users_alone.name() == "users"
