"""REST endpoints: where each input comes from, how results are encoded, declaration errors."""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field

import httpx
import msgspec
import pytest

import atoll
from atoll.endpoints.http.asgi import HttpApp
from atoll.endpoints.http.rest import message_fields, path_names
from atoll.errors import ConfigError
from atoll.kernel.entrypoint import load_config, running
from atoll.service.composition import compose


@dataclass(frozen=True)
class NewRun:
    meters: float
    seconds: int


@dataclass(frozen=True)
class RunView:
    run_id: int
    user: str
    meters: float


@dataclass(frozen=True)
class RecordRun:
    user_id: int
    meters: float
    note: str = ""


@dataclass(frozen=True)
class RenameRun:
    run_id: int
    name: str


@dataclass(frozen=True)
class RunsOf:
    user_id: int
    tags: list[str] = field(default_factory=list)
    limit: int = 10


@dataclass(frozen=True)
class TotalOf:
    user_id: int
    unit: str = "m"


@dataclass(frozen=True)
class Page:
    limit: int = 10

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit}")


@dataclass(frozen=True)
class Resize:
    run_id: int
    meters: float

    def __post_init__(self) -> None:
        if self.meters <= 0:
            raise ValueError(f"meters must be positive, got {self.meters}")


class Point(msgspec.Struct, frozen=True):
    x: int
    y: int = 0
    tags: list[str] = msgspec.field(default_factory=list)


class Strict(msgspec.Struct, forbid_unknown_fields=True):
    x: int


@dataclass(frozen=True)
class Leg:
    meters: float
    seconds: float


@dataclass(frozen=True)
class Route:
    name: str
    legs: list[Leg]


@dataclass(frozen=True)
class Between:
    low: int
    high: int
    unit: str = "m"


@dataclass
class Counted:
    value: int
    derived: int = field(init=False, default=0)


class Seen:
    """What the handlers received, for the tests to assert on."""

    def __init__(self) -> None:
        self.calls: list[object] = []


async def get_run(run_id: int) -> RunView:
    return RunView(run_id, "ada", 5000.0)


async def runs_of_user(user: str, log: Seen, limit: int = 2, since: float = 0.0) -> list[RunView]:
    log.calls.append((user, limit, since))
    return [RunView(i, user, since) for i in range(limit)]


async def add_run(user: str, run: NewRun, log: Seen) -> RunView:
    log.calls.append(run)
    return RunView(7, user, run.meters)


async def replace_run(run_id: int, run: NewRun) -> None:
    return None


async def search(tag: list[str], log: Seen) -> dict[str, int]:
    log.calls.append(tag)
    return {name: len(name) for name in tag}


def pi() -> float:
    return 3.14


def hello() -> str:
    return "hello"


async def move(point: Point) -> Point:
    return Point(point.x + 1, point.y, point.tags)


async def mapping(data: dict[str, int]) -> int:
    return sum(data.values())


async def record_run(cmd: RecordRun, log: Seen) -> int:
    log.calls.append(cmd)
    return 1


async def rename_run(cmd: RenameRun, log: Seen) -> None:
    log.calls.append(cmd)


async def runs_of(query: RunsOf, log: Seen) -> list[int]:
    log.calls.append(query)
    return [query.user_id]


async def total_of(query: TotalOf, log: Seen) -> float:
    log.calls.append(query)
    return 42.0


def build() -> tuple[atoll.Service, Seen]:
    service = atoll.Service("runs")
    seen = Seen()
    service.value(seen)
    service.get("/runs/{run_id}")(get_run)
    service.get("/users/{user}/runs")(runs_of_user)
    service.post("/users/{user}/runs", status=201)(add_run)
    service.put("/runs/{run_id}")(replace_run)
    service.get("/search")(search)
    service.get("/pi")(pi)
    service.get("/hello")(hello)
    service.patch("/points")(move)
    service.post("/mapping")(mapping)
    service.command(RecordRun)(record_run)
    service.command(RenameRun, path="/runs/{run_id}/name")(rename_run)
    service.query(RunsOf)(runs_of)
    service.query(TotalOf, path="/users/{user_id}/total")(total_of)
    return service, seen


