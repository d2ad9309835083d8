"""Policies beside the handler, judged alike on every transport.

One service, one table of (caller, operation, verdict), run over REST, JSON-RPC over HTTP,
in the process (a client of the system, acting as the caller), and broker RPC (the broker
of the process's memory, shared by name, and NATS JetStream): every cell must agree.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

import atoll
import atoll.testing
from atoll.errors import ConfigError, ForbiddenError, RemoteError, UnauthenticatedError
from atoll.kernel.registry import Registry
from atoll.messaging.broker import Broker
from atoll.messaging.bus import MessageBus
from atoll.messaging.envelope import seal
from atoll.messaging.handlers import Handler, HandlerKind
from atoll.security.identity import ANONYMOUS, Identity, identity_of_claims
from atoll.security.policies import DENY, allow
from tests.security import tokens

NATS_URL = "nats://127.0.0.1:4222"


@dataclass(frozen=True)
class RecordRun:
    meters: int


@atoll.message("policies.RunRecorded")
@dataclass(frozen=True)
class RunRecorded:
    meters: int


def club(name: str = "runs", ran: list[str] | None = None) -> atoll.Service:
    """A service whose operations each declare who may run them."""
    service = atoll.Service(name)
    ran = ran if ran is not None else []

    @service.rpc(policy=allow("runs:read"))
    async def list_runs() -> list[int]:
        ran.append("list_runs")
        return [1, 2]

    @service.rpc(policy=allow(roles=["admin"]))
    async def close_week() -> str:
        ran.append("close_week")
        return "closed"

    @service.command(RecordRun, policy=allow("runs:write"))
    async def record_run(command: RecordRun) -> int:
        ran.append("record_run")
        return command.meters

    @service.rpc(policy=allow(services=["stats"]))
    async def for_stats() -> str:
        ran.append("for_stats")
        return "stats only"

    @service.rpc(policy=allow(check=lambda identity: identity.subject.startswith("a")))
    async def a_team() -> str:
        ran.append("a_team")
        return "a"

    @service.get("/runs", policy=allow("runs:read"))
    async def get_runs() -> list[int]:
        ran.append("get_runs")
        return [1, 2]

    @service.rpc
    async def open_to_all() -> str:
        return "open"

    return service


CALLERS: dict[str, dict[str, Any] | None] = {
    "anonymous": None,
    "reader": {"sub": "bo", "scope": "runs:read"},
    "writer": {"sub": "ada", "scope": "runs:write"},
    "admin": {"sub": "cy", "scope": "", "roles": ["admin"]},
    "stats": {"sub": "stats", "client_id": "stats", "scope": ""},
}
"""Each caller's token claims (beside the issuer, audience and times); None sends none."""

OPERATIONS = {  # the JSON-RPC method, its params, its result when allowed
    "list_runs": ({}, [1, 2]),
    "close_week": ({}, "closed"),
    "record_run": ({"meters": 5000}, 5000),
    "for_stats": ({}, "stats only"),
    "a_team": ({}, "a"),
}

# The verdict of each cell: "ok", or the refusal: 401 (no identity) or 403 (the wrong one).
TABLE = {
    "anonymous": dict.fromkeys(OPERATIONS, 401),
    "reader": {"list_runs": "ok", "close_week": 403, "record_run": 403, "for_stats": 403,
               "a_team": 403},
    "writer": {"list_runs": 403, "close_week": 403, "record_run": "ok", "for_stats": 403,
               "a_team": "ok"},
    "admin": {"list_runs": 403, "close_week": "ok", "record_run": 403, "for_stats": 403,
              "a_team": 403},
    "stats": {"list_runs": 403, "close_week": 403, "record_run": 403, "for_stats": "ok",
              "a_team": 403},
}  # fmt: skip

CODES = {401: -32012, 403: -32013}
CELLS = [(caller, operation) for caller in CALLERS for operation in OPERATIONS]


def jwt_argv(*more: str) -> list[str]:
    return [
        "--auth-jwt-issuer", tokens.ISSUER,
        "--auth-jwt-audience", tokens.AUDIENCE,
        "--auth-jwt-keys", json.dumps([json.dumps(tokens.ed25519_pair().jwk)]),
        *more,
    ]  # fmt: skip


def claims_of(caller: str) -> dict[str, Any] | None:
    given = CALLERS[caller]
    return None if given is None else tokens.claims(time.time(), **given)


