"""The health paths of the ASGI app: /health/live, /health/ready, /health, what they reserve."""

from __future__ import annotations

import contextlib
import sys
import types
from dataclasses import dataclass

import pytest

import atoll
from atoll.endpoints.http.asgi import HttpApp
from atoll.endpoints.http.server import ServerOptions
from atoll.endpoints.rpc.engines import RpcEngines
from atoll.errors import ConfigError, DatabaseUnavailableError
from atoll.kernel.entrypoint import load_config, running
from atoll.kernel.health import About, Readiness
from atoll.kernel.lifecycle import Lifecycle
from atoll.kernel.options import Secret, option
from atoll.messaging.bus import MessageBus
from atoll.service.composition import compose
from atoll.testing.client import asgi_client

NO_STORE = "no-store"


def build() -> atoll.Service:
    service = atoll.Service("runs")

    @service.get("/runs/{run_id}")
    async def get_run(run_id: int) -> int:
        return run_id

    return service


class Database:
    """Answers pings while it reaches its database."""

    def __init__(self) -> None:
        self.reachable = True

    async def ping(self) -> None:
        if not self.reachable:
            raise DatabaseUnavailableError("cannot reach the database at db.internal:5432")


@contextlib.asynccontextmanager
async def started(service, *argv):
    """The service's container, its application running."""
    app = compose(service.name, [service], serve=False)
    async with running(app, load_config(app, list(argv), {})) as container:
        yield container


@contextlib.asynccontextmanager
async def client_with(readiness_of=None, about=None, **options):
    """A client of an HttpApp built here, given ``readiness_of(lifecycle)`` if any."""
    service = build()
    async with started(service) as container:
        lifecycle = await container.aget(Lifecycle)
        readiness = None if readiness_of is None else readiness_of(lifecycle)
        http = HttpApp(
            service.api(),
            await container.aget(MessageBus),
            ServerOptions(**options),
            await container.aget(RpcEngines),
            readiness=readiness,
            about=about,
        )
        async with asgi_client(http) as client:
            yield client


@contextlib.asynccontextmanager
async def composed_client(service, *argv):
    """A client of the HttpApp the composition builds, configured by ``argv``."""
    async with (
        started(service, *argv) as container,
        asgi_client(await container.aget(HttpApp)) as client,
    ):
        yield client


def assert_probe_answer(response, status):
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == NO_STORE


# -- /health/live ------------------------------------------------------------------------------


async def test_live_answers_200_live():
    async with client_with() as client:
        response = await client.get("/health/live")
    assert_probe_answer(response, 200)
    assert response.json() == {"status": "live"}


async def test_an_app_given_no_readiness_answers_ready_with_no_checks():
    async with client_with() as client:
        response = await client.get("/health/ready")
    assert_probe_answer(response, 200)
    assert response.json() == {"status": "ready", "checks": {}}


async def test_live_answers_200_while_the_application_is_not_ready():
    async with client_with(lambda _: Readiness(Lifecycle("never started"))) as client:
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")
    assert live.status_code == 200
    assert ready.status_code == 503


# -- /health/ready -----------------------------------------------------------------------------


async def test_ready_answers_200_with_each_check_when_ready():
    database = Database()

    def readiness_of(lifecycle):
        return Readiness.from_components(lifecycle, [("database users", database)])

    async with client_with(readiness_of) as client:
        response = await client.get("/health/ready")
    assert_probe_answer(response, 200)
    assert response.json() == {"status": "ready", "checks": {"database users": "ok"}}


async def test_ready_answers_503_with_the_state_and_the_reasons_when_not_ready():
    database = Database()
    database.reachable = False

    def readiness_of(lifecycle):
        return Readiness.from_components(lifecycle, [("database users", database)])

    async with client_with(readiness_of) as client:
        response = await client.get("/health/ready")
    assert_probe_answer(response, 503)
    assert response.json() == {
        "status": "not ready",
        "state": "ready",
        "checks": {"database users": "cannot reach the database at db.internal:5432"},
    }


async def test_ready_answers_503_naming_the_state_of_a_lifecycle_not_ready():
    async with client_with(lambda _: Readiness(Lifecycle("never started"))) as client:
        response = await client.get("/health/ready")
    assert response.json() == {"status": "not ready", "state": "created", "checks": {}}


