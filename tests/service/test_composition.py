"""Composition: services made into one application, its API, and the ASGI app of its lifespan."""

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

import atoll
from atoll.clients.directory import ClientOptions
from atoll.endpoints.http.asgi import HttpApp
from atoll.endpoints.http.server import HttpServer, ServerOptions
from atoll.endpoints.rpc.engines import RpcEngines
from atoll.errors import ConfigError, ProviderError
from atoll.kernel.entrypoint import build_container, load_config, running
from atoll.kernel.lifecycle import Lifecycle
from atoll.messaging.bus import Events, MessageBus
from atoll.messaging.envelope import seal
from atoll.messaging.memory_broker import MemoryBroker
from atoll.service.broker_link import BrokerLink
from atoll.service.composition import (
    ServiceApp,
    api_of,
    asgi_app,
    compose,
    compose_target,
    system_api,
)


@dataclass(frozen=True)
class RegisterUser:
    email: str


@dataclass(frozen=True)
class UserRegistered:
    user_id: int


@dataclass(frozen=True)
class Greeting:
    text: str = atoll.option("hello")


@dataclass(frozen=True)
class OtherGreeting:
    text: str = atoll.option("hi")


class Clock:
    pass


class Repo:
    pass


class EmailTakenError(Exception):
    pass


class RunNotFoundError(Exception):
    pass


async def legacy(scope, receive, send):
    pass


def users_service():
    users = atoll.Service("users", version="1.0.0", description="Users.")

    @users.command(RegisterUser)
    async def register(cmd: RegisterUser, events: Events) -> int:
        events.add(UserRegistered(1))
        return 1

    @users.rpc
    async def count() -> int:
        return 1

    users.error(EmailTakenError, status=409)
    return users


def runs_service(log=None):
    runs = atoll.Service("runs", version="2.0.0")

    @runs.on(UserRegistered)
    async def open_log(evt: UserRegistered) -> None:
        if log is not None:
            log.append(("open_log", evt.user_id))

    @runs.rpc
    async def count() -> int:
        return 2

    @runs.get("/runs")
    async def list_runs() -> list[int]:
        return []

    runs.error(RunNotFoundError, status=404)
    runs.mount("/legacy", legacy)
    return runs


def started(app):
    """The running container of ``app``, configured by its defaults, as a context manager."""
    return running(app, load_config(app, [], {}))


# -- compose ------------------------------------------------------------------------------------


async def test_the_bus_is_bound_when_the_container_is_built_and_handles_the_services_messages():
    log = []
    app = compose("runnerly", [users_service(), runs_service(log)], serve=False)

    async with started(app) as container:
        bus = await container.aget(MessageBus)
        assert await bus.handle(RegisterUser("a@b.c")) == 1

    assert log == [("open_log", 1)]  # an event one service raised reached another's handler


async def test_the_composed_app_serves_the_services_api_with_the_server_options():
    runs = runs_service()
    app = compose("runs", [runs], serve=False)

    assert ("server", ServerOptions) in app.sections
    async with started(app) as container:
        http = await container.aget(HttpApp)
        assert http.api.methods == runs.methods
        assert http.options == ServerOptions()
    assert HttpServer not in app.registry
    assert HttpServer not in [provider.key for provider in app.conditional_providers]


async def test_the_composed_app_has_an_http_server_of_its_http_app_when_it_serves_itself():
    app = compose("runs", [runs_service()], serve=True)
    config = load_config(app, ["--server-port", "0"], {})
    container = build_container(app, config, Lifecycle(app.name))

    async with container:  # makes the instances; starting them is the lifecycle's job
        server = container.get(HttpServer)
        assert server.app is container.get(HttpApp)
        assert server.options is container.get(ServerOptions)
        assert server.options.port == 0


# -- the JSON-RPC engines and running without HTTP ----------------------------------------------


def memory_url():
    return f"memory://composition-{uuid.uuid4().hex}"


