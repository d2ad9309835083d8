"""The ASGI app: dispatch, error handling, JSON-RPC over HTTP, the API page, mounts, lifespan."""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

import atoll
from atoll.endpoints.http.asgi import HttpApp
from atoll.errors import ConfigError
from atoll.kernel.entrypoint import load_config, running
from atoll.service.composition import compose
from tests.endpoints.asyncapi_checks import check

LIMIT = 128


@dataclass(frozen=True)
class RecordRun:
    user_id: int
    meters: float


class RunClosedError(Exception):
    pass


async def whoami(request):
    return JSONResponse(
        {"path": request.url.path, "root_path": request.scope["root_path"], "sub": "whoami"}
    )


legacy = Starlette(routes=[Route("/whoami", whoami)])


def build() -> atoll.Service:
    service = atoll.Service("runs", version="2.0")
    service.error(RunClosedError, status=409, title="run closed")
    service.mount("/legacy", legacy)

    @service.command(RecordRun)
    async def record_run(cmd: RecordRun) -> int:
        return cmd.user_id

    @service.get("/runs/{run_id}")
    async def get_run(run_id: int) -> int:
        return run_id

    @service.post("/runs/{run_id}/close")
    async def close_run(run_id: int) -> None:
        raise RunClosedError(f"run {run_id} was closed yesterday")

    @service.get("/crash")
    async def crash() -> None:
        raise RuntimeError("secret text")

    @service.rpc
    async def double(value: int) -> int:
        return 2 * value

    return service


@contextlib.asynccontextmanager
async def http_app_for(service, *argv):
    app = compose(service.name, [service], serve=False)
    config = load_config(app, list(argv), {})
    async with running(app, config) as container:
        yield await container.aget(HttpApp)


@contextlib.asynccontextmanager
async def client_for(service, *argv, root_path=""):
    async with http_app_for(service, *argv) as http:
        transport = httpx.ASGITransport(app=http, root_path=root_path)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
async def client():
    async with client_for(build(), "--server-max-body", str(LIMIT)) as client:
        yield client


@pytest.fixture
async def http_app():
    async with http_app_for(build(), "--server-max-body", str(LIMIT)) as http:
        yield http


def http_scope(method, path, headers=(), root_path=""):
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"host", b"test"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }


class Exchange:
    """A raw ASGI exchange: the request's messages in, the response's messages out."""

    def __init__(self, *incoming):
        self.incoming = list(incoming)
        self.sent = []

    async def receive(self):
        return self.incoming.pop(0)

    async def send(self, message):
        self.sent.append(message)

    @property
    def status(self):
        return self.sent[0]["status"]

    @property
    def headers(self):
        return dict(self.sent[0]["headers"])

    @property
    def problem(self):
        return json.loads(self.sent[1]["body"])


def chunks(*parts):
    *first, last = parts
    return [
        *({"type": "http.request", "body": part, "more_body": True} for part in first),
        {"type": "http.request", "body": last, "more_body": False},
    ]


JSON = (b"content-type", b"application/json")

# -- dispatch and client errors -------------------------------------------------------------


async def test_an_unknown_route_is_a_404_problem(client):
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["instance"] == "/nowhere"


async def test_a_wrong_method_is_a_405_with_allow(client):
    response = await client.delete("/runs/1")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


async def test_a_wrong_content_type_is_a_415(client):
    response = await client.post(
        "/record-run", content=b"<run/>", headers={"content-type": "application/xml"}
    )
    assert response.status_code == 415
    assert "application/xml" in response.json()["detail"]