def token_of(caller: str) -> str | None:
    claims = claims_of(caller)
    return None if claims is None else tokens.mint(claims, tokens.ed25519_pair())


def identity_of(caller: str) -> Identity:
    claims = claims_of(caller)
    return ANONYMOUS if claims is None else identity_of_claims(claims)


def headers_of(caller: str) -> dict[str, str]:
    token = token_of(caller)
    return {} if token is None else {"authorization": f"Bearer {token}"}


def verdict_of_rpc_answer(answer: dict[str, Any]) -> object:
    if "error" not in answer:
        return ("ok", answer["result"])
    code = answer["error"]["code"]
    return next(status for status, pinned in CODES.items() if pinned == code)


def expected(caller: str, operation: str) -> object:
    cell = TABLE[caller][operation]
    return ("ok", OPERATIONS[operation][1]) if cell == "ok" else cell


@pytest.fixture
async def served():
    ran: list[str] = []
    async with atoll.testing.run(club(ran=ran), argv=jwt_argv()) as harness:
        yield harness, ran


def table(cells) -> dict[tuple[str, str], object]:
    return {(caller, operation): expected(caller, operation) for caller, operation in cells}


async def test_json_rpc_over_http_gives_every_cell_of_the_table(served):
    harness, _ = served
    got = {}
    for caller, operation in CELLS:
        params, _ = OPERATIONS[operation]
        call = {"jsonrpc": "2.0", "method": operation, "params": params, "id": 1}
        answer = await harness.client.post("/rpc", json=call, headers=headers_of(caller))
        got[caller, operation] = verdict_of_rpc_answer(answer.json())
    assert got == table(CELLS)


REST = {  # the REST route of each operation that has one
    "list_runs": ("GET", "/runs", None),
    "record_run": ("POST", "/record-run", {"meters": 5000}),
}


async def test_rest_gives_every_cell_of_the_table(served):
    harness, _ = served
    cells = [(caller, operation) for caller, operation in CELLS if operation in REST]
    got: dict[tuple[str, str], object] = {}
    for caller, operation in cells:
        method, path, body = REST[operation]
        answer = await harness.client.request(method, path, json=body, headers=headers_of(caller))
        if answer.status_code == 200:
            got[caller, operation] = ("ok", answer.json())
            continue
        problem = answer.json()
        got[caller, operation] = problem["status"]
        if answer.status_code == 401:
            assert answer.headers["www-authenticate"].startswith('Bearer realm="runs"')
        else:
            assert "runs:" in problem["detail"]  # it says what is missing
    assert got == table(cells)


async def test_a_call_in_the_process_gives_every_cell_of_the_table(served):
    harness, _ = served
    runs = harness.container.get(atoll.Clients).get("runs")
    got: dict[tuple[str, str], object] = {}
    for caller, operation in CELLS:
        params, _ = OPERATIONS[operation]
        with harness.acting_as(identity_of(caller)):
            try:
                got[caller, operation] = ("ok", await runs.call(operation, params))
            except RemoteError as error:
                got[caller, operation] = next(
                    status for status, code in CODES.items() if code == error.code
                )
    assert got == table(CELLS)


GRAPHQL = {  # the document of each operation: every one is a mutation (no GET route)
    "list_runs": "mutation { listRuns }",
    "close_week": "mutation { closeWeek }",
    "record_run": "mutation { recordRun(meters: 5000) }",
    "for_stats": "mutation { forStats }",
    "a_team": "mutation { aTeam }",
}
GRAPHQL_CODES = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403}


async def test_graphql_gives_every_cell_of_the_table():
    service = club()
    service.graphql()
    async with atoll.testing.run(service, argv=jwt_argv()) as harness:
        got: dict[tuple[str, str], object] = {}
        for caller, operation in CELLS:
            answer = await harness.client.post(
                "/graphql", json={"query": GRAPHQL[operation]}, headers=headers_of(caller)
            )
            body = answer.json()
            if "errors" in body:
                (error,) = body["errors"]
                got[caller, operation] = GRAPHQL_CODES[error["extensions"]["code"]]
            else:
                (value,) = body["data"].values()
                got[caller, operation] = ("ok", value)
    assert got == table(CELLS)


