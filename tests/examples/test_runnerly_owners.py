"""Runnerly's runs are their runners' alone: to anyone else, another's run does not exist.

Ada tries Bo's run as an attacker would (broken object-level authorization): she reads,
changes and deletes it over REST, JSON-RPC over HTTP, JSON-RPC in the process and broker RPC,
and asks for his runs and weeks. Each time she gets the very answer an id no one has gets,
the handler never runs, and Bo's run is in the database as it was.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

import atoll
import atoll.testing
from atoll.errors import RemoteError, ServerOwnedFieldError
from atoll.messaging.broker import Broker
from atoll.persistence.ports import Database
from atoll.service.definition import FORBIDDEN_CODE
from runnerly.app import system
from runnerly.runs.contracts import UNKNOWN_RUN, UNKNOWN_RUNNER, RecordRun, RunChanged, RunDeleted
from runnerly.runs.infrastructure import RunRecords
from tests.examples.test_runnerly import ADA, MEMORY, MONDAY, ada, bearer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from runnerly.runs.model import Run

RUN = {"meters": 5000, "seconds": 1500, "started_at": MONDAY.isoformat(), "notes": "easy"}
"""Bo's run, as he records it."""
CHANGE = {"meters": 1.0, "seconds": 1, "notes": "mine now"}
"""What Ada would make of it."""
TRANSPORTS = ("rest", "json-rpc", "in-process", "broker-rpc")
OPERATIONS = ("get", "change", "delete")


@dataclass
class Club:
    """The system with two runners, Ada (id 1) and Bo (id 2), and Bo's one run."""

    harness: atoll.testing.ServiceHarness
    ada: dict[str, str]
    bo: dict[str, str]
    bo_run: int


@contextlib.asynccontextmanager
async def club() -> AsyncIterator[Club]:
    """The system on a broker of its own, so that its services serve broker RPC too."""
    argv = [*MEMORY, "--broker-url", f"memory://owners-{uuid.uuid4().hex}"]
    async with atoll.testing.run(system(), argv=argv) as harness:
        await harness.send(ada())
        await harness.send(ada("bo@example.org", "Bo"))
        bo = await bearer(harness, "bo@example.org")
        recorded = await harness.client.post("/runs", json=RUN, headers=bo)
        assert recorded.status_code == 201, recorded.text
        yield Club(harness, await bearer(harness), bo, recorded.json()["id"])


async def stored(harness: atoll.testing.ServiceHarness, run_id: int) -> Run | None:
    """Run ``run_id`` as the runs database holds it, read past every service."""
    async with atoll.UnitOfWork(harness.container.get(Database, "runs")) as uow:
        return await RunRecords(uow).get(run_id)


async def attempt(
    club: Club, transport: str, operation: str, run_id: int, headers: dict[str, str]
) -> Any:
    """The answer to ``operation`` on run ``run_id`` over ``transport``, as its caller sees it.

    REST gives its status and problem; JSON-RPC its response's ``error`` (or ``result``).
    """
    harness = club.harness
    if transport == "rest":
        method = {"get": "GET", "change": "PATCH", "delete": "DELETE"}[operation]
        body = CHANGE if operation == "change" else None
        response = await harness.client.request(
            method, f"/runs/{run_id}", json=body, headers=headers
        )
        return response.status_code, response.json() if response.content else None
    params: dict[str, Any] = {"run_id": run_id, **(CHANGE if operation == "change" else {})}
    if transport == "json-rpc":
        call = {"jsonrpc": "2.0", "method": f"runs.{operation}_run", "params": params, "id": 7}
        answer = (await harness.client.post("/rpc", json=call, headers=headers)).json()
    elif transport == "broker-rpc":
        broker = await harness.container.aget(Broker)
        call = {"jsonrpc": "2.0", "method": f"{operation}_run", "params": params, "id": 7}
        answer = json.loads(await broker.request("runs", json.dumps(call).encode(), 10.0, headers))
        await harness.settle()  # what the call committed reaches stats, as over the others
    else:  # in the process: a client of the system, acting as whom the token proves
        who = ADA if headers == club.ada else atoll.Identity(kind="user", subject="2")
        with harness.acting_as(who):
            try:
                return {"result": await harness.rpc.call(f"runs.{operation}_run", params)}
            except RemoteError as error:
                return {"error": {"code": error.code, "message": error.message, "data": error.data}}
    return {key: answer[key] for key in ("result", "error") if key in answer}


