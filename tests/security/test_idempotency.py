"""Idempotency keys: a call repeated with its key runs once, on every transport.

The service records runs in its database (SQLite, or memory://); each test counts the runs
kept there and the handler's calls, so that "ran once" is what the database says.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa

import atoll
import atoll.testing
from atoll.errors import IdempotencyKeyInUseError, IdempotencyKeyReusedError
from atoll.messaging.broker import Broker
from atoll.messaging.handlers import Handler, HandlerKind
from atoll.persistence.idempotency import HOLD, MemoryKeyStore
from atoll.persistence.inboxes import Inboxes
from atoll.persistence.schema import Schema
from atoll.security.idempotency import Idempotency, IdempotencyOptions, key_problem
from atoll.security.identity import ANONYMOUS, identity_of_claims
from tests.security import tokens
from tests.security.test_policies import jwt_argv


@dataclass
class Run:
    id: int | None
    meters: int
    runner: str = ""
    events: list[object] = field(default_factory=list)


@dataclass(frozen=True)
class RecordRun:
    meters: int


metadata = sa.MetaData()
schema = Schema(metadata)
schema.map(
    Run,
    sa.Table(
        "idempotent_runs",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("meters", sa.Integer, nullable=False),
        sa.Column("runner", sa.String(50), nullable=False),
    ),
)


class Units(atoll.UnitOfWork):
    runs: atoll.Repository[Run]


class Track:
    """What the handlers did: their calls, and gates a test opens to let one finish."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()


class RunTooLongError(ValueError):
    """A run the service refuses before it records anything."""


def runs_service(track: Track, name: str = "runs") -> atoll.Service:
    service = atoll.Service(name)
    service.database(schema, Units)
    service.faults.add(RunTooLongError, status=422, code=-32050)

    @service.command(RecordRun, path="/runs", status=201)
    async def record_run(command: RecordRun, uow: Units, identity: atoll.Identity) -> dict:
        track.calls.append(command.meters)
        track.entered.set()
        if track.gate is not None:
            await track.gate.wait()
        if command.meters > 100_000:
            raise RunTooLongError(f"{command.meters} m is no run")
        async with uow:
            run = await uow.runs.add(Run(None, command.meters, identity.subject))
            await uow.commit()
        if command.meters == 99_999:
            raise RuntimeError("failed after its effect")
        return {"id": run.id, "meters": run.meters, "runner": run.runner}

    @service.rpc
    @service.get("/runs/count")
    async def count_runs(uow: Units) -> int:
        async with uow:
            return len(await uow.runs.find())

    @service.delete("/runs/{run_id}")
    async def forget_run(run_id: int, uow: Units) -> None:
        track.calls.append(-run_id)
        async with uow:
            run = await uow.runs.get(run_id)
            if run is not None:
                await uow.runs.remove(run)
            await uow.commit()

    _handlers_of_other_kinds(service, track)
    return service


def _handlers_of_other_kinds(service: atoll.Service, track: Track) -> None:
    @service.rpc
    @service.post("/counts")
    async def count_once(uow: Units) -> int:
        """Needs no identity: a call with credentials that fail is served all the same."""
        track.calls.append(0)
        async with uow:
            run = await uow.runs.add(Run(None, 1, "nobody"))
            await uow.commit()
        return run.id or 0

    @service.post("/log-in", public=True)
    async def log_in() -> str:
        """Public, as logging in is: its answers hold credentials, and take no key."""
        track.calls.append(-100)
        return "a fresh token"

    @service.rpc
    async def set_cookie(response: atoll.Response) -> str:
        response.set_cookie("session", "someone-elses")
        return "set"


def bearer(subject: str) -> dict[str, str]:
    claims = tokens.claims(time.time(), sub=subject)
    return {"authorization": f"Bearer {tokens.mint(claims, tokens.ed25519_pair())}"}


def keyed(subject: str, key: str) -> dict[str, str]:
    return {**bearer(subject), "idempotency-key": key}


@pytest.fixture(params=["sqlite", "memory"])
def database_argv(request, tmp_path) -> list[str]:
    if request.param == "memory":
        return ["--db-url", "memory://"]
    return ["--db-data-dir", str(tmp_path), "--db-migrate", "always"]


@pytest.fixture
async def served(database_argv):
    track = Track()
    async with atoll.testing.run(runs_service(track), argv=jwt_argv(*database_argv)) as harness:
        yield harness, track