async def test_a_field_graphql_refuses_is_null_and_the_others_answer():
    ran: list[str] = []
    service = club(ran=ran)
    service.graphql()
    async with atoll.testing.run(service, argv=jwt_argv()) as harness:
        answer = await harness.client.post(
            "/graphql",
            json={"query": "mutation { listRuns closeWeek }"},
            headers=headers_of("reader"),
        )
    body = answer.json()
    assert body["data"] == {"listRuns": [1, 2], "closeWeek": None}
    (error,) = body["errors"]
    assert error["path"] == ["closeWeek"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert ran == ["list_runs"]  # the refused one never ran


@pytest.mark.parametrize(
    "broker_url",
    [
        pytest.param("memory://", id="memory"),
        pytest.param(NATS_URL, id="nats", marks=pytest.mark.services("nats")),
    ],
)
async def test_broker_rpc_gives_every_cell_of_the_table(broker_url):
    name = f"runs-{uuid.uuid4().hex[:8]}"
    url = f"memory://policies-{uuid.uuid4().hex}" if broker_url == "memory://" else broker_url
    async with atoll.testing.run(club(name), argv=jwt_argv("--broker-url", url)) as harness:
        broker = await harness.container.aget(Broker)
        got, want = {}, {}
        for caller, operation in CELLS:
            params, _ = OPERATIONS[operation]
            body = json.dumps({"jsonrpc": "2.0", "method": operation, "params": params, "id": 1})
            answer = await broker.request(name, body.encode(), 10.0, headers_of(caller))
            got[caller, operation] = verdict_of_rpc_answer(json.loads(answer))
            want[caller, operation] = expected(caller, operation)
    assert got == want


async def test_a_refused_handler_never_runs():
    ran: list[str] = []
    async with atoll.testing.run(club(ran=ran), argv=jwt_argv()) as harness:
        for caller in ("anonymous", "reader", "admin"):
            call = {"jsonrpc": "2.0", "method": "record_run", "params": {"meters": 1}, "id": 1}
            await harness.client.post("/rpc", json=call, headers=headers_of(caller))
            await harness.client.post("/record-run", json={"meters": 1}, headers=headers_of(caller))
    assert ran == []


async def test_each_member_of_a_batch_is_judged_on_its_own(served):
    harness, _ = served
    batch = [
        {"jsonrpc": "2.0", "method": "list_runs", "id": 1},
        {"jsonrpc": "2.0", "method": "close_week", "id": 2},
        {"jsonrpc": "2.0", "method": "open_to_all", "id": 3},
    ]
    answers = await harness.client.post("/rpc", json=batch, headers=headers_of("reader"))
    by_id = {answer["id"]: answer for answer in answers.json()}
    assert by_id[1]["result"] == [1, 2]
    assert by_id[2]["error"]["code"] == -32013
    assert by_id[2]["error"]["data"]["detail"] == "close_week needs roles admin"
    assert by_id[3]["result"] == "open"


async def test_a_handler_without_a_policy_serves_whoever_the_service_serves(served):
    harness, _ = served
    call = {"jsonrpc": "2.0", "method": "open_to_all", "id": 1}
    assert (await harness.client.post("/rpc", json=call)).json()["result"] == "open"


# -- default-deny ------------------------------------------------------------------------------


async def test_default_deny_refuses_handlers_without_a_policy_and_serves_public_ones():
    service = atoll.Service("runs")

    @service.rpc
    async def forgotten() -> str:
        return "should not run"

    @service.rpc(public=True)
    async def health() -> str:
        return "up"

    @service.rpc(policy=allow())
    async def anyone_known() -> str:
        return "known"

    async with atoll.testing.run(service, argv=jwt_argv("--auth-default-deny")) as harness:
        headers = headers_of("reader")

        async def call(method: str) -> dict[str, Any]:
            body = {"jsonrpc": "2.0", "method": method, "id": 1}
            return (await harness.client.post("/rpc", json=body, headers=headers)).json()

        forgotten_answer = await call("forgotten")
        assert forgotten_answer["error"]["code"] == -32013
        assert "policy=" in forgotten_answer["error"]["data"]["detail"]
        assert (await call("health"))["result"] == "up"
        assert (await call("anyone_known"))["result"] == "known"


# -- messages ------------------------------------------------------------------------------------


async def test_an_event_from_a_service_its_handler_does_not_take_is_dead_lettered_at_once():
    service = atoll.Service("stats")
    counted: list[int] = []

    @service.on(RunRecorded, policy=allow(services=["runs"]))
    async def count(event: RunRecorded, identity: atoll.Identity) -> None:
        counted.append(event.meters)

    async with atoll.testing.run(service) as harness:
        broker = await harness.container.aget(Broker)
        await broker.publish(seal(RunRecorded(5000), headers={"sender": "runs"}))
        await broker.publish(
            seal(RunRecorded(1), headers={"sender": "intruder", "subject": "mallory"})
        )
        dead = await broker.dead_letters("stats")
    assert counted == [5000]
    [letter] = dead
    assert letter.deliveries == 1  # refused once is refused: not delivered again
    assert letter.error.endswith(
        "stats.count takes it from the service runs only; it was sent by intruder for mallory"
    )


async def test_an_event_handled_in_the_process_is_judged_as_its_caller():
    service = atoll.Service("runs")
    seen: list[str] = []

    @service.command(RecordRun)
    async def record(command: RecordRun, events: atoll.Events) -> None:
        events.add(RunRecorded(command.meters))

    @service.on(RunRecorded, policy=allow("runs:write"))
    async def recorded(event: RunRecorded, identity: atoll.Identity) -> None:
        seen.append(identity.subject)

    async with atoll.testing.run(service, argv=jwt_argv()) as harness:
        with harness.acting_as(identity_of("writer")):
            await harness.send(RecordRun(5))
        with harness.acting_as(identity_of("reader")):
            await harness.send(RecordRun(6))  # its event's handler refuses the reader
    assert seen == ["ada"]


# -- the policy itself ---------------------------------------------------------------------------


async def test_every_condition_of_a_policy_must_hold():
    policy = allow("a", "b", roles=["coach"], claims={"team": "red", "groups": "x"})
    full = identity_of_claims(
        {"sub": "u", "scope": "a b c", "roles": ["coach"], "team": "red", "groups": ["x", "y"]}
    )
    assert await policy.permits(full)
    for missing in (
        {"scope": "a"},
        {"roles": []},
        {"team": "blue"},
        {"groups": ["y"]},
    ):
        claims = {"sub": "u", "scope": "a b c", "roles": ["coach"], "team": "red",
                  "groups": ["x", "y"], **missing}  # fmt: skip
        assert not await policy.permits(identity_of_claims(claims)), missing


async def test_a_check_may_be_async_and_must_return_true_itself():
    async def is_ada(identity: Identity) -> bool:
        return identity.subject == "ada"

    ada, bo = identity_of("writer"), identity_of("reader")
    assert await allow(check=is_ada).permits(ada)
    assert not await allow(check=is_ada).permits(bo)
    assert not await allow(check=lambda identity: "yes").permits(ada)  # truthy is not True


async def test_services_are_the_calling_service_or_the_messages_sender():
    policy = allow(services=["stats"])
    assert await policy.permits(identity_of("stats"))
    assert not await policy.permits(identity_of("reader"))  # a user named like it or not
    assert await policy.permits(ANONYMOUS, sender="stats")
    assert not await policy.permits(identity_of("stats"), sender="runs")


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        ({"roles": "admin"}, "roles is a list of names"),
        ({"services": ["runs", ""]}, "services holds ''"),
        ({"check": "yes"}, "check must be a function"),
    ],
)
def test_a_policy_that_cannot_mean_anything_is_refused_when_declared(arguments, said):
    with pytest.raises(ConfigError, match=said):
        allow(**arguments)