def with_id_left_out(answer: Any, run_id: int) -> str:
    """``answer`` with what names run ``run_id`` made anonymous: the rest must be equal."""
    text = json.dumps(answer)
    return text.replace(f"no run with id {run_id}", "no run with id ?").replace(
        f'"/runs/{run_id}"', '"/runs/?"'
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_another_runners_run_is_answered_as_none_and_stays_as_it_was(transport):
    async with club() as runners:
        before = await stored(runners.harness, runners.bo_run)
        no_run = runners.bo_run + 1000
        for operation in OPERATIONS:
            hers = await attempt(runners, transport, operation, runners.bo_run, runners.ada)
            none = await attempt(runners, transport, operation, no_run, runners.ada)
            assert with_id_left_out(hers, runners.bo_run) == with_id_left_out(none, no_run)
            if transport == "rest":
                assert hers[0] == 404, operation
                assert hers[1]["detail"] == f"no run with id {runners.bo_run}"
            else:
                assert hers["error"]["code"] == UNKNOWN_RUN, operation
        assert await stored(runners.harness, runners.bo_run) == before  # not one field moved
        assert before is not None
        assert (before.user_id, before.meters, before.notes, before.version) == (2, 5000, "easy", 0)
        assert runners.harness.events_of(RunChanged) == []
        assert runners.harness.events_of(RunDeleted) == []
        totals = await runners.harness.client.get("/users/2/weekly-totals", headers=runners.bo)
        assert [(t["meters"], t["runs"]) for t in totals.json()] == [(5000.0, 1)]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_runner_reads_changes_and_deletes_her_own_run(transport):
    async with club() as runners:
        run_id, bo = runners.bo_run, runners.bo
        read = await attempt(runners, transport, "get", run_id, bo)
        changed = await attempt(runners, transport, "change", run_id, bo)
        if transport == "rest":
            assert (read[0], read[1]["notes"]) == (200, "easy")
            assert (changed[0], changed[1]["meters"], changed[1]["notes"]) == (200, 1.0, "mine now")
        else:
            assert read["result"]["notes"] == "easy"
            assert changed["result"]["meters"] == 1.0
        assert runners.harness.events_of(RunChanged) == [
            RunChanged(run_id, 2, MONDAY, meters=1.0, previous_meters=5000.0)
        ]
        totals = await runners.harness.client.get("/users/2/weekly-totals", headers=bo)
        assert [(t["meters"], t["runs"]) for t in totals.json()] == [(1.0, 1)]
        deleted = await attempt(runners, transport, "delete", run_id, bo)
        assert deleted == ((204, None) if transport == "rest" else {"result": None})
        assert await stored(runners.harness, run_id) is None
        assert runners.harness.events_of(RunDeleted) == [RunDeleted(run_id, 2, MONDAY, 1.0)]
        totals = await runners.harness.client.get("/users/2/weekly-totals", headers=bo)
        assert totals.json() == []  # a week left with no run has no total


async def test_a_change_that_changes_nothing_raises_no_event():
    async with club() as runners:
        same = {"meters": 5000, "notes": "easy"}
        path = f"/runs/{runners.bo_run}"
        unchanged = await runners.harness.client.patch(path, json=same, headers=runners.bo)
        assert (unchanged.status_code, unchanged.json()["meters"]) == (200, 5000)
        assert runners.harness.events_of(RunChanged) == []
        run = await stored(runners.harness, runners.bo_run)
        assert run is not None
        assert run.version == 0


async def test_another_runners_runs_and_weeks_are_answered_as_no_runners():
    async with club() as runners:
        client, ada_headers = runners.harness.client, runners.ada
        for path in ("/users/{}/runs", "/users/{}/weekly-meters", "/users/{}/weekly-totals"):
            bos = await client.get(path.format(2), headers=ada_headers)
            nobodys = await client.get(path.format(99), headers=ada_headers)
            assert (bos.status_code, nobodys.status_code) == (404, 404), path
            assert bos.json()["detail"] == "no runner with id 2"
            assert {**bos.json(), "detail": "", "instance": ""} == {
                **nobodys.json(),
                "detail": "",
                "instance": "",
            }
        with runners.harness.acting_as(ADA):
            for method in (
                runners.harness.rpc.methods.runs.weekly_meters,
                runners.harness.rpc.methods.stats.weekly_totals,
            ):
                with pytest.raises(RemoteError) as refused:
                    await method(user_id=2)
                assert (refused.value.code, refused.value.data["detail"]) == (
                    UNKNOWN_RUNNER,
                    "no runner with id 2",
                )
            assert await runners.harness.rpc.methods.runs.weekly_meters(user_id=1) == 0


async def test_whose_run_is_the_servers_to_say_and_a_call_saying_it_is_refused():
    async with club() as runners:
        harness = runners.harness
        forged = await harness.client.post("/runs", json={**RUN, "user_id": 2}, headers=runners.ada)
        assert forged.status_code == 422
        assert forged.json()["detail"].startswith("user_id is set by the server")
        moved = await harness.client.patch(
            f"/runs/{runners.bo_run}", json={"user_id": 1}, headers=runners.bo
        )
        assert (moved.status_code, moved.json()["detail"]) == (
            422,
            "Object contains unknown field `user_id`",
        )
        call = {"jsonrpc": "2.0", "method": "runs.record_run", "params": {**RUN, "user_id": 2}}
        answer = await harness.client.post("/rpc", json={**call, "id": 1}, headers=runners.ada)
        error = answer.json()["error"]
        assert (error["code"], error["data"]["path"]) == (-32602, "$.user_id")
        call = {"jsonrpc": "2.0", "method": "runs.change_run", "id": 2}
        call["params"] = {"run_id": runners.bo_run, "user_id": 1}
        error = (await harness.client.post("/rpc", json=call, headers=runners.bo)).json()["error"]
        assert error["code"] == -32602
        assert "user_id" in error["data"]["detail"]
        with harness.acting_as(ADA), pytest.raises(ServerOwnedFieldError):
            await harness.send(RecordRun(5000, 1500, MONDAY, user_id=2))
        run = await stored(harness, runners.bo_run)
        assert run is not None
        assert run.user_id == 2
        assert [run["user_id"] for run in await runs_in(harness)] == [2]  # and no other run


async def runs_in(harness: atoll.testing.ServiceHarness) -> list[dict[str, Any]]:
    """Every run of the runs database, as plain values."""
    async with atoll.UnitOfWork(harness.container.get(Database, "runs")) as uow:
        found = await RunRecords(uow).find()
    return [{"id": run.id, "user_id": run.user_id} for run in found]


async def test_a_service_token_records_no_run_for_anyone():
    async with club() as runners:
        nightly = atoll.Identity(kind="service", subject="nightly", scheme="process")
        with runners.harness.acting_as(nightly), pytest.raises(RemoteError) as refused:
            await runners.harness.rpc.methods.runs.record_run(**RUN)
        assert refused.value.code == FORBIDDEN_CODE  # only a runner records runs
        assert await runs_in(runners.harness) == [{"id": runners.bo_run, "user_id": 2}]


async def test_the_api_documents_say_who_may_touch_a_run():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        document = (await harness.client.get("/openapi.json")).json()
        run = document["paths"]["/runs/{run_id}"]
        for method in ("get", "patch", "delete"):
            assert run[method]["x-atoll-policy"] == "caller_ran_the_run()", method
            assert "404" in run[method]["responses"], method
        assert document["paths"]["/runs"]["post"]["x-atoll-policy"] == (
            "server-owned user_id; caller_is_a_runner()"
        )
        mine = document["paths"]["/users/{user_id}/runs"]["get"]
        assert mine["x-atoll-policy"] == "caller_is_the_runner()"
        with harness.acting_as(ADA):
            names = set(await harness.rpc.method_names())
        assert {"runs.get_run", "runs.change_run", "runs.delete_run"} <= names