@contextlib.asynccontextmanager
async def client_for(service, *argv):
    app = compose(service.name, [service], serve=False)
    config = load_config(app, list(argv), {})
    async with running(app, config) as container:
        http = await container.aget(HttpApp)
        transport = httpx.ASGITransport(app=http)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
async def api():
    service, seen = build()
    async with client_for(service) as client:
        yield client, seen


async def test_a_typed_path_parameter_is_converted_to_the_handlers_type(api):
    client, _ = api
    response = await client.get("/runs/12")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"run_id": 12, "user": "ada", "meters": 5000.0}


async def test_a_path_parameter_of_the_wrong_type_is_a_422_naming_it(api):
    client, _ = api
    response = await client.get("/runs/twelve")
    assert response.status_code == 422
    assert "path.run_id" in response.json()["detail"]


async def test_query_parameters_are_decoded_by_type_with_their_defaults(api):
    client, seen = api
    response = await client.get("/users/ada/runs", params={"limit": "3", "since": "1.5"})
    assert response.status_code == 200
    assert [run["run_id"] for run in response.json()] == [0, 1, 2]
    await client.get("/users/bob/runs")
    assert seen.calls == [("ada", 3, 1.5), ("bob", 2, 0.0)]


async def test_a_query_parameter_of_the_wrong_type_is_a_422_naming_it(api):
    client, _ = api
    response = await client.get("/users/ada/runs", params={"limit": "many"})
    assert response.status_code == 422
    assert "`query.limit`" in response.json()["detail"]


async def test_a_repeated_query_key_fills_a_list_parameter(api):
    client, seen = api
    response = await client.get("/search?tag=a&tag=bb")
    assert response.json() == {"a": 1, "bb": 2}
    assert seen.calls == [["a", "bb"]]


async def test_a_missing_required_query_parameter_is_a_422(api):
    client, _ = api
    response = await client.get("/search")
    assert response.status_code == 422
    assert "tag" in response.json()["detail"]


async def test_the_last_value_of_a_repeated_scalar_query_key_wins(api):
    client, seen = api
    await client.get("/users/ada/runs?limit=1&limit=4")
    assert seen.calls == [("ada", 4, 0.0)]


async def test_a_dataclass_parameter_is_the_json_body_and_status_is_the_routes(api):
    client, seen = api
    response = await client.post("/users/ada/runs", json={"meters": 5000, "seconds": 1500})
    assert response.status_code == 201
    assert response.json() == {"run_id": 7, "user": "ada", "meters": 5000.0}
    assert seen.calls == [NewRun(5000.0, 1500)]


async def test_a_msgspec_struct_parameter_is_the_json_body(api):
    client, _ = api
    response = await client.patch("/points", json={"x": 1, "tags": ["a"]})
    assert response.json() == {"x": 2, "y": 0, "tags": ["a"]}


async def test_a_dict_parameter_is_the_json_body(api):
    client, _ = api
    response = await client.post("/mapping", json={"a": 1, "b": 2})
    assert response.json() == 3


async def test_a_handler_returning_none_answers_204_without_a_body(api):
    client, _ = api
    response = await client.put("/runs/1", json={"meters": 1, "seconds": 2})
    assert response.status_code == 204
    assert response.content == b""
    assert "content-length" not in response.headers


async def test_scalar_results_are_encoded_as_json(api):
    client, _ = api
    assert (await client.get("/pi")).json() == 3.14
    assert (await client.get("/hello")).json() == "hello"


async def test_a_commands_body_is_its_message(api):
    client, seen = api
    response = await client.post("/record-run", json={"user_id": 1, "meters": 5000})
    assert response.status_code == 200
    assert response.json() == 1
    assert seen.calls == [RecordRun(1, 5000.0)]


async def test_path_parameters_fill_the_fields_of_a_commands_message(api):
    client, seen = api
    response = await client.post("/runs/9/name", json={"name": "morning"})
    assert response.status_code == 204
    assert seen.calls == [RenameRun(9, "morning")]


