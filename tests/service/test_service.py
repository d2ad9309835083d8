"""atoll.Service: what each decorator registers, and the declarations it refuses."""

from dataclasses import dataclass

import pytest

import atoll
from atoll.endpoints.api import Method, Route
from atoll.endpoints.http.server import HttpServer
from atoll.errors import ConfigError, ProviderError
from atoll.kernel.app import App
from atoll.messaging.handlers import HandlerKind
from atoll.service.composition import ServiceApp


@dataclass(frozen=True)
class RecordRun:
    user_id: int
    meters: float


@dataclass(frozen=True)
class WeeklyDistance:
    user_id: int


@dataclass(frozen=True)
class RunRecorded:
    user_id: int


@dataclass(frozen=True)
class Greeting:
    text: str = atoll.option("hello")


class Repo:
    pass


class EmailTakenError(Exception):
    pass


def routes(service):
    return [
        (route.method, route.path, route.handler.name, route.status) for route in service.routes
    ]


def methods(service):
    return [(method.name, method.handler.name) for method in service.methods]


def test_a_command_is_a_handler_a_method_and_a_post_route_named_after_its_type():
    service = atoll.Service("runs")

    @service.command(RecordRun)
    async def record(cmd: RecordRun) -> int:
        return 1

    [handler] = service.handlers
    assert (handler.kind, handler.message, handler.name, handler.service) == (
        HandlerKind.COMMAND,
        RecordRun,
        "record_run",
        "runs",
    )
    assert service.methods == [Method("record_run", handler)]
    assert service.routes == [Route("POST", "/record-run", handler, 200)]


def test_a_command_takes_a_name_a_path_and_a_status():
    service = atoll.Service("runs")

    @service.command(RecordRun, name="log_run", path="/runs", status=201)
    async def record(cmd: RecordRun) -> int:
        return 1

    assert methods(service) == [("log_run", "log_run")]
    assert routes(service) == [("POST", "/runs", "log_run", 201)]


def test_a_command_with_path_false_has_no_route():
    service = atoll.Service("runs")

    @service.command(RecordRun, path=False)
    async def record(cmd: RecordRun) -> int:
        return 1

    assert methods(service) == [("record_run", "record_run")]
    assert service.routes == []


def test_a_query_is_a_method_and_a_get_route_named_after_its_type():
    service = atoll.Service("runs")

    @service.query(WeeklyDistance)
    async def weekly(q: WeeklyDistance) -> float:
        return 0.0

    [handler] = service.handlers
    assert handler.kind is HandlerKind.QUERY
    assert methods(service) == [("weekly_distance", "weekly_distance")]
    assert routes(service) == [("GET", "/weekly-distance", "weekly_distance", 200)]


def test_a_query_takes_a_name_and_a_path_or_none():
    service = atoll.Service("runs")

    @service.query(WeeklyDistance, name="weekly", path="/weekly")
    async def weekly(q: WeeklyDistance) -> float:
        return 0.0

    @service.query(RecordRun, path=False)
    async def lookup(q: RecordRun) -> float:
        return 0.0

    assert methods(service) == [("weekly", "weekly"), ("record_run", "record_run")]
    assert routes(service) == [("GET", "/weekly", "weekly", 200)]


def test_an_event_handler_is_neither_a_method_nor_a_route():
    service = atoll.Service("runs")

    @service.on(RunRecorded)
    async def tally(evt: RunRecorded) -> None:
        pass

    [handler] = service.handlers
    assert (handler.kind, handler.message, handler.name) == (
        HandlerKind.EVENT,
        RunRecorded,
        "tally",
    )
    assert (service.methods, service.routes) == ([], [])


def test_publishes_declares_the_event_types_once_in_the_order_given():
    service = atoll.Service("runs")
    service.publishes(RunRecorded, RecordRun)
    service.publishes(RunRecorded)
    assert service.published == [RunRecorded, RecordRun]
    assert (service.handlers, service.methods, service.routes) == ([], [], [])


@pytest.mark.parametrize("event", [RunRecorded(1), "RunRecorded", None])
def test_publishes_refuses_what_is_no_class_and_declares_nothing(event):
    service = atoll.Service("runs")
    with pytest.raises(ProviderError, match="event type must be a class"):
        service.publishes(RunRecorded, event)
    assert service.published == []