async def count(harness) -> int:
    return (await harness.client.get("/runs/count", headers=bearer("ada"))).json()


# -- REST ---------------------------------------------------------------------------------------


async def test_a_repeated_request_replays_the_first_answer_and_runs_once(served):
    harness, track = served
    first = await harness.client.post("/runs", json={"meters": 5000}, headers=keyed("ada", "k1"))
    again = await harness.client.post("/runs", json={"meters": 5000}, headers=keyed("ada", "k1"))
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() == {"id": 1, "meters": 5000, "runner": "ada"}
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert track.calls == [5000]
    assert await count(harness) == 1


async def test_requests_without_a_key_or_with_new_keys_each_run(served):
    harness, track = served
    await harness.client.post("/runs", json={"meters": 1}, headers=bearer("ada"))
    await harness.client.post("/runs", json={"meters": 1}, headers=bearer("ada"))
    await harness.client.post("/runs", json={"meters": 1}, headers=keyed("ada", "a"))
    await harness.client.post("/runs", json={"meters": 1}, headers=keyed("ada", "b"))
    assert track.calls == [1, 1, 1, 1]
    assert await count(harness) == 4


async def test_a_key_reused_with_another_body_is_a_422_and_runs_nothing(served):
    harness, track = served
    await harness.client.post("/runs", json={"meters": 5000}, headers=keyed("ada", "k2"))
    other = await harness.client.post("/runs", json={"meters": 6000}, headers=keyed("ada", "k2"))
    assert other.status_code == 422
    problem = other.json()
    assert problem["title"] == "idempotency key reused"
    assert "'k2' was used before with another request" in problem["detail"]
    assert track.calls == [5000]
    assert await count(harness) == 1


async def test_a_key_reused_on_another_operation_is_a_422(served):
    harness, track = served
    await harness.client.post("/runs", json={"meters": 5000}, headers=keyed("ada", "k3"))
    other = await harness.client.delete("/runs/1", headers=keyed("ada", "k3"))
    assert other.status_code == 422
    assert track.calls == [5000]


async def test_a_request_while_the_first_with_its_key_runs_is_a_409(served):
    harness, track = served
    track.gate = asyncio.Event()
    first = asyncio.create_task(
        harness.client.post("/runs", json={"meters": 5000}, headers=keyed("ada", "k4"))
    )
    await asyncio.wait_for(track.entered.wait(), 30)
    second = await harness.client.post("/runs", json={"meters": 5000}, headers=keyed("ada", "k4"))
    track.gate.set()
    answered = await asyncio.wait_for(first, 30)
    third = await harness.client.post("/runs", json={"meters": 5000}, headers=keyed("ada", "k4"))
    assert second.status_code == 409
    assert second.json()["title"] == "idempotency key in use"
    assert "is running; try again once it has answered" in second.json()["detail"]
    assert answered.status_code == third.status_code == 201
    assert third.json() == answered.json()
    assert track.calls == [5000]


async def test_keys_are_their_callers_own(served):
    harness, track = served
    mine = await harness.client.post("/runs", json={"meters": 5000}, headers=keyed("ada", "k5"))
    theirs = await harness.client.post("/runs", json={"meters": 5000}, headers=keyed("bo", "k5"))
    assert mine.json()["runner"] == "ada"
    assert theirs.json() == {"id": 2, "meters": 5000, "runner": "bo"}  # not ada's answer
    assert "idempotent-replayed" not in theirs.headers
    assert track.calls == [5000, 5000]


async def test_a_call_refused_before_its_effect_gives_its_key_back(served):
    harness, track = served
    refused = await harness.client.post(
        "/runs", json={"meters": 200_000}, headers=keyed("ada", "k6")
    )
    again = await harness.client.post("/runs", json={"meters": 200_000}, headers=keyed("ada", "k6"))
    assert refused.status_code == again.status_code == 422
    assert track.calls == [200_000, 200_000]  # run again: nothing had taken effect
    assert await count(harness) == 0


async def test_a_call_that_failed_after_its_effect_never_runs_again(served):
    harness, track = served
    failed = await harness.client.post("/runs", json={"meters": 99_999}, headers=keyed("ada", "k7"))
    again = await harness.client.post("/runs", json={"meters": 99_999}, headers=keyed("ada", "k7"))
    assert failed.status_code == 500
    assert again.status_code == 409
    assert "took effect, and its answer was lost" in again.json()["detail"]
    assert track.calls == [99_999]
    assert await count(harness) == 1