async def test_a_commands_body_may_repeat_a_path_field_with_the_paths_value(api):
    client, seen = api
    response = await client.post("/runs/9/name", json={"run_id": 9, "name": "morning"})
    assert response.status_code == 204
    assert seen.calls == [RenameRun(9, "morning")]


async def test_a_body_field_that_disagrees_with_the_path_is_a_422_naming_both(api):
    client, seen = api
    response = await client.post("/runs/9/name", json={"run_id": 0, "name": "morning"})
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "the body's run_id (0) disagrees with the path's (9); leave run_id out of the body, "
        "or send the path's value"
    )
    assert seen.calls == []


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "/record-run", {"user_id": 1, "meters": 5.0, "metres": 5.0}),
        ("POST", "/runs/9/name", {"name": "morning", "metres": 5.0}),
        ("POST", "/users/ada/runs", {"meters": 5.0, "seconds": 9, "metres": 5.0}),
        ("PATCH", "/points", {"x": 1, "metres": 5.0}),
    ],
    ids=["command", "command-with-path", "dataclass-body", "struct-body"],
)
async def test_a_body_field_the_type_does_not_have_is_a_422_naming_it(api, method, url, body):
    client, seen = api
    response = await client.request(method, url, json=body)
    assert response.status_code == 422
    assert response.json()["detail"] == "Object contains unknown field `metres`"
    assert seen.calls == []


async def test_a_struct_that_forbids_unknown_fields_itself_answers_the_same():
    service = atoll.Service("points")

    @service.post("/strict")
    async def strict(point: Strict) -> int:
        return point.x

    async with client_for(service) as client:
        refused = await client.post("/strict", json={"x": 1, "y": 2})
        accepted = await client.post("/strict", json={"x": 1})
    assert refused.json()["detail"] == "Object contains unknown field `y`"
    assert accepted.json() == 1


async def test_a_body_missing_several_fields_is_a_422_naming_them_all(api):
    client, _ = api
    response = await client.post("/users/ada/runs", json={})
    assert response.status_code == 422
    assert response.json()["detail"] == "Object missing required fields `meters` and `seconds`"


async def test_a_body_missing_one_field_keeps_msgspecs_detail(api):
    client, _ = api
    response = await client.post("/record-run", json={"meters": 5.0})
    assert response.json()["detail"] == "Object missing required field `user_id`"


async def test_a_field_missing_deeper_in_the_body_keeps_msgspecs_path():
    service = atoll.Service("routes")

    @service.post("/routes")
    async def add_route(route: Route) -> int:
        return len(route.legs)

    async with client_for(service) as client:
        response = await client.post("/routes", json={"name": "hill", "legs": [{}]})
    assert response.json()["detail"] == "Object missing required field `meters` - at `$.legs[0]`"


async def test_a_query_missing_several_fields_is_a_422_naming_them_all():
    service = atoll.Service("runs")

    @service.query(Between)
    async def between(query: Between) -> int:
        return query.high - query.low

    async with client_for(service) as client:
        response = await client.get("/between?unit=km")
    assert response.status_code == 422
    assert response.json()["detail"] == "Object missing required fields `low` and `high`"


async def test_a_time_in_the_query_string_is_read_from_its_text_never_as_a_timestamp():
    service = atoll.Service("runs")

    @service.get("/week")
    async def week(
        day: dt.datetime | None = None,
        pace: dt.timedelta = dt.timedelta(0),
        laps: tuple[dt.datetime, ...] = (),
    ) -> list[str]:
        return [str(day), str(pace), str(laps)]

    async with client_for(service) as client:
        read = await client.get(
            "/week",
            params={"day": "2026-11-23T07:30:00Z", "pace": "PT5M", "laps": "2026-11-23T08:00:00Z"},
        )
        stamp = await client.get("/week", params={"day": "0.5"})
        seconds = await client.get("/week", params={"pace": "300"})
        listed = await client.get("/week?laps=2026-11-23T07:30:00Z&laps=1700000000")
    day, pace, laps = read.json()
    assert (day, pace) == ("2026-11-23 07:30:00+00:00", "0:05:00")
    assert laps.startswith("(datetime.datetime(2026, 11, 23, 8, 0")
    assert (stamp.status_code, seconds.status_code, listed.status_code) == (422, 422, 422)
    assert stamp.json()["detail"] == "Invalid RFC3339 encoded datetime - at `query.day`"
    assert seconds.json()["detail"].endswith(" - at `query.pace`")
    assert listed.json()["detail"].endswith(" - at `query.laps[1]`")


