"""atoll.System: several services, one process, with declarations of its own."""

import asyncio
from dataclasses import dataclass

import httpx
import pytest

import atoll
from atoll.endpoints.http.server import HttpServer
from atoll.errors import ConfigError
from atoll.service.composition import ServiceApp
from atoll.service.system import services_of


@dataclass(frozen=True)
class Audit:
    enabled: bool = atoll.option(default=True)


class Clock:
    pass


def test_a_system_needs_at_least_one_service():
    with pytest.raises(ConfigError, match="a System needs at least one service"):
        atoll.System()


def test_the_services_of_a_service_are_itself_of_a_system_its_own_of_an_app_none():
    users, runs = atoll.Service("users"), atoll.Service("runs")

    assert services_of(users) == [users]
    assert services_of(atoll.System(users, runs)) == [users, runs]
    assert services_of(atoll.App("bare")) == []


def test_a_system_holds_each_service_name_once():
    with pytest.raises(
        ConfigError, match="a System holds each service once; runs, users appear more than once"
    ):
        atoll.System(
            atoll.Service("users"),
            atoll.Service("runs"),
            atoll.Service("users"),
            atoll.Service("runs"),
        )


def test_a_system_keeps_its_services_in_order_with_its_name_and_version():
    users, runs = atoll.Service("users"), atoll.Service("runs")

    system = atoll.System(users, runs, name="runnerly", version="1.0.0", description="Runs.")

    assert system.services == [users, runs]
    assert (system.name, system.version, system.description) == ("runnerly", "1.0.0", "Runs.")
    assert repr(system) == "System(users, runs, name='runnerly')"


def test_the_system_is_named_system_by_default():
    assert atoll.System(atoll.Service("runs")).name == "system"


def test_a_system_runs_as_one_app_serving_http_and_described_by_default():
    system = atoll.System(atoll.Service("users"), atoll.Service("runs"), name="runnerly")

    app = system.__atoll_app__()

    assert (app.name, app.version, app.env_prefix) == ("runnerly", "0.0.0", "RUNNERLY")
    assert app.description == "The runnerly system."
    assert HttpServer in [provider.key for provider in app.conditional_providers]


def test_a_systems_own_description_and_version_win():
    system = atoll.System(atoll.Service("runs"), version="3.1.0", description="Runs and users.")

    app = system.__atoll_app__()

    assert (app.version, app.description) == ("3.1.0", "Runs and users.")


def test_a_systems_own_options_providers_values_and_tasks_are_run_with_its_services():
    system = atoll.System(atoll.Service("runs"), name="runnerly")

    assert system.options("audit", Audit) is Audit
    assert system.provide(Clock) is Clock
    system.value("runnerly", provides=str, name="motto")

    @system.task
    async def sweep(clock: Clock) -> None:
        pass

    app = system.__atoll_app__()

    assert ("audit", Audit) in app.sections
    assert Clock in app.registry
    assert (str, "motto") in app.registry
    assert [task.name for task in app.tasks] == ["sweep"]


async def test_a_systems_asgi_app_serves_the_system_under_its_own_name_and_version():
    runs = atoll.Service("runs", version="1.0.0")

    @runs.get("/ping")
    async def ping() -> str:
        return "pong"

    system = atoll.System(runs, name="runnerly", version="9.9.9")
    app = system.asgi()
    assert isinstance(app, ServiceApp)
    to_app, from_app = asyncio.Queue(), asyncio.Queue()
    lifespan = asyncio.create_task(app({"type": "lifespan"}, to_app.get, from_app.put))
    await to_app.put({"type": "lifespan.startup"})
    assert await from_app.get() == {"type": "lifespan.startup.complete"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://system") as client:
        document = (await client.get("/openapi.json")).json()
        assert (await client.get("/ping")).json() == "pong"
    await to_app.put({"type": "lifespan.shutdown"})
    assert await from_app.get() == {"type": "lifespan.shutdown.complete"}
    await lifespan
    assert document["info"] == {
        "title": "runnerly",
        "version": "9.9.9",
        "description": "The runnerly system.",
    }