@pytest.mark.parametrize(
    ("headers", "said"),
    [
        ([("idempotency-key", "")], "an empty one"),
        ([("idempotency-key", "x" * 256)], "256 characters"),
        ([("idempotency-key", "café".encode("latin-1"))], "printable ASCII"),
        ([("idempotency-key", "a"), ("idempotency-key", "b")], "not several"),
    ],
)
async def test_an_invalid_key_is_a_400_and_runs_nothing(served, headers, said):
    harness, track = served
    sent = [*bearer("ada").items(), *headers]
    answer = await harness.client.post("/runs", json={"meters": 1}, headers=sent)
    assert answer.status_code == 400
    assert said in answer.json()["detail"]
    assert track.calls == []


async def test_a_structured_field_string_key_is_read_unquoted(served):
    harness, track = served
    quoted = await harness.client.post(
        "/runs", json={"meters": 7}, headers=keyed("ada", '"8e03978e-40d5"')
    )
    plain = await harness.client.post(
        "/runs", json={"meters": 7}, headers=keyed("ada", "8e03978e-40d5")
    )
    assert plain.headers["idempotent-replayed"] == "true"
    assert plain.json() == quoted.json()
    assert track.calls == [7]


async def test_a_delete_with_a_key_replays_its_204(served):
    harness, track = served
    await harness.client.post("/runs", json={"meters": 1}, headers=bearer("ada"))
    first = await harness.client.delete("/runs/1", headers=keyed("ada", "d1"))
    again = await harness.client.delete("/runs/1", headers=keyed("ada", "d1"))
    assert first.status_code == again.status_code == 204
    assert again.headers["idempotent-replayed"] == "true"
    assert track.calls == [1, -1]


async def test_a_safe_request_ignores_the_header(served):
    harness, _ = served
    answer = await harness.client.get("/runs/count", headers=keyed("ada", "g1"))
    assert answer.status_code == 200
    assert "idempotent-replayed" not in answer.headers


async def test_keys_can_be_turned_off(database_argv):
    track = Track()
    argv = jwt_argv(*database_argv, "--no-idempotency-enabled")
    async with atoll.testing.run(runs_service(track), argv=argv) as harness:
        for _ in range(2):
            await harness.client.post("/runs", json={"meters": 1}, headers=keyed("ada", "off"))
        assert await count(harness) == 2
        document = (await harness.client.get("/openapi.json")).json()
    parameters = document["paths"]["/runs"]["post"].get("parameters", [])
    assert "Idempotency-Key" not in [parameter["name"] for parameter in parameters]


async def test_openapi_documents_the_header_on_unsafe_operations_only(served):
    harness, _ = served
    paths = (await harness.client.get("/openapi.json")).json()["paths"]
    post, get = paths["/runs"]["post"], paths["/runs/count"]["get"]
    assert [p["name"] for p in post["parameters"]] == ["Idempotency-Key"]
    assert post["parameters"][0]["in"] == "header"
    assert {"400", "409", "422"} <= set(post["responses"])
    assert "parameters" not in get


async def test_a_public_handler_takes_no_key_so_that_no_credential_is_kept(served):
    harness, track = served
    first = await harness.client.post("/log-in", headers={"idempotency-key": "p1"})
    again = await harness.client.post("/log-in", headers={"idempotency-key": "p1"})
    document = (await harness.client.get("/openapi.json")).json()
    assert first.status_code == again.status_code == 200
    assert "idempotent-replayed" not in again.headers
    assert track.calls == [-100, -100]
    assert "parameters" not in document["paths"]["/log-in"]["post"]


async def test_credentials_a_call_does_not_need_that_fail_leave_its_key_anonymous(served):
    harness, track = served
    stale = {"authorization": "Bearer not-a-token", "idempotency-key": "s2"}
    first = await harness.client.post("/counts", headers=stale)
    again = await harness.client.post("/counts", headers=stale)
    without_key = await harness.client.post("/counts", headers={"authorization": "Bearer x"})
    assert (first.status_code, again.status_code, without_key.status_code) == (200, 200, 200)
    assert again.headers["idempotent-replayed"] == "true"
    assert track.calls == [0, 0]