async def test_a_commands_body_may_leave_out_the_fields_the_path_gives():
    service = atoll.Service("runs")
    received = []

    @service.command(RenameRun, path="/runs/{run_id}/name")
    async def rename_run(cmd: RenameRun) -> None:
        received.append(cmd)

    async with client_for(service) as client:
        response = await client.post("/runs/3/name", json={"name": "x"})
    assert response.status_code == 204
    assert received == [RenameRun(3, "x")]


async def test_a_query_over_get_is_made_from_the_query_string_with_strings_converted(api):
    client, seen = api
    response = await client.get("/runs-of?user_id=1&tags=a&tags=b")
    assert response.status_code == 200
    assert response.json() == [1]
    assert seen.calls == [RunsOf(1, ["a", "b"], 10)]


async def test_a_query_message_takes_fields_from_the_path_too(api):
    client, seen = api
    response = await client.get("/users/5/total?unit=km")
    assert response.json() == 42.0
    assert seen.calls == [TotalOf(5, "km")]


async def test_a_query_missing_a_required_field_is_a_422(api):
    client, _ = api
    response = await client.get("/runs-of")
    assert response.status_code == 422
    assert "user_id" in response.json()["detail"]


async def test_a_query_string_value_of_the_wrong_type_is_a_422_naming_it(api):
    client, _ = api
    response = await client.get("/runs-of?user_id=one")
    assert response.status_code == 422
    assert "`query.user_id`" in response.json()["detail"]