async def test_ready_runs_the_checks_for_each_request():
    database = Database()

    def readiness_of(lifecycle):
        return Readiness.from_components(lifecycle, [("database users", database)])

    async with client_with(readiness_of) as client:
        before = await client.get("/health/ready")
        database.reachable = False
        after = await client.get("/health/ready")
    assert (before.status_code, after.status_code) == (200, 503)


async def test_ready_without_a_readiness_answers_200_with_no_checks():
    async with composed_client(build()) as client:
        response = await client.get("/health/ready")
    assert_probe_answer(response, 200)
    assert response.json() == {"status": "ready", "checks": {}}


# -- methods -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/health/live", "/health/ready", "/health"])
@pytest.mark.parametrize("method", ["POST", "HEAD", "DELETE"])
async def test_a_method_other_than_get_is_a_405_allowing_get(path, method):
    async with client_with(Readiness, ABOUT) as client:
        response = await client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    if method != "HEAD":
        assert response.json()["detail"] == f"{path} is read with GET, not {method}"


# -- /health -----------------------------------------------------------------------------------

ABOUT = About("runs", "1.4.0", {"atoll": "0.1.0", "python": "3.12.3", "commit": "4f2a9c1"})


def assert_details(answer, *, status, state, checks):
    """``answer`` is a /health answer of ABOUT, whose clock-made numbers are numbers."""
    assert_probe_answer(answer, 503 if status == "not ready" else 200)
    body = answer.json()
    uptime = body.pop("uptime_seconds")
    assert isinstance(uptime, float)
    assert uptime >= 0
    latencies = {name: check.pop("latency_ms") for name, check in body["checks"].items()}
    assert all(isinstance(ms, float) and ms >= 0 for ms in latencies.values())
    assert body == {
        "status": status,
        "service": "runs",
        "version": "1.4.0",
        "build": {"atoll": "0.1.0", "python": "3.12.3", "commit": "4f2a9c1"},
        "state": state,
        "checks": checks,
    }


async def test_health_tells_the_service_its_state_and_each_check_when_ready():
    database = Database()

    def readiness_of(lifecycle):
        return Readiness.from_components(lifecycle, [("database users", database)])

    async with client_with(readiness_of, ABOUT) as client:
        answer = await client.get("/health")
    assert_details(
        answer, status="ready", state="ready", checks={"database users": {"outcome": "ok"}}
    )


async def test_health_answers_503_with_the_reason_of_a_failing_check():
    database = Database()
    database.reachable = False

    def readiness_of(lifecycle):
        return Readiness.from_components(lifecycle, [("database users", database)])

    async with client_with(readiness_of, ABOUT) as client:
        answer = await client.get("/health")
    reason = "cannot reach the database at db.internal:5432"
    assert_details(
        answer, status="not ready", state="ready", checks={"database users": {"outcome": reason}}
    )


async def test_health_answers_503_naming_the_state_of_a_lifecycle_not_ready():
    async with client_with(lambda _: Readiness(Lifecycle("never started")), ABOUT) as client:
        answer = await client.get("/health")
    assert_details(answer, status="not ready", state="created", checks={})
    assert answer.json()["uptime_seconds"] == 0.0


async def test_health_without_a_readiness_to_report_is_refused():
    with pytest.raises(ConfigError, match=r"/health reports .* pass readiness=Readiness"):
        async with client_with(None, ABOUT):
            pass


async def test_health_is_not_served_by_default():
    async with composed_client(build()) as client:
        assert (await client.get("/health")).status_code == 404


async def test_health_details_tell_the_services_version_and_the_build_given():
    service = atoll.Service("runs", version="1.4.0")
    argv = ("--health-details", "--health-commit", "4f2a9c1", "--health-build-date", "2026-05-04")
    async with composed_client(service, *argv) as client:
        body = (await client.get("/health")).json()
    assert (body["status"], body["service"], body["version"], body["state"]) == (
        "ready",
        "runs",
        "1.4.0",
        "ready",
    )
    assert body["build"]["commit"] == "4f2a9c1"
    assert body["build"]["date"] == "2026-05-04"
    assert body["build"]["atoll"] == atoll.__version__