def test_a_policy_says_what_it_asks_for():
    assert allow("runs:read", roles=["admin"]).describe() == "scopes runs:read; roles admin"
    assert allow().describe() == "an identity"
    assert "policy=" in DENY.describe()


async def test_a_bus_with_a_policy_and_nothing_to_judge_it_does_not_start():
    async def guarded() -> None: ...

    bus = MessageBus()
    bus.add(Handler(guarded, HandlerKind.RPC, "guarded", "runs", policy=allow("x")))
    registry = Registry()
    bus.register(registry)
    with pytest.raises(ConfigError, match="declares who may run it, but nothing judges it"):
        bus.bind(registry.build())


async def test_openapi_lists_403_only_for_operations_a_policy_judges(served):
    harness, _ = served
    document = (await harness.client.get("/openapi.json")).json()
    assert "403" in document["paths"]["/runs"]["get"]["responses"]
    assert "403" in document["paths"]["/record-run"]["post"]["responses"]


async def test_openapi_lists_no_403_without_a_policy():
    service = atoll.Service("runs")

    @service.get("/open")
    async def open_route() -> str:
        return "open"

    async with atoll.testing.run(service, argv=jwt_argv()) as harness:
        document = (await harness.client.get("/openapi.json")).json()
    assert "403" not in document["paths"]["/open"]["get"]["responses"]


