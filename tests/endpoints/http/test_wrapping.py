"""ASGI middleware around a service's HTTP app, and CORS (``[cors]``) outside it."""

from __future__ import annotations

import asyncio

import httpx
import pytest

import atoll
import atoll.testing
from atoll.endpoints.http.asgi import HttpApp
from atoll.endpoints.http.cors import Cors, CorsOptions
from atoll.endpoints.http.server import HttpServer
from atoll.errors import ConfigError
from atoll.kernel.entrypoint import build_container, load_config
from atoll.kernel.lifecycle import Lifecycle
from atoll.service.composition import compose


class Tag:
    """An ASGI middleware adding ``x-order: <name>`` to every answer, in the order it passes."""

    def __init__(self, app, *, name: str) -> None:
        self.app = app
        self.name = name

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def tagged(message):
            if message["type"] == "http.response.start":
                headers = [*message["headers"], (b"x-order", self.name.encode())]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, tagged)


def ping_service(name: str = "runs", path: str = "/ping") -> atoll.Service:
    service = atoll.Service(name)

    @service.get(path)
    async def ping() -> str:
        return "pong"

    return service


def order(response: httpx.Response) -> list[str]:
    """The middleware the answer passed through, innermost first."""
    return response.headers.get_list("x-order")


async def test_middleware_wraps_every_answer_the_first_declared_outermost():
    service = ping_service()
    service.asgi_middleware(Tag, name="outer")
    service.asgi_middleware(Tag, name="inner")
    async with atoll.testing.run(service) as harness:
        for path in ["/ping", "/health/live", "/openapi.json", "/nowhere"]:
            assert order(await harness.client.get(path)) == ["inner", "outer"], path
        call = {"jsonrpc": "2.0", "method": "ping", "id": 1}
        assert order(await harness.client.post("/rpc", json=call)) == ["inner", "outer"]


async def test_a_systems_middleware_wraps_its_services_in_the_order_it_names_them():
    runs, users = ping_service("runs", "/runs"), ping_service("users", "/users")
    runs.asgi_middleware(Tag, name="runs")
    users.asgi_middleware(Tag, name="users")
    system = atoll.System(users, runs, name="club")
    system.asgi_middleware(Tag, name="system")
    async with atoll.testing.run(system) as harness:
        assert order(await harness.client.get("/runs")) == ["runs", "users", "system"]


async def test_the_server_serves_the_app_inside_its_middleware():
    service = ping_service()
    service.asgi_middleware(Tag, name="only")
    app = compose("runs", [service], serve=True)
    config = load_config(app, ["--server-port", "0"], {})
    async with build_container(app, config, Lifecycle(app.name)) as container:
        server = container.get(HttpServer)
        http = container.get(HttpApp)
        assert isinstance(server.app, Tag)
        assert server.app is http.entry
        assert server.app.app is http