async def test_an_unversioned_service_tells_the_version_of_its_handlers_package(monkeypatch):
    package = types.ModuleType("shelf")
    package.__version__ = "2.5.0"
    monkeypatch.setitem(sys.modules, "shelf", package)
    service = atoll.Service("runs")

    async def count() -> int:
        return 1

    count.__module__ = "shelf.api"
    service.rpc(count)
    async with composed_client(service, "--health-details") as client:
        assert (await client.get("/health")).json()["version"] == "2.5.0"


@dataclass(frozen=True)
class Vault:
    token: Secret = option(Secret("change-me"), help="the vault's token")


async def test_health_shows_no_secret():
    service = build()
    service.options("vault", Vault)
    argv = ("--health-details", "--vault-token", "s3cret-token")
    async with composed_client(service, *argv) as client:
        answer = await client.get("/health")
    assert answer.status_code == 200
    assert "s3cret-token" not in answer.text


async def test_no_server_health_serves_no_health_details():
    async with composed_client(build(), "--health-details", "--no-server-health") as client:
        assert (await client.get("/health")).status_code == 404


async def test_a_route_on_health_is_refused_while_health_details_are_served():
    service = build()
    service.get("/health")(_answer)
    with pytest.raises(ConfigError, match=r"route GET /health .* hidden by atoll's own /health;"):
        async with started(service, "--health-details") as container:
            await container.aget(HttpApp)
    async with composed_client(service) as client:  # without them, the route has the path
        assert (await client.get("/health")).json() == "mine"


async def test_the_rpc_path_cannot_be_health_while_health_details_are_served():
    service = build()
    with pytest.raises(ConfigError, match=r"--server-rpc-path /health is the path of a health"):
        async with started(service, "--health-details", "--server-rpc-path", "/health") as c:
            await c.aget(HttpApp)


# -- the option and the reserved paths ---------------------------------------------------------


async def test_no_server_health_leaves_the_paths_to_the_routes():
    service = build()
    service.get("/health/ready")(_answer)
    async with composed_client(service, "--no-server-health") as client:
        assert (await client.get("/health/live")).status_code == 404
        assert (await client.get("/health/ready")).json() == "mine"


async def test_health_false_serves_neither_path():
    async with client_with(Readiness, health=False) as client:
        assert (await client.get("/health/live")).status_code == 404
        assert (await client.get("/health/ready")).status_code == 404


@pytest.mark.parametrize(
    ("declare", "argv", "message"),
    [
        (
            lambda s: s.get("/health/ready")(_answer),
            (),
            r"route GET /health/ready .* hidden by atoll's own /health/ready; choose another",
        ),
        (
            lambda s: s.post("/health/live")(_answer),
            (),
            r"route POST /health/live .* hidden by atoll's own /health/live",
        ),
        (lambda s: s.mount("/health", _asgi), (), r"mounted at /health would hide atoll's own"),
        (
            lambda s: None,
            ("--server-rpc-path", "/health/ready"),
            r"--server-rpc-path /health/ready is the path of a health check; choose another",
        ),
    ],
)
async def test_a_route_mount_or_rpc_path_on_a_health_path_is_refused(declare, argv, message):
    service = atoll.Service("shadow")
    declare(service)
    with pytest.raises(ConfigError, match=message):
        async with started(service, *argv) as container:
            await container.aget(HttpApp)


async def test_the_rpc_path_may_be_a_health_path_without_the_health_paths():
    service = build()
    async with composed_client(
        service, "--server-rpc-path", "/health/ready", "--no-server-health"
    ) as client:
        response = await client.post(
            "/health/ready", json={"jsonrpc": "2.0", "method": "nothing", "id": 1}
        )
    assert response.json()["error"]["code"] == -32601


async def test_the_app_keeps_its_readiness():
    readiness = Readiness(Lifecycle("runs"))
    service = build()
    async with started(service) as container:
        bus = await container.aget(MessageBus)
        engines = await container.aget(RpcEngines)
        http = HttpApp(service.api(), bus, ServerOptions(), engines, readiness=readiness)
    assert http.readiness is readiness


async def _answer() -> str:
    return "mine"


async def _asgi(scope, receive, send) -> None:
    raise AssertionError("never called: the mount is refused")