def test_rpc_names_the_method_after_the_function_unless_told():
    service = atoll.Service("runs")

    @service.rpc
    async def weekly_meters(user_id: int) -> float:
        return 0.0

    @service.rpc(name="total")
    async def total_meters(user_id: int) -> float:
        return 0.0

    @service.rpc()
    async def ping() -> str:
        return "pong"

    assert methods(service) == [
        ("weekly_meters", "weekly_meters"),
        ("total", "total"),
        ("ping", "ping"),
    ]
    assert all(handler.kind is HandlerKind.RPC for handler in service.handlers)
    assert service.routes == []


@pytest.mark.parametrize("verb", ["get", "post", "put", "patch", "delete"])
def test_each_http_verb_decorator_adds_a_route(verb):
    service = atoll.Service("runs")

    @getattr(service, verb)("/runs/{run_id}", status=202, name="touch")
    async def touch_run(run_id: int) -> None:
        pass

    [handler] = service.handlers
    assert handler.kind is HandlerKind.ROUTE
    assert routes(service) == [(verb.upper(), "/runs/{run_id}", "touch", 202)]
    assert service.methods == []


def test_a_route_is_named_after_its_function_and_answers_200_by_default():
    service = atoll.Service("runs")

    @service.route("get", "/runs")
    async def list_runs() -> list[int]:
        return []

    assert routes(service) == [("GET", "/runs", "list_runs", 200)]


def test_decorators_hand_back_the_function_itself():
    service = atoll.Service("runs")

    async def record(cmd: RecordRun) -> int:
        return 1

    async def weekly(user_id: int) -> float:
        return 0.0

    assert service.command(RecordRun)(record) is record
    assert service.rpc(weekly) is weekly
    assert service.get("/weekly")(weekly) is weekly


def test_two_methods_of_one_name_are_refused_naming_both_and_nothing_is_added():
    service = atoll.Service("runs")

    @service.command(RecordRun)
    async def record(cmd: RecordRun) -> int:
        return 1

    async def record_run(user_id: int) -> int:
        return 1

    with pytest.raises(
        ConfigError,
        match=r"JSON-RPC method 'record_run' of service 'runs' is declared twice: by command "
        r"handler 'record_run' .* and rpc handler 'record_run' .*; pass name=",
    ):
        service.rpc(record_run)
    assert len(service.handlers) == len(service.methods) == len(service.routes) == 1


def test_a_command_named_like_an_existing_method_is_refused_before_its_route_is_added():
    service = atoll.Service("runs")

    @service.rpc
    async def record_run(user_id: int) -> int:
        return 1

    with pytest.raises(ConfigError, match="declared twice"):

        @service.command(RecordRun)
        async def record(cmd: RecordRun) -> int:
            return 1

    assert (len(service.handlers), service.routes) == (1, [])


@pytest.mark.parametrize("path", ["runs", "", "runs/{id}"])
def test_a_path_must_start_with_a_slash(path):
    service = atoll.Service("runs")

    async def list_runs() -> None:
        pass

    with pytest.raises(
        ConfigError, match=rf"route path {path!r} of route handler .* start with '/'"
    ):
        service.get(path)(list_runs)
    assert service.handlers == []


def test_a_commands_path_must_start_with_a_slash_and_nothing_is_added():
    service = atoll.Service("runs")

    async def record(cmd: RecordRun) -> int:
        return 1

    with pytest.raises(ConfigError, match="route path 'runs' of command handler"):
        service.command(RecordRun, path="runs")(record)
    assert (service.handlers, service.methods, service.routes) == ([], [], [])


@pytest.mark.parametrize("status", [199, 300, 404, 500])
def test_a_routes_status_must_be_a_success(status):
    service = atoll.Service("runs")

    async def list_runs() -> None:
        pass

    with pytest.raises(ConfigError, match=rf"status {status} of .* is not a success status"):
        service.get("/runs", status=status)(list_runs)
    assert service.handlers == []


@pytest.mark.parametrize("status", [200, 204, 299])
def test_a_success_status_is_accepted(status):
    service = atoll.Service("runs")

    @service.command(RecordRun, status=status)
    async def record(cmd: RecordRun) -> None:
        pass

    assert service.routes[0].status == status


@pytest.mark.parametrize("verb", ["TRACE", "OPTIONS", "HEAD", "GOT"])
def test_an_http_method_atoll_does_not_route_is_refused(verb):
    with pytest.raises(ConfigError, match=rf"HTTP method {verb!r} for '/runs' is not one atoll"):
        atoll.Service("runs").route(verb, "/runs")


@pytest.mark.parametrize("declare", ["command", "query", "on"])
@pytest.mark.parametrize("message", [RecordRun(1, 2.0), "RecordRun", None])
def test_a_message_type_must_be_a_class(declare, message):
    service = atoll.Service("runs")

    with pytest.raises(ProviderError, match="type must be a class, such as a frozen dataclass"):
        getattr(service, declare)(message)