async def test_an_outside_servers_asgi_app_goes_through_the_middleware():
    service = ping_service()
    service.asgi_middleware(Tag, name="only")
    app = service.asgi()
    to_app, from_app = asyncio.Queue(), asyncio.Queue()
    lifespan = asyncio.create_task(app({"type": "lifespan"}, to_app.get, from_app.put))
    await to_app.put({"type": "lifespan.startup"})
    assert await from_app.get() == {"type": "lifespan.startup.complete"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://runs") as client:
        answered = await client.get("/ping")
    await to_app.put({"type": "lifespan.shutdown"})
    assert await from_app.get() == {"type": "lifespan.shutdown.complete"}
    await lifespan
    assert (answered.json(), order(answered)) == ("pong", ["only"])


def test_middleware_must_be_a_factory():
    with pytest.raises(ConfigError, match="takes a factory called with the app"):
        ping_service().asgi_middleware("not a class")


# -- CORS ------------------------------------------------------------------------------------------

APP = "https://app.example.org"


def preflight(method: str = "POST", headers: str = "content-type", origin: str = APP) -> dict:
    return {
        "origin": origin,
        "access-control-request-method": method,
        "access-control-request-headers": headers,
    }


def cors_harness(*argv: str):
    service = ping_service()
    service.asgi_middleware(Tag, name="user")

    @service.post("/runs")
    async def record(meters: float) -> float:
        return meters

    return atoll.testing.run(service, argv=list(argv))


async def test_without_origins_nothing_is_said_to_browsers():
    async with cors_harness() as harness:
        answered = await harness.client.get("/ping", headers={"origin": APP})
        asked = await harness.client.options("/ping", headers=preflight())
    assert "access-control-allow-origin" not in answered.headers
    assert asked.status_code == 405  # no route answers OPTIONS: CORS is off


async def test_a_preflight_from_an_allowed_origin_is_answered_without_calling_the_service():
    async with cors_harness("--cors-origins", APP, "--cors-max-age", "60") as harness:
        answer = await harness.client.options(
            "/runs", headers=preflight("POST", "Content-Type, Authorization")
        )
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == APP
    assert answer.headers["access-control-allow-methods"] == "DELETE, GET, HEAD, PATCH, POST, PUT"
    assert answer.headers["access-control-allow-headers"] == "content-type, authorization"
    assert answer.headers["access-control-max-age"] == "60"
    assert "access-control-allow-credentials" not in answer.headers
    assert "origin" in answer.headers["vary"]
    assert order(answer) == []  # the user's middleware and the service were never called


@pytest.mark.parametrize(
    ("asked", "refusal"),
    [
        (preflight(origin="https://evil.example"), "the origin https://evil.example may not"),
        (preflight(method="DELETE"), "may not send DELETE requests from https://app.example.org"),
        (preflight(headers="content-type, x-secret"), "may not send the header x-secret"),
    ],
    ids=["origin", "method", "header"],
)
async def test_a_preflight_asking_what_is_not_allowed_is_a_403_naming_it(asked, refusal):
    argv = ["--cors-origins", APP, "--cors-methods", "GET,POST"]
    async with cors_harness(*argv) as harness:
        answer = await harness.client.options("/runs", headers=asked)
    assert answer.status_code == 403
    assert refusal in answer.json()["detail"]
    assert "access-control-allow-origin" not in answer.headers


async def test_an_answer_to_an_allowed_origin_says_so_whatever_its_status():
    argv = ["--cors-origins", f"{APP},https://admin.example.org", "--cors-credentials",
            "--cors-expose", "x-order"]  # fmt: skip
    async with cors_harness(*argv) as harness:
        ok = await harness.client.get("/ping", headers={"origin": APP})
        missing = await harness.client.get("/nowhere", headers={"origin": APP})
        other = await harness.client.get("/ping", headers={"origin": "https://evil.example"})
        plain = await harness.client.get("/ping")
    for answer in (ok, missing):
        assert answer.headers["access-control-allow-origin"] == APP
        assert answer.headers["access-control-allow-credentials"] == "true"
        assert answer.headers["access-control-expose-headers"] == "x-order"
        assert answer.headers["vary"] == "origin"
        assert order(answer) == ["user"]  # CORS is outside the user's middleware
    assert missing.status_code == 404
    assert other.json() == "pong"
    assert "access-control-allow-origin" not in other.headers
    assert "access-control-allow-origin" not in plain.headers


async def test_an_answer_the_service_marked_public_names_the_allowed_origin_once():
    """A component's file says `*` itself: a browser refuses an answer naming two origins."""

    async def public(scope, receive, send):
        headers = [(b"access-control-allow-origin", b"*"), (b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"shared"})

    wrapped = Cors(public, CorsOptions(origins=[APP]))
    transport = httpx.ASGITransport(app=wrapped)
    async with httpx.AsyncClient(transport=transport, base_url="http://runs") as client:
        allowed = await client.get("/public", headers={"origin": APP})
        other = await client.get("/public", headers={"origin": "https://any.example"})
    assert allowed.headers.get_list("access-control-allow-origin") == [APP]
    assert allowed.headers["content-type"] == "text/plain"
    assert other.headers.get_list("access-control-allow-origin") == ["*"]


async def test_any_origin_without_credentials_is_answered_with_a_star():
    async with cors_harness("--cors-origins", "*", "--cors-headers", "*") as harness:
        answer = await harness.client.get("/ping", headers={"origin": "https://any.example"})
        asked = await harness.client.options("/runs", headers=preflight(headers="x-anything"))
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "vary" not in answer.headers
    assert asked.status_code == 204
    assert asked.headers["access-control-allow-headers"] == "x-anything"


@pytest.mark.parametrize(
    ("argv", "refusal"),
    [
        (["--cors-origins", "app.example.org"], "which is no origin"),
        (["--cors-origins", "https://app.example.org/"], "which is no origin"),
        (["--cors-origins", "*", "--cors-credentials"], "credentials cannot go with origins"),
        (["--cors-origins", APP, "--cors-max-age", "-1"], "max_age must be 0 or more"),
    ],
)
async def test_a_cors_option_that_cannot_work_is_refused_at_start(argv, refusal):
    with pytest.raises(ConfigError, match=refusal):
        async with cors_harness(*argv):
            pass