def test_the_refusals_are_the_errors_their_names_say():
    assert issubclass(ForbiddenError, PermissionError)
    assert not issubclass(ForbiddenError, UnauthenticatedError)


# -- object-level rules: a check of the call, in its scope ---------------------------------------


class UnknownRunError(LookupError):
    """No run has this id (or none the caller may know of)."""


class RunsReader:
    """Who owns each run; a request-scoped dependency, as a repository would be."""

    owners: ClassVar[dict[int, str]] = {1: "ada", 2: "bo"}
    made = 0

    def __init__(self) -> None:
        RunsReader.made += 1

    def owner(self, run_id: int) -> str | None:
        return self.owners.get(run_id)


@dataclass(frozen=True)
class DeleteRun:
    run_id: int


async def runner_owns_run(run_id: int, identity: Identity, runs: RunsReader) -> bool:
    """The run's owner may; anyone else is told it does not exist, as for a missing run."""
    if runs.owner(run_id) != identity.subject:
        raise UnknownRunError(f"no run {run_id}")
    return True


def owned_runs(deleted: list[int]) -> atoll.Service:
    service = atoll.Service("runs")
    service.error(UnknownRunError, status=404, code=-32040)
    service.provide(RunsReader, scope=atoll.Scope.REQUEST)

    @service.get("/runs/{run_id}", policy=allow(check=runner_owns_run))
    async def get_run(run_id: int, runs: RunsReader) -> dict[str, object]:
        owner = runs.owner(run_id)
        if owner is None:
            raise UnknownRunError(f"no run {run_id}")
        return {"id": run_id, "owner": owner}

    @service.command(DeleteRun, policy=allow(check=runner_owns_run))
    async def delete_run(command: DeleteRun) -> None:
        deleted.append(command.run_id)

    return service


async def test_an_object_level_rule_answers_someone_elses_run_as_one_that_does_not_exist():
    deleted: list[int] = []
    async with atoll.testing.run(owned_runs(deleted), argv=jwt_argv()) as harness:
        ada = headers_of("writer")  # sub "ada", who owns run 1
        own = await harness.client.get("/runs/1", headers=ada)
        others = await harness.client.get("/runs/2", headers=ada)
        missing = await harness.client.get("/runs/3", headers=ada)
        body = {"jsonrpc": "2.0", "method": "delete_run", "params": {"run_id": 2}, "id": 1}
        rpc_other = (await harness.client.post("/rpc", json=body, headers=ada)).json()
        body["params"] = {"run_id": 1}
        rpc_own = (await harness.client.post("/rpc", json=body, headers=ada)).json()
    assert (own.status_code, own.json()) == (200, {"id": 1, "owner": "ada"})
    assert others.status_code == missing.status_code == 404
    assert others.json()["detail"] == "no run 2"
    assert {k: v for k, v in others.json().items() if k not in {"detail", "instance"}} == {
        k: v for k, v in missing.json().items() if k not in {"detail", "instance"}
    }
    assert rpc_other["error"]["code"] == -32040  # the command's field, read by the check
    assert "result" in rpc_own
    assert deleted == [1]  # the handler never ran for someone else's run


async def test_a_check_shares_the_calls_scope_with_its_handler():
    RunsReader.made = 0
    async with atoll.testing.run(owned_runs([]), argv=jwt_argv()) as harness:
        assert (await harness.client.get("/runs/1", headers=headers_of("writer"))).is_success
    assert RunsReader.made == 1  # one reader for the check and the handler


async def test_a_check_asking_for_what_nothing_gives_is_refused_when_the_service_starts():
    async def strange(nothing_of_the_kind: int) -> bool:
        return True

    service = atoll.Service("runs")

    @service.rpc(policy=allow(check=strange))
    async def guarded() -> str:
        return "x"

    with pytest.raises(ConfigError, match="asks for 'nothing_of_the_kind', which a call of it"):
        async with atoll.testing.run(service, argv=jwt_argv()):
            pass


# -- mass assignment: fields only the server sets ------------------------------------------------


@dataclass(frozen=True)
class LogRun:
    meters: int
    owner: str = ""
    """Set by the server, from the caller's identity."""


