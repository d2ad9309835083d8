"""The OpenAPI 3.1 document: every route, its inputs, its responses, the JSON-RPC operation.

``openapi-spec-validator`` is not among the development dependencies, so the document is
checked against the rules of the OpenAPI 3.1 specification that atoll's generator could break:
unique operation ids, every path parameter declared and required, every ``$ref`` resolving,
every response described.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated

import httpx
import msgspec
import pytest

import atoll
from atoll.endpoints.http.asgi import HttpApp
from atoll.endpoints.http.openapi import openapi_document
from atoll.kernel.entrypoint import load_config, running
from atoll.service.composition import compose

OPERATION_KEYS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@dataclass(frozen=True)
class NewRun:
    meters: float
    seconds: int


@dataclass(frozen=True)
class RunView:
    run_id: int
    meters: float


@dataclass(frozen=True)
class RecordRun:
    user_id: int
    meters: float


@dataclass(frozen=True)
class RenameRun:
    run_id: int
    name: str


@dataclass(frozen=True)
class RunsOf:
    user_id: int
    limit: int = 10


class RunNotFoundError(Exception):
    pass


class RunClosedError(Exception):
    pass


def build(name: str = "runs") -> atoll.Service:
    service = atoll.Service(name, version="1.2.3", description="Runs of the club.")
    service.error(RunNotFoundError, status=404)
    service.error(RunClosedError, status=409)

    @service.get("/runs/{run_id}")
    async def get_run(run_id: int, verbose: bool = False) -> RunView:
        """Read one run.

        The run as recorded, in meters.
        """
        return RunView(run_id, 1.0)

    @service.post("/users/{user}/runs", status=201)
    async def add_run(user: str, run: NewRun) -> RunView:
        return RunView(1, run.meters)

    @service.delete("/runs/{run_id}")
    async def delete_run(run_id: int) -> None: ...

    @service.command(RecordRun)
    async def record_run(cmd: RecordRun) -> int:
        return 1

    @service.command(RenameRun, path="/runs/{run_id}/name")
    async def rename_run(cmd: RenameRun) -> None: ...

    @service.query(RunsOf)
    async def runs_of(query: RunsOf) -> list[RunView]:
        return []

    return service


@contextlib.asynccontextmanager
async def http_app_for(*services, argv=()):
    app = compose(services[0].name, list(services), serve=False)
    config = load_config(app, list(argv), {})
    async with running(app, config) as container:
        yield await container.aget(HttpApp)


@contextlib.asynccontextmanager
async def client_for(*services, argv=()):
    async with http_app_for(*services, argv=argv) as http:
        transport = httpx.ASGITransport(app=http)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def fetch_document(*services, argv=()):
    async with client_for(*services, argv=argv) as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json()


@pytest.fixture
async def document():
    return await fetch_document(build())


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(document, ref):
    assert ref.startswith("#/"), ref
    node = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def check_openapi_31(document):
    """The rules of OpenAPI 3.1 that a generated document could break."""
    assert document["openapi"] == "3.1.0"
    assert isinstance(document["info"]["title"], str)
    assert isinstance(document["info"]["version"], str)
    ids = []
    for path, method, operation in operations(document):
        assert path.startswith("/")
        assert method in OPERATION_KEYS
        ids.append(operation["operationId"])
        declared = {(p["name"], p["in"]) for p in operation.get("parameters", [])}
        assert len(declared) == len(operation.get("parameters", [])), "unique parameters"
        for name in re.findall(r"{([^}]+)}", path):
            assert (name, "path") in declared, f"{method} {path} does not declare {name}"
        for parameter in operation.get("parameters", []):
            assert parameter["in"] in {"path", "query", "header", "cookie"}
            assert "schema" in parameter
            if parameter["in"] == "path":
                assert parameter["required"] is True
        assert operation["responses"]
        for status, response in operation["responses"].items():
            assert re.fullmatch(r"[1-5]\d\d", status)
            assert isinstance(response["description"], str)
    assert len(ids) == len(set(ids)), f"operation ids must be unique: {ids}"
    for ref in refs(document):
        assert ref.startswith("#/components/schemas/")
        resolve(document, ref)


async def test_the_document_is_valid_openapi_3_1(document):
    check_openapi_31(document)
    assert document["info"] == {
        "title": "runs",
        "version": "1.2.3",
        "description": "Runs of the club.",
    }


async def test_every_route_is_an_operation_named_after_its_handler(document):
    found = {(path, method): op["operationId"] for path, method, op in operations(document)}
    assert found == {
        ("/runs/{run_id}", "get"): "get_run",
        ("/runs/{run_id}", "delete"): "delete_run",
        ("/users/{user}/runs", "post"): "add_run",
        ("/record-run", "post"): "record_run",
        ("/runs/{run_id}/name", "post"): "rename_run",
        ("/runs-of", "get"): "runs_of",
        ("/rpc", "post"): "jsonrpc",
    }


async def test_the_docstring_gives_summary_and_description(document):
    operation = document["paths"]["/runs/{run_id}"]["get"]
    assert operation["summary"] == "Read one run."
    assert operation["description"] == "The run as recorded, in meters."
    assert operation["tags"] == ["runs"]


INT64 = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}


async def test_path_parameters_are_required_and_query_parameters_say_whether_they_are(document):
    operation = document["paths"]["/runs/{run_id}"]["get"]
    assert operation["parameters"] == [
        {"name": "run_id", "in": "path", "required": True, "schema": INT64},
        {"name": "verbose", "in": "query", "required": False, "schema": {"type": "boolean"}},
    ]


async def test_an_integer_parameter_is_documented_with_the_64_bits_the_server_holds_it_to(
    document,
):
    (user_id, limit) = document["paths"]["/runs-of"]["get"]["parameters"]
    assert (user_id["schema"], limit["schema"]) == (INT64, INT64)
    async with client_for(build()) as client:
        path = await client.get(f"/runs/{2**63}")
        query = await client.get("/runs-of", params={"user_id": 2**63})
    assert (path.status_code, query.status_code) == (422, 422)


async def test_a_query_messages_fields_are_query_parameters(document):
    operation = document["paths"]["/runs-of"]["get"]
    assert [(p["name"], p["in"], p["required"]) for p in operation["parameters"]] == [
        ("user_id", "query", True),
        ("limit", "query", False),
    ]
    assert "requestBody" not in operation


async def test_request_bodies_refer_to_their_schema_in_the_components(document):
    body = document["paths"]["/users/{user}/runs"]["post"]["requestBody"]
    assert body["required"] is True
    schema = body["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/NewRun"}
    assert resolve(document, schema["$ref"])["required"] == ["meters", "seconds"]
    command = document["paths"]["/record-run"]["post"]["requestBody"]
    ref = command["content"]["application/json"]["schema"]["$ref"]
    assert set(resolve(document, ref)["properties"]) == {"user_id", "meters"}


async def test_a_request_bodys_object_has_no_other_members_as_the_server_refuses_them(document):
    for path in ("/users/{user}/runs", "/record-run", "/runs/{run_id}/name"):
        body = document["paths"][path]["post"]["requestBody"]
        ref = body["content"]["application/json"]["schema"]["$ref"]
        assert resolve(document, ref)["additionalProperties"] is False, path
    assert "additionalProperties" not in resolve(document, "#/components/schemas/RunView")
    async with client_for(build()) as client:
        refused = await client.post("/record-run", json={"user_id": 1, "meters": 2, "x": 0})
    assert refused.status_code == 422
    assert "unknown field `x`" in refused.json()["detail"]


@dataclass(frozen=True)
class Lap:
    at: dt.datetime
    laps: list[dt.datetime]
    ended: dt.datetime | None = None


@dataclass(frozen=True)
class Session:
    lap: Lap
    split: dt.timedelta
    marked: Annotated[dt.datetime, msgspec.Meta(tz=True)]


async def test_a_datetime_is_documented_as_an_rfc_3339_date_time_as_the_server_reads_one():
    service = atoll.Service("laps")

    @service.post("/sessions")
    async def add(session: Session, since: dt.datetime | None = None) -> list[Lap]:
        return [session.lap]

    @service.get("/laps")
    async def lap(at: dt.datetime) -> dict[str, Lap]:
        return {}

    document = await fetch_document(service)
    date_time = {"type": "string", "format": "date-time"}
    lap_schema = resolve(document, "#/components/schemas/Lap")["properties"]
    assert lap_schema["at"] == date_time
    assert lap_schema["laps"]["items"] == date_time
    assert lap_schema["ended"]["anyOf"] == [date_time, {"type": "null"}]
    session = resolve(document, "#/components/schemas/Session")["properties"]
    assert session["split"] == {"type": "string", "format": "duration"}
    assert session["marked"] == date_time
    parameters = document["paths"]["/sessions"]["post"]["parameters"]
    (since,) = [parameter for parameter in parameters if parameter["name"] == "since"]
    assert since["schema"]["anyOf"][0] == date_time
    (at,) = document["paths"]["/laps"]["get"]["parameters"]
    assert at["schema"] == date_time
    laps = document["paths"]["/laps"]["get"]["responses"]["200"]["content"]["application/json"]
    assert laps["schema"]["additionalProperties"] == {"$ref": "#/components/schemas/Lap"}
    async with client_for(service) as client:
        refused = await client.get("/laps", params={"at": "monday"})
        served = await client.get("/laps", params={"at": "2026-11-23T07:30:00Z"})
    assert refused.status_code == 422
    assert served.status_code == 200


async def test_a_commands_body_schema_leaves_out_the_fields_its_path_gives(document):
    operation = document["paths"]["/runs/{run_id}/name"]["post"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = resolve(document, ref)
    assert body["properties"] == {"name": {"type": "string"}}
    assert body["required"] == ["name"]


async def test_the_success_response_has_the_result_schema_and_the_routes_status(document):
    responses = document["paths"]["/users/{user}/runs"]["post"]["responses"]
    assert "200" not in responses
    assert responses["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RunView"
    }
    listing = document["paths"]["/runs-of"]["get"]["responses"]["200"]
    assert listing["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/RunView"},
    }


async def test_a_handler_returning_none_is_documented_as_204(document):
    responses = document["paths"]["/runs/{run_id}"]["delete"]["responses"]
    assert "content" not in responses["204"]
    assert "200" not in responses


async def test_every_operation_documents_422_500_and_the_declared_faults_as_problems(document):
    problem = {"$ref": "#/components/schemas/Problem"}
    for path, method, operation in operations(document):
        if path == "/rpc":
            continue
        for status in ("404", "409", "422", "500"):
            content = operation["responses"][status]["content"]
            assert content == {"application/problem+json": {"schema": problem}}, (path, method)
    schema = document["components"]["schemas"]["Problem"]
    assert {"correlation_id", "error_type"} <= set(schema["properties"])


async def test_the_json_rpc_endpoint_is_one_post_operation(document):
    operation = document["paths"]["/rpc"]["post"]
    assert operation["operationId"] == "jsonrpc"
    assert set(operation["responses"]) == {"200", "204"}
    assert "rpc.discover" in operation["description"]


async def test_the_json_rpc_operation_follows_its_path_option():
    document = await fetch_document(build(), argv=["--server-rpc-path", "/jsonrpc"])
    assert "/rpc" not in document["paths"]
    assert document["paths"]["/jsonrpc"]["post"]["operationId"] == "jsonrpc"


async def test_without_an_rpc_path_the_document_has_no_json_rpc_operation():
    async with http_app_for(build()) as http:
        document = openapi_document(http.api, http.endpoints, None)
    assert all(operation["operationId"] != "jsonrpc" for *_, operation in operations(document))
    check_openapi_31(document)


async def test_operation_ids_stay_unique_when_two_services_share_a_handler_name():
    other = atoll.Service("archive")

    @other.get("/archive/{run_id}")
    async def get_run(run_id: int) -> int:
        return run_id

    @other.get("/archive/{run_id}/again", name="runs.get_run")
    async def again(run_id: int) -> int:
        return run_id

    @other.get("/archive/rpc", name="jsonrpc")
    async def clash() -> int:
        return 0

    document = await fetch_document(build(), other)
    check_openapi_31(document)
    ids = {path: op["operationId"] for path, method, op in operations(document) if method == "get"}
    assert ids["/runs/{run_id}"] == "runs.get_run"
    assert ids["/archive/{run_id}"] == "archive.get_run"
    assert ids["/archive/{run_id}/again"] == "runs.get_run_2"
    assert ids["/archive/rpc"] == "jsonrpc_2"


async def test_posting_to_the_document_is_a_405():
    async with client_for(build()) as client:
        response = await client.post("/openapi.json", json={})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


class NoSuchRunnerError(LookupError):
    """No runner has this id."""


class FarTooFastError(ValueError):
    """A run faster than anyone runs."""


class WorldRecordError(FarTooFastError):
    """Faster than the world record: a FarTooFastError, found in the handler's module."""


