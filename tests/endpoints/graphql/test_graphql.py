"""GraphQL over HTTP: a schema generated from the handlers, run through the bus, errors told once.

One service (``runs``) with queries, commands, JSON-RPC methods and REST routes declares
``service.graphql()``; each test sends documents to ``/graphql`` through its ASGI app.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from dataclasses import dataclass

import pytest

import atoll
from atoll.errors import ConfigError
from atoll.testing import run

WHEN = dt.datetime(2024, 5, 1, 7, 30, tzinfo=dt.UTC)


class Kind(enum.Enum):
    """Where a run went."""

    ROAD = "road"
    TRAIL = "trail"


@dataclass(frozen=True)
class Split:
    meters: int
    seconds: int


@dataclass(frozen=True)
class Run:
    """A run, as its runner recorded it."""

    id: int
    meters: float
    started_at: dt.datetime
    kind: Kind
    splits: list[Split]
    note: str | None = None


@dataclass(frozen=True)
class RecordRun:
    """Record a run."""

    meters: float
    kind: Kind = Kind.ROAD
    splits: list[Split] | None = None

    def __post_init__(self) -> None:
        if self.meters <= 0:
            raise ValueError("meters must be above 0")


@dataclass(frozen=True)
class RunsOf:
    """The runs of a kind."""

    kind: Kind


class RunNotFoundError(Exception):
    """No run has that id."""


def runs_service() -> atoll.Service:
    service = atoll.Service("runs")
    kept: list[Run] = [Run(1, 5000.0, WHEN, Kind.ROAD, [Split(1000, 300)])]

    @service.rpc
    @service.get("/runs/{run_id}")
    async def get_run(run_id: int) -> Run:
        """A run, by its id."""
        for found in kept:
            if found.id == run_id:
                return found
        raise RunNotFoundError(f"no run has the id {run_id}")

    @service.query(RunsOf)
    async def runs_of(query: RunsOf) -> list[Run]:
        return [found for found in kept if found.kind is query.kind]

    @service.command(RecordRun)
    async def record_run(command: RecordRun) -> Run:
        made = Run(len(kept) + 1, command.meters, WHEN, command.kind, list(command.splits or []))
        kept.append(made)
        return made

    @service.rpc
    async def forget_all() -> None:
        kept.clear()

    @service.rpc
    async def crash() -> int:
        raise RuntimeError("the secret table exploded")

    @service.rpc
    async def count(at_least: int = 0, labels: list[str] | None = None) -> int:
        return max(len(kept), at_least) + len(labels or [])

    service.error(RunNotFoundError, status=404)
    service.graphql(queries=["count"])
    return service


@pytest.fixture
async def runs():
    async with run(runs_service()) as harness:
        yield harness


async def ask(harness, query: str, variables: dict | None = None, **more) -> dict:
    body = {"query": query, **({"variables": variables} if variables else {}), **more}
    answer = await harness.client.post("/graphql", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    return answer.json()


# -- the schema ---------------------------------------------------------------------------------


async def test_queries_and_get_routes_are_query_fields_and_the_rest_mutations(runs):
    sdl = await schema_of(runs)
    assert "type Query {" in sdl
    query = section(sdl, "type Query")
    mutation = section(sdl, "type Mutation")
    assert "getRun(runId: Int!): Run\n" in query
    assert "runsOf(kind: Kind!): [Run!]\n" in query
    assert "count(atLeast: Int! = 0, labels: [String!]): Int\n" in query  # named in queries=
    assert "recordRun(meters: Float!, kind: Kind! = ROAD, splits: [SplitInput!]): Run\n" in mutation
    assert "forgetAll: Boolean\n" in mutation
    assert "crash: Int\n" in mutation


async def test_types_are_made_from_the_dataclasses_with_their_docstrings(runs):
    sdl = await schema_of(runs)
    assert '"""A run, as its runner recorded it."""\ntype Run {' in sdl
    run_type = section(sdl, "type Run ")
    for line in (
        "id: Int!",
        "meters: Float!",
        "startedAt: DateTime!",
        "kind: Kind!",
        "splits: [Split!]!",
        "note: String",
    ):
        assert line in run_type
    assert "input SplitInput {" in sdl
    assert '"""Where a run went."""\nenum Kind {\n  ROAD\n  TRAIL\n}' in sdl
    assert '"""A run, by its id."""\n  getRun' in sdl


async def schema_of(harness) -> str:
    from atoll.endpoints.graphql.http import GraphQLServing  # noqa: PLC0415 - the tests' own

    serving = harness.container.get(GraphQLServing)
    return serving.endpoint.engine.sdl


def section(sdl: str, start: str) -> str:
    begun = sdl.index(start)
    return sdl[begun : sdl.index("}", begun)]


# -- running documents --------------------------------------------------------------------------


async def test_a_query_answers_the_fields_it_selects(runs):
    answer = await ask(runs, "{ getRun(runId: 1) { id meters startedAt kind splits { meters } } }")
    assert answer == {
        "data": {
            "getRun": {
                "id": 1,
                "meters": 5000.0,
                "startedAt": "2024-05-01T07:30:00+00:00",
                "kind": "ROAD",
                "splits": [{"meters": 1000}],
            }
        }
    }


async def test_a_mutation_takes_variables_enums_and_input_objects(runs):
    answer = await ask(
        runs,
        "mutation Record($meters: Float!, $splits: [SplitInput!]) {"
        " recordRun(meters: $meters, kind: TRAIL, splits: $splits)"
        " { id kind splits { seconds } } }",
        {"meters": 42.5, "splits": [{"meters": 1000, "seconds": 280}]},
    )
    assert answer == {
        "data": {"recordRun": {"id": 2, "kind": "TRAIL", "splits": [{"seconds": 280}]}}
    }
    listed = await ask(runs, "{ runsOf(kind: TRAIL) { id meters } }")
    assert listed == {"data": {"runsOf": [{"id": 2, "meters": 42.5}]}}


async def test_a_handler_returning_none_answers_true(runs):
    assert await ask(runs, "mutation { forgetAll }") == {"data": {"forgetAll": True}}
    assert await ask(runs, "{ count }") == {"data": {"count": 0}}


async def test_optional_arguments_take_the_handlers_defaults(runs):
    answer = await ask(runs, '{ a: count b: count(atLeast: 5) c: count(labels: ["x", "y"]) }')
    assert answer == {"data": {"a": 1, "b": 5, "c": 3}}


async def test_the_operation_is_chosen_by_name(runs):
    document = "query One { getRun(runId: 1) { id } } query Two { count }"
    answer = await ask(runs, document, operationName="Two")
    assert answer == {"data": {"count": 1}}


async def test_a_get_request_runs_a_query(runs):
    answer = await runs.client.get(
        "/graphql",
        params={
            "query": "query($id: Int!) { getRun(runId: $id) { id } }",
            "variables": '{"id": 1}',
        },
    )
    assert answer.status_code == 200
    assert answer.json() == {"data": {"getRun": {"id": 1}}}


async def test_a_get_request_never_runs_a_mutation(runs):
    answer = await runs.client.get("/graphql", params={"query": "mutation { forgetAll }"})
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    assert answer.json()["errors"][0]["message"] == "a mutation is sent with POST, not GET"
    assert await ask(runs, "{ count }") == {"data": {"count": 1}}  # nothing was forgotten


async def test_a_document_may_come_as_application_graphql(runs):
    answer = await runs.client.post(
        "/graphql", content=b"{ count }", headers={"content-type": "application/graphql"}
    )
    assert answer.json() == {"data": {"count": 1}}


# -- errors -------------------------------------------------------------------------------------


async def test_a_declared_error_is_told_with_its_code_and_detail(runs):
    answer = await ask(runs, "{ getRun(runId: 9) { id } }")
    assert answer["data"] == {"getRun": None}
    (error,) = answer["errors"]
    assert error["message"] == "no run has the id 9"
    assert error["path"] == ["getRun"]
    assert error["locations"] == [{"line": 1, "column": 3}]
    assert error["extensions"] == {
        "code": "NOT_FOUND",
        "title": "run not found",
        "type": "RunNotFoundError",
    }


async def test_one_failing_field_is_null_and_the_others_answer(runs):
    answer = await ask(runs, "{ missing: getRun(runId: 9) { id } here: count }")
    assert answer["data"] == {"missing": None, "here": 1}
    (error,) = answer["errors"]
    assert error["path"] == ["missing"]


async def test_an_unexpected_error_is_logged_and_tells_only_a_correlation_id(runs, caplog):
    with caplog.at_level(logging.ERROR, logger="atoll.graphql"):
        answer = await ask(runs, "mutation { crash }")
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "secret" not in str(answer)
    correlation = error["extensions"]["correlationId"]
    (record,) = [r for r in caplog.records if r.name == "atoll.graphql"]
    assert correlation in record.getMessage()
    assert "the secret table exploded" in str(record.exc_info[1])


async def test_a_message_refusing_its_values_is_bad_user_input(runs):
    answer = await ask(runs, "mutation { recordRun(meters: -1) { id } }")
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "meters must be above 0" in error["message"]


async def test_a_document_that_does_not_parse_or_validate_is_refused_before_it_runs(runs):
    broken = await ask(runs, "{ getRun(runId: 1) { id }")
    assert broken["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert "data" not in broken
    unknown = await ask(runs, "{ getRun(runId: 1) { id pace } }")
    (error,) = unknown["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert error["message"] == "Cannot query field 'pace' on type 'Run'."


async def test_a_variable_of_the_wrong_type_is_bad_user_input(runs):
    answer = await ask(runs, "query($id: Int!) { getRun(runId: $id) { id } }", {"id": "one"})
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "data" not in answer


async def test_a_client_accepting_graphql_responses_gets_400_for_a_refused_document(runs):
    media = "application/graphql-response+json"
    answer = await runs.client.post(
        "/graphql", json={"query": "{ nothing }"}, headers={"accept": media}
    )
    assert answer.status_code == 400
    assert answer.headers["content-type"] == media
    ran = await runs.client.post(
        "/graphql", json={"query": "{ getRun(runId: 9) { id } }"}, headers={"accept": media}
    )
    assert ran.status_code == 200  # it ran: a field's error is no refusal of the request


@pytest.mark.parametrize(
    ("request_kwargs", "status", "detail"),
    [
        (
            {"content": b"not json", "headers": {"content-type": "application/json"}},
            400,
            "not JSON",
        ),
        ({"json": {"variables": {}}}, 400, "no GraphQL request"),
        ({"content": b"x", "headers": {"content-type": "text/plain"}}, 415, "not text/plain"),
    ],
)
async def test_a_request_that_is_no_graphql_request_gets_a_problem(
    runs, request_kwargs, status, detail
):
    answer = await runs.client.post("/graphql", **request_kwargs)
    assert answer.status_code == status
    assert detail in answer.json()["detail"]


async def test_other_methods_are_refused(runs):
    answer = await runs.client.put("/graphql", json={"query": "{ count }"})
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, POST"


# -- limits -------------------------------------------------------------------------------------


async def test_a_document_nesting_deeper_than_the_limit_is_refused():
    async with run(runs_service(), argv=["--graphql-max-depth", "2"]) as harness:
        fine = await ask(harness, "{ getRun(runId: 1) { id } }")
        deep = await ask(harness, "{ getRun(runId: 1) { splits { meters } } }")
        fragment = await ask(
            harness,
            "{ getRun(runId: 1) { ...F } } fragment F on Run { splits { meters } }",
        )
    assert fine == {"data": {"getRun": {"id": 1}}}
    for refused in (deep, fragment):
        (error,) = refused["errors"]
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert error["message"] == (
            "the document's selections nest 3 deep; the service takes at most 2 "
            "(--graphql-max-depth)"
        )


async def test_a_document_selecting_more_fields_than_the_limit_is_refused():
    async with run(runs_service(), argv=["--graphql-max-fields", "3"]) as harness:
        fine = await ask(harness, "{ getRun(runId: 1) { id meters } }")
        wide = await ask(harness, "{ getRun(runId: 1) { id meters kind } }")
    assert "errors" not in fine
    assert wide["errors"][0]["message"] == (
        "the document selects 4 fields; the service takes at most 3 (--graphql-max-fields)"
    )


async def test_a_document_longer_than_the_limit_is_refused():
    async with run(runs_service(), argv=["--graphql-max-document", "20"]) as harness:
        answer = await ask(harness, "{ getRun(runId: 1) { id } }")
    assert answer["errors"][0]["message"] == (
        "the document holds 27 bytes; the service takes at most 20 (--graphql-max-document)"
    )


async def test_introspection_can_be_refused():
    document = "{ __schema { queryType { name } } }"
    async with run(runs_service()) as harness:
        allowed = await ask(harness, document)
    async with run(runs_service(), argv=["--no-graphql-introspection"]) as harness:
        refused = await ask(harness, document)
    assert allowed == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    assert refused["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "introspection" in refused["errors"][0]["message"]


async def test_the_path_is_an_option():
    async with run(runs_service(), argv=["--graphql-path", "/gql"]) as harness:
        answer = await harness.client.post("/gql", json={"query": "{ count }"})
        gone = await harness.client.post("/graphql", json={"query": "{ count }"})
    assert answer.json() == {"data": {"count": 1}}
    assert gone.status_code == 404


# -- declaring --------------------------------------------------------------------------------


def test_a_service_declares_its_schema_once():
    service = atoll.Service("twice")
    service.graphql()
    with pytest.raises(ConfigError, match="declared its GraphQL schema already"):
        service.graphql()


def test_queries_name_methods_by_name_or_function():
    service = atoll.Service("named")

    @service.rpc
    async def total() -> int:
        return 1

    with pytest.raises(
        ConfigError, match="is no JSON-RPC method or subscription of service 'named'"
    ):
        service.graphql(queries=[print])
    service.graphql(queries=[total])
    assert service.graphql_declaration is not None
    assert service.graphql_declaration.queries == frozenset({"total"})


async def test_a_type_graphql_cannot_state_is_refused_at_start():
    service = atoll.Service("odd")

    @service.rpc
    async def raw() -> bytes:
        return b""

    service.graphql()
    with pytest.raises(ConfigError, match=r"Mutation.raw .* its result .* is of type bytes"):
        async with run(service):
            pass


async def test_a_service_without_graphql_serves_no_endpoint():
    service = atoll.Service("plain")

    @service.rpc
    async def ping() -> str:
        return "pong"

    async with run(service) as harness:
        answer = await harness.client.post("/graphql", json={"query": "{ ping }"})
    assert answer.status_code == 404


@dataclass(frozen=True)
class Enter:
    name: str
    owner: str = ""


async def test_a_field_takes_no_argument_for_what_the_server_fills():
    service = atoll.Service("owned")

    @service.command(Enter, policy=atoll.allow(server_owned=["owner"]))
    async def enter(command: Enter) -> str:
        return f"{command.name} by {command.owner or 'the server'}"

    service.graphql()
    async with run(service) as harness:
        sdl = await schema_of(harness)
        refused = await ask(harness, 'mutation { enter(name: "ada", owner: "eve") }')
    assert "enter(name: String!): String" in sdl
    assert refused["errors"][0]["message"] == "Unknown argument 'owner' on field 'Mutation.enter'."