def logging_service(logged: list[tuple[int, str]]) -> atoll.Service:
    service = atoll.Service("runs")

    @service.command(LogRun, policy=allow(server_owned=["owner"]))
    async def log_run(command: LogRun, identity: Identity) -> str:
        logged.append((command.meters, identity.subject))
        return identity.subject

    return service


async def test_a_caller_setting_a_server_owned_field_is_refused_naming_it_on_each_transport():
    logged: list[tuple[int, str]] = []
    async with atoll.testing.run(logging_service(logged), argv=jwt_argv()) as harness:
        ada = headers_of("writer")
        rest = await harness.client.post("/log-run", json={"meters": 5, "owner": "bo"}, headers=ada)
        body = {"jsonrpc": "2.0", "method": "log_run", "params": {"meters": 5, "owner": "bo"}}
        rpc = (await harness.client.post("/rpc", json={**body, "id": 1}, headers=ada)).json()
        with harness.acting_as(identity_of("writer")):
            with pytest.raises(atoll.errors.ServerOwnedFieldError) as in_process:
                await harness.send(LogRun(5, owner="bo"))
            assert await harness.send(LogRun(7)) == "ada"  # left out: served
        served = await harness.client.post("/log-run", json={"meters": 9}, headers=ada)
    assert (rest.status_code, rest.json()["detail"]) == (
        422,
        "owner is set by the server, not by the caller: leave it out of the call of log_run",
    )
    assert (rpc["error"]["code"], rpc["error"]["message"]) == (-32602, "Invalid params")
    assert rpc["error"]["data"]["detail"].startswith("owner is set by the server")
    assert in_process.value.field == "owner"
    assert (served.status_code, served.json()) == (200, "ada")
    assert logged == [(7, "ada"), (9, "ada")]  # refused calls never reached the handler


async def test_the_api_documents_leave_server_owned_fields_out_of_the_request():
    async with atoll.testing.run(logging_service([]), argv=jwt_argv()) as harness:
        document = (await harness.client.get("/openapi.json")).json()
    body = document["paths"]["/log-run"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"] == {"meters": {"type": "integer"}}
    assert body["schema"]["additionalProperties"] is False
    # The type's own schema, which another operation may name, keeps the field.
    assert "owner" in document["components"]["schemas"]["LogRun"]["properties"]


@pytest.mark.parametrize(
    ("owned", "said"),
    [(["nobody"], "names 'nobody', which is no field"), (["meters"], "'meters' .* has no default")],
)
async def test_server_owned_fields_that_cannot_work_are_refused_at_start(owned, said):
    service = atoll.Service("runs")

    @service.command(LogRun, policy=allow(server_owned=owned))
    async def log_run(command: LogRun) -> None: ...

    with pytest.raises(ConfigError, match=said):
        async with atoll.testing.run(service, argv=jwt_argv()):
            pass


# -- who may call, as the documents and `atoll routes` say ---------------------------------------


async def test_openapi_and_openrpc_say_who_may_call_each_operation(served):
    harness, _ = served
    openapi = (await harness.client.get("/openapi.json")).json()
    discover = {"jsonrpc": "2.0", "method": "rpc.discover", "id": 1}
    openrpc = (await harness.client.post("/rpc", json=discover)).json()["result"]
    assert openapi["paths"]["/runs"]["get"]["x-atoll-policy"] == "scopes runs:read"
    by_name = {method["name"]: method for method in openrpc["methods"]}
    assert by_name["close_week"]["x-atoll-policy"] == "roles admin"
    assert by_name["for_stats"]["x-atoll-policy"] == "the service stats"
    assert "x-atoll-policy" not in by_name["open_to_all"]


def test_atoll_routes_says_who_may_call_each_route_and_method():
    from atoll.cli.routes import describe_routes  # noqa: PLC0415 - the command's own function
    from atoll.service.composition import compose_target  # noqa: PLC0415

    service = club()
    text = describe_routes(compose_target(service, serve=False), [service])
    lines = {line.split()[0] + " " + line.split()[1]: line for line in text.splitlines() if line}
    assert lines["GET /runs"].endswith("scopes runs:read"), text
    section = text.split("JSON-RPC methods\n")[1].split("\n\n")[0]
    rpc = {line.split()[0]: line for line in section.splitlines()}
    assert rpc["close_week"].endswith("roles admin"), text
    assert rpc["open_to_all"].endswith("str"), text  # no policy: nothing said