async def until(condition, patience=5.0):
    for _ in range(int(patience / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def test_http_broker_rpc_and_clients_answer_through_the_one_set_of_engines():
    app = compose("runs", [runs_service()], serve=True)
    config = load_config(app, ["--server-port", "0", "--broker-url", memory_url()], {})

    async with build_container(app, config, Lifecycle(app.name)) as container:
        engines = container.get(RpcEngines)
        assert list(engines) == ["runs"]
        assert container.get(HttpApp).engines is engines
        assert container.get(HttpApp).rpc is engines.whole is engines["runs"]
        assert container.get(BrokerLink)._engines == {"runs": engines["runs"]}
        assert container.get(BrokerLink)._engines["runs"] is engines["runs"]
        assert container.get(atoll.Clients)._local["runs"] is engines["runs"]
        made = [i for i in container.instances().values() if isinstance(i, RpcEngines)]
        assert made == [engines]  # made once, under its one key


async def test_a_systems_engines_are_one_per_service_and_one_for_the_whole_at_the_rpc_path():
    app = compose("runnerly", [users_service(), runs_service()], serve=False)

    async with started(app) as container:
        engines = container.get(RpcEngines)
        http = container.get(HttpApp)
        assert sorted(engines) == ["runs", "users"]
        assert len(engines) == 2
        assert repr(engines) == "RpcEngines(users, runs)"
        assert http.rpc is engines.whole
        assert engines.whole.methods.keys() >= {"users.count", "runs.count"}
        clients = container.get(atoll.Clients)
        assert await clients.get("users").methods.count() == 1
        assert await clients.get("runs").methods.count() == 2


async def test_the_engines_take_the_batch_limit_of_the_server_options():
    app = compose("runs", [runs_service()], serve=False)

    async with running(app, load_config(app, ["--server-max-batch", "3"], {})) as container:
        assert container.get(RpcEngines)["runs"]._max_batch == 3


async def test_a_service_run_without_http_answers_broker_rpc_and_builds_no_http_app():
    url = memory_url()
    app = compose("users", [users_service()], serve=True)  # as `atoll run` composes it
    config = load_config(app, ["--broker-url", url, "--no-server"], {})

    async with running(app, config) as container:
        made = container.instances().values()
        assert not any(isinstance(instance, (HttpApp, HttpServer)) for instance in made)
        assert HttpApp not in container.graph.providers
        assert HttpServer not in container.graph.providers
        caller = atoll.Clients(ClientOptions(), broker=MemoryBroker(url))
        assert await caller.get("users").methods.count() == 1
        await caller.aclose()
        # and it consumes what is sent to it
        [consumer] = container.get(BrokerLink).consumers
        await MemoryBroker(url).send(seal(RegisterUser("a@b.c")), "users")
        await until(lambda: consumer.handled == 1)


async def test_http_turned_off_in_the_environment_is_refused_under_an_asgi_server(monkeypatch):
    monkeypatch.setenv("GREETER_SERVER_ENABLED", "false")
    lifespan = Lifespan(asgi_app(greeter()))

    message = await lifespan.startup()
    await lifespan.finished()

    assert message["type"] == "lifespan.startup.failed"
    assert "GREETER_SERVER_ENABLED turns HTTP off" in message["message"]


def test_a_services_provider_given_when_stays_conditional_in_the_app():
    runs = atoll.Service("runs")
    runs.provide(Clock, when=lambda config: False)

    app = compose("runs", [runs], serve=False)

    assert Clock not in app.registry
    assert Clock in [provider.key for provider in app.conditional_providers]


def test_one_service_lends_its_version_description_and_environment_prefix():
    users = atoll.Service("users", version="1.0.0", description="Users.", env_prefix="USR")

    app = compose("users", [users], serve=False)

    assert (app.version, app.description, app.env_prefix) == ("1.0.0", "Users.", "USR")


def test_several_services_take_the_first_ones_version_and_the_apps_prefix():
    app = compose("runnerly", [users_service(), runs_service()], serve=False)

    assert (app.version, app.description, app.env_prefix) == ("1.0.0", "Users.", "RUNNERLY")


def test_the_version_description_and_prefix_given_win():
    app = compose(
        "runnerly",
        [users_service()],
        serve=False,
        version="9.0.0",
        description="",
        env_prefix="RN",
    )

    assert (app.version, app.description, app.env_prefix) == ("9.0.0", "", "RN")


def test_composing_no_service_is_refused():
    with pytest.raises(ConfigError, match="runnerly has no service to run"):
        compose("runnerly", [], serve=False)


def test_two_services_declaring_one_section_with_different_classes_are_refused():
    users, runs = atoll.Service("users"), atoll.Service("runs")
    users.options("greeting", Greeting)
    runs.options("greeting", OtherGreeting)

    with pytest.raises(
        ConfigError,
        match=r"option section 'greeting' is declared by service 'runs' as OtherGreeting and "
        r"before as Greeting; rename one section",
    ):
        compose("runnerly", [users, runs], serve=False)


def test_two_services_declaring_one_section_with_the_same_class_share_it():
    users, runs = atoll.Service("users"), atoll.Service("runs")
    users.options("greeting", Greeting)
    runs.options("greeting", Greeting)

    app = compose("runnerly", [users, runs], serve=False)

    assert [section for section, _ in app.sections].count("greeting") == 1


def test_two_services_providing_one_type_differently_are_refused_naming_the_service():
    def make_clock() -> Clock:
        return Clock()

    users, runs = atoll.Service("users"), atoll.Service("runs")
    users.provide(Clock)
    runs.provide(make_clock)

    with pytest.raises(ProviderError, match=r"Clock is provided both by .*, in service 'runs',"):
        compose("runnerly", [users, runs], serve=False)


async def test_two_services_providing_one_type_the_same_way_share_one_instance():
    users, runs = atoll.Service("users"), atoll.Service("runs")
    users.provide(Clock)
    runs.provide(Clock)
    app = compose("runnerly", [users, runs], serve=False)

    async with started(app) as container:
        assert container.get(Clock) is container.get(Clock)


def test_the_services_tasks_and_build_hooks_are_the_apps():
    users, runs = atoll.Service("users"), atoll.Service("runs")

    @users.task
    async def relay() -> None:
        pass

    @runs.task(name="sweeper")
    async def sweep() -> None:
        pass

    def check(container) -> None:
        pass

    runs.app.on_build(check)

    app = compose("runnerly", [users, runs], serve=False)

    assert [task.name for task in app.tasks] == ["relay", "sweeper"]
    assert check in app.build_hooks


def test_a_systems_own_declarations_are_included():
    extra = atoll.App("runnerly")
    extra.options("greeting", Greeting)
    extra.provide(Repo)

    app = compose("runnerly", [atoll.Service("users")], serve=False, extra=extra)

    assert ("greeting", Greeting) in app.sections
    assert Repo in app.registry


def test_a_service_clashing_with_the_systems_own_declarations_is_refused_naming_both():
    extra = atoll.App("runnerly")
    extra.provide(Repo)
    runs = atoll.Service("runs")
    runs.provide(Repo, provides=Repo, scope=atoll.Scope.REQUEST)

    with pytest.raises(ProviderError, match=r"Repo is provided both by .*, in service 'runs',"):
        compose("runnerly", [runs], serve=False, extra=extra)


async def test_every_services_middleware_wraps_every_handler_of_the_process():
    seen = []

    async def watch(call, call_next):
        seen.append(call.handler.label.split(" (")[0])
        return await call_next(call)

    users, runs = users_service(), runs_service()
    runs.use(watch)
    app = compose("runnerly", [users, runs], serve=False)

    async with started(app) as container:
        bus = await container.aget(MessageBus)
        await bus.handle(RegisterUser("a@b.c"))

    assert seen == [
        "command handler 'register_user' of service 'users'",
        "event handler 'open_log' of service 'runs'",
    ]


async def test_one_middleware_used_by_two_services_wraps_each_call_once():
    seen = []

    async def watch(call, call_next):
        seen.append(call.handler.name)
        return await call_next(call)

    users, runs = users_service(), runs_service()
    users.use(watch)
    runs.use(watch)
    app = compose("runnerly", [users, runs], serve=False)

    async with started(app) as container:
        bus = await container.aget(MessageBus)
        await bus.handle(RegisterUser("a@b.c"))

    assert seen == ["register_user", "open_log"]


# -- system_api ---------------------------------------------------------------------------------


def test_a_systems_api_has_every_route_and_every_method_qualified_by_its_service():
    users, runs = users_service(), runs_service()

    api = system_api("runnerly", "1.0.0", [users, runs])

    assert (api.title, api.version, api.description) == (
        "runnerly",
        "1.0.0",
        "The services users, runs.",
    )
    assert [(route.method, route.path) for route in api.routes] == [
        ("POST", "/register-user"),
        ("GET", "/runs"),
    ]
    assert [method.name for method in api.methods] == [
        "users.register_user",
        "users.count",
        "runs.count",
    ]
    assert api.methods[2].handler is runs.methods[0].handler
    assert api.mounts == [("/legacy", legacy)]


def test_a_systems_api_tells_every_services_faults():
    api = system_api("runnerly", "1.0.0", [users_service(), runs_service()])

    statuses = [api.faults.describe(error) for error in (EmailTakenError(), RunNotFoundError())]

    assert [fault.status if fault else None for fault in statuses] == [409, 404]


def test_a_systems_api_holds_what_its_services_consume_and_publish():
    users, runs = users_service(), runs_service()
    users.publishes(UserRegistered)
    runs.publishes(UserRegistered)  # a copy, say: listed once

    api = system_api("runnerly", "1.0.0", [users, runs])

    assert [handler.name for handler in api.consumes] == ["register_user", "open_log"]
    assert api.publishes == [UserRegistered]
    assert [part.publishes for part in api.parts] == [[UserRegistered], [UserRegistered]]


def test_api_of_a_target_is_what_its_composed_app_serves():
    users, runs = users_service(), runs_service()
    assert api_of(users).title == "users"
    system = atoll.System(users, runs, name="club", version="3.0.0")
    api = api_of(system)
    assert (api.title, api.version, api.description) == ("club", "3.0.0", "The club system.")
    assert [part.title for part in api.parts] == ["users", "runs"]


def test_two_services_declaring_one_route_are_refused_naming_both():
    users, runs = atoll.Service("users"), atoll.Service("runs")

    @users.get("/health")
    async def users_health() -> str:
        return "ok"

    @runs.get("/health")
    async def runs_health() -> str:
        return "ok"

    with pytest.raises(
        ConfigError,
        match=r"route GET /health is declared by service 'users' and by service 'runs'",
    ):
        system_api("runnerly", "1.0.0", [users, runs])


def test_one_path_with_two_methods_in_two_services_is_fine():
    users, runs = atoll.Service("users"), atoll.Service("runs")

    @users.get("/things")
    async def list_things() -> list[int]:
        return []

    @runs.post("/things")
    async def add_thing() -> int:
        return 1

    assert len(system_api("runnerly", "1.0.0", [users, runs]).routes) == 2


# -- ServiceApp: the lifespan of an outside ASGI server ------------------------------------------


class Lifespan:
    """Drives an ASGI app's lifespan the way a server does."""

    def __init__(self, app):
        self.app = app
        self.to_app: asyncio.Queue = asyncio.Queue()
        self.from_app: asyncio.Queue = asyncio.Queue()
        self.task: asyncio.Task | None = None

    async def startup(self):
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.create_task(self.app(scope, self.to_app.get, self.from_app.put))
        await self.to_app.put({"type": "lifespan.startup"})
        return await self.from_app.get()

    async def shutdown(self):
        await self.to_app.put({"type": "lifespan.shutdown"})
        message = await self.from_app.get()
        await self.finished()
        return message

    async def finished(self):
        assert self.task is not None
        await self.task


def client(app):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://runs")


def greeter():
    service = atoll.Service("greeter")
    service.options("greeting", Greeting)

    @service.get("/greet/{name}")
    async def greet(name: str, greeting: Greeting) -> str:
        return f"{greeting.text}, {name}"

    return service


async def test_the_lifespan_starts_the_services_then_requests_are_served(monkeypatch):
    monkeypatch.setenv("GREETER_GREETING_TEXT", "ahoy")  # read at startup, not before
    app = asgi_app(greeter())
    lifespan = Lifespan(app)

    assert await lifespan.startup() == {"type": "lifespan.startup.complete"}
    async with client(app) as http:
        response = await http.get("/greet/ann")
    assert await lifespan.shutdown() == {"type": "lifespan.shutdown.complete"}

    assert (response.status_code, response.json()) == (200, "ahoy, ann")
    assert app.http is None


async def test_a_request_before_startup_is_answered_503_with_a_problem():
    app = ServiceApp(greeter())

    async with client(app) as http:
        response = await http.get("/greet/ann")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 503
    assert "greeter is not started: the ASGI server must run the lifespan" in problem["detail"]


async def test_a_request_after_shutdown_is_answered_503():
    app = asgi_app(greeter())
    lifespan = Lifespan(app)
    await lifespan.startup()
    await lifespan.shutdown()

    async with client(app) as http:
        response = await http.get("/greet/ann")

    assert response.status_code == 503


async def test_a_websocket_before_startup_is_left_unanswered():
    sent = []

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    await ServiceApp(greeter())({"type": "websocket"}, receive, send)

    assert sent == []


async def test_a_websocket_after_startup_is_closed_by_the_http_app():
    app = asgi_app(greeter())
    lifespan = Lifespan(app)
    sent = []

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    assert await lifespan.startup() == {"type": "lifespan.startup.complete"}
    await app({"type": "websocket"}, receive, send)
    await lifespan.shutdown()

    assert sent == [{"type": "websocket.close", "code": 1000}]


async def test_a_failing_startup_is_reported_with_its_message():
    service = atoll.Service("runs")

    def broken_clock() -> Clock:
        msg = "no time source"
        raise OSError(msg)

    service.provide(broken_clock)
    app = asgi_app(service)
    lifespan = Lifespan(app)

    message = await lifespan.startup()
    await lifespan.finished()

    assert message == {"type": "lifespan.startup.failed", "message": "runs: no time source"}
    assert app.http is None


async def test_a_bad_configuration_fails_the_startup(monkeypatch):
    monkeypatch.setenv("GREETER_SERVER_PORT", "many")
    lifespan = Lifespan(asgi_app(greeter()))

    message = await lifespan.startup()
    await lifespan.finished()

    assert message["type"] == "lifespan.startup.failed"
    assert "GREETER_SERVER_PORT" in message["message"]


async def test_a_failing_stop_is_reported_with_its_message():
    service = atoll.Service("runs")

    def clock() -> Iterator[Clock]:
        yield Clock()
        msg = "clock stuck"
        raise OSError(msg)

    service.provide(clock)
    lifespan = Lifespan(asgi_app(service))

    assert await lifespan.startup() == {"type": "lifespan.startup.complete"}
    message = await lifespan.shutdown()

    assert message["type"] == "lifespan.shutdown.failed"
    assert message["message"].startswith("runs: ")
    assert "clock stuck" in message["message"]


def test_compose_target_composes_a_service_or_a_system_and_nothing_else():
    users = users_service()
    assert compose_target(users, serve=False).name == "users"
    system = atoll.System(users, runs_service(), name="club", version="3.0.0")
    assert compose_target(system, serve=False).version == "3.0.0"
    with pytest.raises(TypeError, match=r"an atoll\.Service or an atoll\.System; got int"):
        compose_target(3, serve=False)


async def test_after_a_background_task_fails_requests_get_503_until_shutdown():
    service = greeter()

    @service.task
    async def doomed() -> None:
        raise RuntimeError("the task broke")

    app = asgi_app(service)
    lifespan = Lifespan(app)
    assert await lifespan.startup() == {"type": "lifespan.startup.complete"}
    async with asyncio.timeout(5):
        while app.http is not None:  # noqa: ASYNC110 - a plain attribute the app clears
            await asyncio.sleep(0.01)
    async with client(app) as http:
        response = await http.get("/greet/ann")
    shutdown = await lifespan.shutdown()

    assert response.status_code == 503
    assert shutdown["type"] == "lifespan.shutdown.failed"
    assert "doomed" in shutdown["message"]