async def test_an_answer_not_kept_is_still_given_and_a_retry_is_told_it_was_lost():
    class FailingAnswers(MemoryKeyStore):
        async def answer(self, scope: str, key: str, owner: str, response: bytes) -> bool:
            raise OSError("the database went away")

    keys, handler = keys_on(Clock()), a_handler()
    keys._memory = FailingAnswers()
    calls: list[int] = []

    async def call(arguments: dict[str, Any]) -> int:
        calls.append(1)
        hold = HOLD.get()
        assert hold is not None
        assert keys.store_for(handler).commit(hold.scope, hold.key, hold.owner)  # as a commit
        hold.committed = True
        return 7

    assert await keys.call(handler, ADA, "k", {}, call) == 7
    with pytest.raises(IdempotencyKeyInUseError, match="its answer was lost"):
        await keys.call(handler, ADA, "k", {}, call)
    assert calls == [1]


# -- JSON-RPC -----------------------------------------------------------------------------------


def rpc(meters: int, key: object = None, rid: int = 1) -> dict[str, Any]:
    call: dict[str, Any] = {
        "jsonrpc": "2.0",
        "method": "record_run",
        "params": {"meters": meters},
        "id": rid,
    }
    if key is not None:
        call["idempotency_key"] = key
    return call


async def test_json_rpc_replays_a_call_repeated_with_its_key(served):
    harness, track = served
    first = await harness.client.post("/rpc", json=rpc(5000, "r1"), headers=bearer("ada"))
    again = await harness.client.post("/rpc", json=rpc(5000, "r1", 2), headers=bearer("ada"))
    assert first.json()["result"] == {"id": 1, "meters": 5000, "runner": "ada"}
    assert again.json() == {**first.json(), "id": 2}
    assert track.calls == [5000]


async def test_json_rpc_answers_the_pinned_codes(served):
    harness, track = served
    await harness.client.post("/rpc", json=rpc(5000, "r2"), headers=bearer("ada"))
    reused = await harness.client.post("/rpc", json=rpc(6000, "r2"), headers=bearer("ada"))
    invalid = await harness.client.post("/rpc", json=rpc(6000, 42), headers=bearer("ada"))
    assert reused.json()["error"]["code"] == -32016
    assert invalid.json()["error"]["code"] == -32600
    assert "an idempotency key is a string; got int" in invalid.json()["error"]["data"]["detail"]
    assert track.calls == [5000]


async def test_each_member_of_a_batch_has_its_own_key(served):
    harness, track = served
    batch = [rpc(1, "b1", 1), rpc(2, "b2", 2), rpc(3, None, 3)]
    first = await harness.client.post("/rpc", json=batch, headers=bearer("ada"))
    again = await harness.client.post("/rpc", json=batch, headers=bearer("ada"))
    results = {answer["id"]: answer["result"]["meters"] for answer in again.json()}
    assert results == {1: 1, 2: 2, 3: 3}
    assert sorted(track.calls) == [1, 2, 3, 3]  # the keyless member ran twice
    assert len(first.json()) == 3


async def test_a_batch_members_headers_stay_out_of_another_members_kept_answer(served):
    harness, _ = served
    batch = [rpc(5, "b3", 1), {"jsonrpc": "2.0", "method": "set_cookie", "id": 2}]
    await harness.client.post("/rpc", json=batch, headers=bearer("ada"))
    replayed = await harness.client.post("/runs", json={"meters": 5}, headers=keyed("ada", "b3"))
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.status_code == 201
    assert "set-cookie" not in replayed.headers


async def test_a_rest_call_and_a_json_rpc_call_share_a_callers_key(served):
    harness, track = served
    rest = await harness.client.post("/runs", json={"meters": 5}, headers=keyed("ada", "s1"))
    over_rpc = await harness.client.post("/rpc", json=rpc(5, "s1"), headers=bearer("ada"))
    assert over_rpc.json()["result"] == rest.json()
    assert track.calls == [5]


async def test_broker_rpc_replays_a_call_repeated_with_its_key(database_argv):
    track = Track()
    name = f"runs-{uuid.uuid4().hex[:8]}"
    argv = jwt_argv(*database_argv, "--broker-url", f"memory://keys-{uuid.uuid4().hex}")
    async with atoll.testing.run(runs_service(track, name), argv=argv) as harness:
        broker = await harness.container.aget(Broker)
        answers = []
        for subject in ("ada", "ada", "bo"):
            body = json.dumps(rpc(5000, "m1")).encode()
            answers.append(json.loads(await broker.request(name, body, 10.0, bearer(subject))))
    assert (
        answers[0]["result"] == answers[1]["result"] == {"id": 1, "meters": 5000, "runner": "ada"}
    )
    assert answers[2]["result"]["runner"] == "bo"
    assert track.calls == [5000, 5000]