async def test_invalid_json_is_a_422_problem(client):
    response = await client.post(
        "/record-run", content=b"{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["title"] == "Unprocessable Entity"


async def test_a_value_of_the_wrong_type_is_a_422_naming_its_json_path(client):
    response = await client.post("/record-run", json={"user_id": 1, "meters": "far"})
    assert response.status_code == 422
    assert response.json()["detail"] == "Expected `float`, got `str` - at `$.meters`"


async def test_a_body_over_the_limit_by_its_content_length_is_a_413(client):
    response = await client.post(
        "/record-run", json={"user_id": 1, "meters": 1.0, "x": "y" * LIMIT}
    )
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    assert "--server-max-body" in response.json()["detail"]


async def test_a_chunked_body_over_the_limit_is_a_413(http_app):
    exchange = Exchange(*chunks(b"[" + b"1," * 40, b"1," * 40, b"1]"))
    await http_app(http_scope("POST", "/record-run", [JSON]), exchange.receive, exchange.send)
    assert exchange.status == 413
    assert len(exchange.incoming) == 1, "refused as soon as the limit was passed"


async def test_a_body_longer_than_its_small_content_length_and_the_limit_is_a_413(http_app):
    exchange = Exchange(*chunks(b"{" + b" " * LIMIT, b"}"))
    headers = [JSON, (b"content-length", b"10")]
    await http_app(http_scope("POST", "/record-run", headers), exchange.receive, exchange.send)
    assert exchange.status == 413


async def test_a_body_longer_than_its_content_length_within_the_limit_is_a_400(http_app):
    exchange = Exchange(*chunks(b'{"user_id": 1,', b' "meters": 2}'))
    headers = [JSON, (b"content-length", b"14")]
    await http_app(http_scope("POST", "/record-run", headers), exchange.receive, exchange.send)
    assert exchange.status == 400
    assert "longer than Content-Length" in exchange.problem["detail"]


async def test_a_chunked_body_within_the_limit_is_read_whole(http_app):
    exchange = Exchange(*chunks(b'{"user_id": 3,', b' "meters": 2}'))
    await http_app(http_scope("POST", "/record-run", [JSON]), exchange.receive, exchange.send)
    assert exchange.status == 200
    assert exchange.sent[1]["body"] == b"3"


async def test_a_client_gone_before_its_body_gets_no_response(http_app):
    exchange = Exchange({"type": "http.disconnect"})
    await http_app(http_scope("POST", "/record-run", [JSON]), exchange.receive, exchange.send)
    assert exchange.sent == []


async def test_routes_are_matched_below_the_root_path():
    async with client_for(build(), root_path="/prefix") as client:
        response = await client.get("/prefix/runs/4")
    assert response.json() == 4


# -- failures ----------------------------------------------------------------------------------


async def test_a_declared_error_is_a_problem_with_its_status_title_and_detail(client):
    response = await client.post("/runs/5/close")
    assert response.status_code == 409
    assert response.json() == {
        "type": "about:blank",
        "title": "run closed",
        "status": 409,
        "detail": "run 5 was closed yesterday",
        "instance": "/runs/5/close",
        "error_type": "RunClosedError",
    }


async def test_an_unexpected_error_is_a_500_with_a_correlation_id_and_no_exception_text(
    client, caplog
):
    with caplog.at_level(logging.ERROR, logger="atoll.http"):
        response = await client.get("/crash")
    assert response.status_code == 500
    problem = response.json()
    correlation = problem["correlation_id"]
    assert "secret text" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    [record] = [r for r in caplog.records if r.name == "atoll.http"]
    assert correlation in record.getMessage()
    assert record.exc_info is not None
    assert "secret text" in caplog.text
    assert "Traceback" in caplog.text


# -- JSON-RPC over HTTP ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/rpc", "/api"])
async def test_json_rpc_answers_on_its_path_and_on_api(client, path):
    call = {"jsonrpc": "2.0", "method": "double", "params": {"value": 21}, "id": 1}
    response = await client.post(path, json=call)
    assert response.status_code == 200
    assert response.json() == {"jsonrpc": "2.0", "result": 42, "id": 1}


async def test_json_rpc_calls_commands_by_their_method_name(client):
    call = {"jsonrpc": "2.0", "method": "record_run", "params": [7, 1.5], "id": "a"}
    response = await client.post("/rpc", json=call)
    assert response.json() == {"jsonrpc": "2.0", "result": 7, "id": "a"}


async def test_json_rpc_notifications_only_are_a_204(client):
    notification = {"jsonrpc": "2.0", "method": "double", "params": {"value": 1}}
    response = await client.post("/rpc", json=[notification, notification])
    assert response.status_code == 204
    assert response.content == b""


async def test_json_rpc_over_get_is_a_405_allowing_post(client):
    response = await client.get("/rpc")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_json_rpc_with_a_wrong_content_type_is_a_415(client):
    response = await client.post("/rpc", content=b"{}", headers={"content-type": "text/plain"})
    assert response.status_code == 415


async def test_json_rpc_over_the_body_limit_is_a_413(client):
    call = {"jsonrpc": "2.0", "method": "double", "params": {"value": 1}, "id": "x" * LIMIT}
    response = await client.post("/rpc", json=call)
    assert response.status_code == 413


async def test_the_rpc_path_is_moved_by_its_option():
    call = {"jsonrpc": "2.0", "method": "double", "params": {"value": 2}, "id": 1}
    async with client_for(build(), "--server-rpc-path", "/jsonrpc") as client:
        moved = await client.post("/jsonrpc", json=call)
        old = await client.post("/rpc", json=call)
        gemstone = await client.post("/api", json=call)
    assert moved.json()["result"] == 4
    assert old.status_code == 404
    assert gemstone.json()["result"] == 4


# -- the API page and document -----------------------------------------------------------------


async def test_docs_serves_the_api_page_without_external_references(client):
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert "<html" in page
    assert "openapi.json" in page
    for external in ("http://", "https://", 'src="//', 'href="//', "url(//"):
        assert external not in page


@pytest.mark.parametrize("path", ["/openapi.json", "/asyncapi.json"])
async def test_the_documents_answer_head(client, path):
    response = await client.head(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"


async def test_the_asyncapi_document_describes_the_services_messages(client):
    response = await client.get("/asyncapi.json")
    assert response.status_code == 200
    document = check(response.json())
    assert document["info"] == {"title": "runs", "version": "2.0"}
    assert document["operations"]["runs.record_run"]["action"] == "receive"
    assert "servers" not in document  # memory://, which no other process reaches
    assert "runs.rpc" not in document["operations"]


async def test_the_asyncapi_document_is_of_the_broker_configured():
    async with client_for(build(), "--broker-url", "memory://asyncapi-test") as client:
        document = check((await client.get("/asyncapi.json")).json())
    assert "runs.rpc" in document["operations"]  # a broker others reach: broker RPC served


async def test_the_api_page_links_the_asyncapi_document(client):
    page = (await client.get("/docs")).text
    assert 'data-asyncapi-url="asyncapi.json"' in page


async def test_no_server_docs_removes_the_page_and_the_documents():
    async with client_for(build(), "--no-server-docs") as client:
        assert (await client.get("/docs")).status_code == 404
        assert (await client.get("/openapi.json")).status_code == 404
        assert (await client.get("/asyncapi.json")).status_code == 404
        assert (await client.get("/runs/1")).status_code == 200


# -- mounts ------------------------------------------------------------------------------------


async def test_a_mounted_app_gets_the_requests_below_its_prefix_with_root_path(client):
    response = await client.get("/legacy/whoami")
    assert response.status_code == 200
    assert response.json() == {"path": "/legacy/whoami", "root_path": "/legacy", "sub": "whoami"}


async def test_a_path_merely_starting_like_a_mount_is_not_the_mounts(client):
    response = await client.get("/legacyx/whoami")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


# -- other connections -------------------------------------------------------------------------


async def test_a_websocket_is_closed(http_app):
    exchange = Exchange({"type": "websocket.connect"})
    scope = {"type": "websocket", "path": "/ws", "headers": []}
    await http_app(scope, exchange.receive, exchange.send)
    assert exchange.sent == [{"type": "websocket.close", "code": 1000}]


async def test_the_lifespan_is_answered_with_startup_and_shutdown_complete(http_app):
    exchange = Exchange(
        {"type": "lifespan.startup"},
        {"type": "lifespan.unknown"},
        {"type": "lifespan.shutdown"},
    )
    await http_app({"type": "lifespan"}, exchange.receive, exchange.send)
    assert exchange.sent == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]


# -- declaration errors ------------------------------------------------------------------------


async def test_a_route_the_router_refuses_is_a_config_error_naming_the_handler():
    service = atoll.Service("runs")

    @service.get("/runs/{run_id}.json")
    async def as_json() -> None: ...

    with pytest.raises(
        ConfigError, match=r"is not a parameter.*\(declared by route handler 'as_json'"
    ):
        async with http_app_for(service):
            pass


async def test_a_route_declared_twice_is_a_config_error_naming_the_second_handler():
    service = atoll.Service("runs")

    @service.get("/runs")
    async def first() -> None: ...

    @service.get("/runs")
    async def second() -> None: ...

    with pytest.raises(ConfigError, match=r"added twice.*\(declared by route handler 'second'"):
        async with http_app_for(service):
            pass


@dataclass(frozen=True)
class CheckedRun:
    meters: float

    def __post_init__(self) -> None:
        if self.meters <= 0:
            raise ValueError("meters must be above 0")


def checked_service() -> atoll.Service:
    service = atoll.Service("checked")

    @service.command(CheckedRun)
    async def record_checked(cmd: CheckedRun) -> float:
        return cmd.meters

    return service


async def test_a_message_refused_by_its_own_check_is_a_422_over_rest_and_32602_over_rpc():
    async with client_for(checked_service()) as client:
        rest = await client.post("/checked-run", json={"meters": -1})
        call = {"jsonrpc": "2.0", "method": "checked_run", "params": {"meters": -1}, "id": 1}
        rpc = (await client.post("/rpc", json=call)).json()
    assert rest.status_code == 422
    assert "meters must be above 0" in rest.json()["detail"]
    assert rpc["error"]["code"] == -32602
    assert rpc["error"]["data"]["detail"] == "meters must be above 0"


async def test_a_body_nested_too_deeply_is_a_422_not_a_500():
    service = atoll.Service("echo")

    @service.post("/echo")
    async def echo(body: dict[str, object]) -> int:
        return len(body)

    body = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    async with client_for(service, "--server-max-body", str(len(body) + 1)) as client:
        response = await client.post(
            "/echo", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 422
    assert "too deeply" in response.json()["detail"]


@pytest.mark.parametrize(
    ("declare", "argv", "message"),
    [
        (lambda s: s.get("/docs")(_answer), (), r"route GET /docs .* hidden by atoll's own /docs"),
        (lambda s: s.post("/api")(_answer), (), r"route POST /api .* hidden by atoll's own /api"),
        (lambda s: s.mount("/openapi.json", legacy), (), r"mounted at /openapi\.json would hide"),
        (
            lambda s: s.get("/asyncapi.json")(_answer),
            (),
            r"route GET /asyncapi\.json .* hidden by atoll's own /asyncapi\.json",
        ),
        (
            lambda s: None,
            ("--server-rpc-path", "/asyncapi.json"),
            r"--server-rpc-path /asyncapi\.json is the path of an API document",
        ),
        (lambda s: None, ("--server-rpc-path", "/docs"), r"--server-rpc-path /docs is the path"),
    ],
)
async def test_a_route_or_mount_hidden_by_atolls_own_paths_is_refused(declare, argv, message):
    service = atoll.Service("shadow")
    declare(service)
    with pytest.raises(ConfigError, match=message):
        async with http_app_for(service, *argv):
            pass


async def test_atolls_own_paths_are_free_for_routes_without_the_documents():
    service = atoll.Service("shadow")
    service.get("/docs")(_answer)
    async with client_for(service, "--no-server-docs") as client:
        assert (await client.get("/docs")).json() == "mine"


async def _answer() -> str:
    return "mine"