def test_a_bad_handler_is_refused_when_decorated():
    service = atoll.Service("runs")

    with pytest.raises(ProviderError, match="has no type hint"):

        @service.rpc
        async def weekly(user_id) -> float:
            return 0.0

    assert service.methods == []


def test_error_declares_a_fault_callers_may_see():
    service = atoll.Service("runs")
    service.error(EmailTakenError, status=409, code=-32010, title="taken")

    fault = service.faults.describe(EmailTakenError("a@b.c"))

    assert fault is not None
    assert (fault.status, fault.code, fault.title, fault.detail) == (409, -32010, "taken", "a@b.c")


def test_a_bad_fault_is_refused():
    with pytest.raises(ConfigError, match="not an HTTP error status"):
        atoll.Service("runs").error(EmailTakenError, status=200)


def test_use_adds_middleware_in_order():
    async def first(call, call_next):
        return await call_next(call)

    async def second(call, call_next):
        return await call_next(call)

    service = atoll.Service("runs")
    service.use(first)
    service.use(second)

    assert service.middleware == [first, second]


def test_mount_adds_an_asgi_app_under_a_prefix():
    async def legacy(scope, receive, send):
        pass

    service = atoll.Service("runs")
    service.mount("/legacy", legacy)

    assert service.mounts == [("/legacy", legacy)]


@pytest.mark.parametrize("prefix", ["legacy", "/legacy/", "/"])
def test_a_mount_prefix_starts_with_a_slash_and_does_not_end_with_one(prefix):
    async def legacy(scope, receive, send):
        pass

    with pytest.raises(ConfigError, match=rf"mount prefix {prefix!r} must start with '/'"):
        atoll.Service("runs").mount(prefix, legacy)


def test_api_gathers_what_the_service_exposes():
    async def legacy(scope, receive, send):
        pass

    service = atoll.Service("runs", version="1.2.0", description="Runs.")

    @service.command(RecordRun)
    async def record(cmd: RecordRun) -> int:
        return 1

    @service.query(WeeklyDistance)
    async def weekly(query: WeeklyDistance) -> float:
        return 0.0

    @service.on(RunRecorded)
    async def tally(evt: RunRecorded) -> None:
        pass

    service.error(EmailTakenError)
    service.mount("/legacy", legacy)
    service.publishes(RunRecorded)

    api = service.api()

    assert (api.title, api.version, api.description) == ("runs", "1.2.0", "Runs.")
    assert api.routes == service.routes
    assert api.methods == service.methods
    taken = EmailTakenError("taken")
    assert api.faults.describe(taken) == service.faults.describe(taken) is not None
    assert api.mounts == [("/legacy", legacy)]
    assert api.routes is not service.routes
    assert [handler.name for handler in api.consumes] == ["record_run", "tally"]  # no query
    assert api.publishes == [RunRecorded]


def test_the_service_declares_options_providers_values_and_tasks_on_its_app():
    service = atoll.Service("runs")

    assert service.options("greeting", Greeting) is Greeting
    assert service.provide(Repo) is Repo
    service.value(RunRecorded(1))

    @service.task
    async def relay(repo: Repo) -> None:
        pass

    @service.task(name="sweeper")
    async def sweep() -> None:
        pass

    assert ("greeting", Greeting) in service.app.sections
    assert Repo in service.app.registry
    assert RunRecorded in service.app.registry
    assert [task.name for task in service.app.tasks] == ["relay", "sweeper"]


def test_name_version_and_description_are_the_apps():
    service = atoll.Service("runs", version="2.0.0", description="Runs.", env_prefix="RN")

    assert (service.name, service.version, service.description) == ("runs", "2.0.0", "Runs.")
    assert service.app.env_prefix == "RN"
    assert repr(service) == "Service('runs', version='2.0.0')"


def test_a_service_name_follows_the_app_rules():
    with pytest.raises(ConfigError, match="application name 'Runs' is not valid"):
        atoll.Service("Runs")


def test_a_service_runs_as_an_app_that_serves_http():
    service = atoll.Service("runs", version="1.0.0")

    app = service.__atoll_app__()

    assert isinstance(app, App)
    assert (app.name, app.version) == ("runs", "1.0.0")
    assert HttpServer in [provider.key for provider in app.conditional_providers]


def test_a_service_gives_an_asgi_app_for_an_outside_server():
    service = atoll.Service("runs")

    app = service.asgi()

    assert isinstance(app, ServiceApp)
    assert (app.name, app.target, app.http) == ("runs", service, None)