async def test_a_command_body_of_the_wrong_type_is_a_422_with_the_json_path(api):
    client, _ = api
    response = await client.post("/record-run", json={"user_id": 1, "meters": "far"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "`$.meters`" in response.json()["detail"]


async def test_an_invalid_json_body_is_a_422_problem(api):
    client, _ = api
    response = await client.post(
        "/record-run", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("the body is not valid JSON")


async def test_a_command_body_sent_as_another_media_type_is_a_415(api):
    client, _ = api
    response = await client.post(
        "/record-run", content=b"user_id=1", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.headers["accept"] == "application/json"


async def test_a_query_message_refusing_its_values_is_a_422_with_its_reason():
    service = atoll.Service("runs")

    @service.query(Page)
    async def page(query: Page) -> int:
        return query.limit

    async with client_for(service) as client:
        refused = await client.get("/page?limit=0")
        accepted = await client.get("/page?limit=3")
    assert refused.status_code == 422
    assert refused.json()["detail"] == "limit must be at least 1, got 0"
    assert accepted.json() == 3


@pytest.mark.parametrize(
    ("path", "url"), [("/resize", "/resize"), ("/runs/{run_id}/resize", "/runs/1/resize")]
)
async def test_a_command_message_refusing_its_values_is_a_422_with_its_reason(path, url):
    service = atoll.Service("runs")

    @service.command(Resize, path=path)
    async def resize(cmd: Resize) -> float:
        return cmd.meters

    async with client_for(service) as client:
        refused = await client.post(url, json={"run_id": 1, "meters": -1})
        accepted = await client.post(url, json={"run_id": 1, "meters": 2})
    assert refused.status_code == 422
    assert refused.json()["detail"] == "meters must be positive, got -1.0"
    assert accepted.json() == 2.0


def test_path_names_are_the_whole_segments_in_braces():
    assert path_names("/users/{user}/runs/{run_id}") == ["user", "run_id"]
    assert path_names("/runs/{run_id}x") == []


def test_message_fields_of_a_dataclass_skip_fields_not_in_init_and_keep_defaults():
    fields = message_fields(Counted)
    assert [(f.name, f.required) for f in fields] == [("value", True)]
    record = message_fields(RunsOf)
    assert [(f.name, f.default) for f in record if not f.required] == [("tags", []), ("limit", 10)]


def test_message_fields_of_a_struct_keep_defaults_and_default_factories():
    fields = message_fields(Point)
    assert [(f.name, f.required, None if f.required else f.default) for f in fields] == [
        ("x", True, None),
        ("y", False, 0),
        ("tags", False, []),
    ]


def test_a_message_type_that_is_neither_dataclass_nor_struct_is_a_config_error():
    with pytest.raises(ConfigError, match="neither a dataclass nor a msgspec Struct"):
        message_fields(Seen)


async def start(service):
    async with client_for(service):
        pass


async def test_two_body_parameters_are_a_config_error_naming_the_handler():
    service = atoll.Service("runs")

    @service.post("/runs")
    async def add(run: NewRun, other: RunView) -> None: ...

    with pytest.raises(ConfigError, match=r"route handler 'add'.* has two body parameters"):
        await start(service)


async def test_a_dataclass_parameter_on_get_is_a_config_error_naming_the_handler():
    service = atoll.Service("runs")

    @service.get("/runs")
    async def listing(run: NewRun) -> None: ...

    with pytest.raises(ConfigError, match=r"route handler 'listing'.* answers GET, which has no"):
        await start(service)


async def test_a_path_naming_a_missing_parameter_is_a_config_error_naming_the_handler():
    service = atoll.Service("runs")

    @service.get("/runs/{run_id}")
    async def listing() -> None: ...

    with pytest.raises(
        ConfigError, match=r"names run_id in its path, but route handler 'listing'.* has no such"
    ):
        await start(service)


async def test_a_commands_path_naming_no_field_is_a_config_error_naming_the_handler():
    service = atoll.Service("runs")

    @service.command(RecordRun, path="/users/{user}/runs")
    async def record_run(cmd: RecordRun) -> None: ...

    with pytest.raises(ConfigError, match=r"names user in its path, but command handler"):
        await start(service)


async def forget_run(run_id: int) -> None:
    """A route from its path alone, with nothing to answer."""


async def tag_run(run_id: int, new: NewRun, tag: str = "none") -> dict[str, object]:
    """A route with a path parameter, a query parameter and a body."""
    return {"run_id": run_id, "tag": tag, "meters": new.meters}


async def test_a_path_only_handler_returning_none_answers_204():
    service = atoll.Service("runs")
    service.delete("/runs/{run_id}")(forget_run)
    async with client_for(service) as client:
        response = await client.delete("/runs/3")
    assert (response.status_code, response.content) == (204, b"")


async def test_a_route_with_path_query_and_body_gets_all_three():
    service = atoll.Service("runs")
    service.post("/runs/{run_id}/tags")(tag_run)
    async with client_for(service) as client:
        response = await client.post(
            "/runs/7/tags", params={"tag": "hills"}, json={"meters": 5.0, "seconds": 9}
        )
    assert response.json() == {"run_id": 7, "tag": "hills", "meters": 5.0}


@pytest.mark.parametrize(
    ("params", "rest_detail", "rpc_detail"),
    [
        (
            {"user_id": 1, "meters": 5.0, "metres": 5.0},
            "Object contains unknown field `metres`",
            "record_run has no parameter 'metres'; it takes user_id, meters, note",
        ),
        (
            {"note": "x"},
            "Object missing required fields `user_id` and `meters`",
            "record_run needs the parameters 'user_id' and 'meters'",
        ),
    ],
    ids=["unknown", "missing"],
)
async def test_rest_and_json_rpc_refuse_the_same_params_of_a_command(
    api, params, rest_detail, rpc_detail
):
    client, seen = api
    rest = await client.post("/record-run", json=params)
    call = {"jsonrpc": "2.0", "method": "record_run", "params": params, "id": 1}
    rpc = (await client.post("/rpc", json=call)).json()
    assert (rest.status_code, rest.json()["detail"]) == (422, rest_detail)
    assert (rpc["error"]["code"], rpc["error"]["data"]["detail"]) == (-32602, rpc_detail)
    assert seen.calls == []