def listed() -> atoll.Service:
    service = atoll.Service("runs")
    service.error(NoSuchRunnerError, status=404, code=-32004)
    service.error(FarTooFastError, status=422, code=-32002)

    @service.get("/runners/{runner_id}")
    async def runner(runner_id: int) -> str:
        """A runner's name, as ``name``.

        Raises:
            NoSuchRunnerError: no runner has this id.
        """
        raise NoSuchRunnerError(runner_id)

    @service.get("/fastest")
    async def fastest() -> str:
        """The fastest runner; says nothing of what it raises, so it may raise any."""
        return "ada"

    @service.get("/records/{meters}")
    async def record(meters: int) -> str:
        """The record over ``meters``.

        Raises:
            WorldRecordError: never, but it says so.
        """
        return str(meters)

    return service


async def test_an_operation_lists_only_the_errors_its_docstring_says_it_raises():
    document = await fetch_document(listed())
    paths = document["paths"]
    responses = {
        path: set(item["get"]["responses"]) for path, item in paths.items() if "get" in item
    }
    assert responses["/runners/{runner_id}"] == {"200", "404", "422", "500", "504"}
    assert responses["/fastest"] == {"200", "404", "422", "500", "504"}  # no Raises: every error
    # A subclass named in the handler's module counts for its base's rule.
    assert responses["/records/{meters}"] == {"200", "422", "500", "504"}


async def test_an_operation_without_input_answers_no_422_and_literals_are_code():
    service = atoll.Service("runs")

    @service.get("/ping")
    async def ping() -> str:
        """Answer ``pong``."""
        return "pong"

    document = await fetch_document(service)
    operation = document["paths"]["/ping"]["get"]
    assert set(operation["responses"]) == {"200", "500", "504"}
    assert operation["summary"] == "Answer `pong`."