# -- the rules, on a clock of the test's ---------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def a_handler() -> Handler:
    async def record(meters: int) -> Any:
        return meters

    return Handler(record, HandlerKind.RPC, "record", "runs")


def keys_on(clock: Clock, **options: Any) -> Idempotency:
    settings = {"retention": 100.0, "lock_timeout": 10.0, **options}
    return Idempotency(IdempotencyOptions(**settings), Inboxes(), clock)


ADA = identity_of_claims(tokens.claims(time.time(), sub="ada"))


async def test_a_key_is_forgotten_after_its_retention():
    clock, handler, calls = Clock(), a_handler(), []

    async def call(arguments: dict[str, Any]) -> int:
        calls.append(arguments)
        return len(calls)

    keys = keys_on(clock)
    assert await keys.call(handler, ADA, "k", {"meters": 1}, call) == 1
    clock.now += 99
    assert await keys.call(handler, ADA, "k", {"meters": 1}, call) == 1  # replayed
    clock.now += 2
    assert await keys.call(handler, ADA, "k", {"meters": 1}, call) == 2  # a new request
    assert await keys.call(handler, ADA, "k", {"meters": 1}, call) == 2


async def test_a_key_held_past_its_lock_is_taken_over_and_the_slow_call_writes_nothing():
    clock, handler = Clock(), a_handler()
    keys = keys_on(clock)
    entered, release = asyncio.Event(), asyncio.Event()
    store = keys.store_for(handler)

    async def slow(arguments: dict[str, Any]) -> str:
        entered.set()
        await release.wait()
        hold = HOLD.get()
        assert hold is not None
        # What a unit of work's commit does with the hold: refused, its key being taken.
        assert not store.commit(hold.scope, hold.key, hold.owner)  # type: ignore[attr-defined]
        return "slow"

    async def quick(arguments: dict[str, Any]) -> str:
        return "retried"

    first = asyncio.create_task(keys.call(handler, ADA, "k", {}, slow))
    await asyncio.wait_for(entered.wait(), 30)
    with pytest.raises(IdempotencyKeyInUseError, match="is running"):
        await keys.call(handler, ADA, "k", {}, quick)
    clock.now += 11  # past the lock: its process is taken to have died
    assert await keys.call(handler, ADA, "k", {}, quick) == "retried"
    release.set()
    await asyncio.wait_for(first, 30)
    assert await keys.call(handler, ADA, "k", {}, quick) == "retried"  # the retry's answer


async def test_anonymous_callers_share_one_scope_and_a_fingerprint_tells_requests_apart():
    keys, handler = keys_on(Clock()), a_handler()

    async def call(arguments: dict[str, Any]) -> dict[str, Any]:
        return arguments

    assert await keys.call(handler, ANONYMOUS, "k", {"meters": 1}, call) == {"meters": 1}
    with pytest.raises(IdempotencyKeyReusedError):
        await keys.call(handler, ANONYMOUS, "k", {"meters": 2}, call)


async def test_the_arguments_order_makes_no_other_request():
    keys, handler, calls = keys_on(Clock()), a_handler(), []

    async def call(arguments: dict[str, Any]) -> int:
        calls.append(1)
        return 1

    await keys.call(handler, ADA, "k", {"a": 1, "b": 2}, call)
    await keys.call(handler, ADA, "k", {"b": 2, "a": 1}, call)
    assert calls == [1]


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"retention": 0}, "retention must be a number of seconds above 0"),
        ({"lock_timeout": -1}, "lock_timeout must be a number of seconds above 0"),
        ({"retention": 30, "lock_timeout": 60}, r"retention \(30 s\) must be longer"),
    ],
)
def test_the_options_refuse_times_that_mean_nothing(options, said):
    with pytest.raises(ValueError, match=said):
        IdempotencyOptions(**options)


def test_a_key_is_printable_ascii_of_bounded_length():
    assert key_problem("8e03978e-40d5-43e8-bc93-6894a57f9324") is None
    assert key_problem("x" * 255) is None
    assert "256 characters" in (key_problem("x" * 256) or "")
    assert "printable ASCII" in (key_problem("tab\there") or "")
    assert "got NoneType" in (key_problem(None) or "")
