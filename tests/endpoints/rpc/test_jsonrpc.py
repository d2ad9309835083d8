"""The JSON-RPC 2.0 engine: ids, notifications, batches, invalid requests, params and errors."""

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from atoll.endpoints.json_limits import JsonLimits
from atoll.endpoints.rpc.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    MAX_DEPTH,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    JsonRpc,
)
from atoll.endpoints.rpc.methods import NO_DEFAULT, Param, RpcMethod
from atoll.errors import ConfigError
from atoll.messaging.faults import FaultMap
from atoll.observability.access import AccessLog


@dataclass(frozen=True)
class Point:
    x: int
    y: int = 0


class EmailTakenError(Exception):
    pass


calls: list[dict[str, Any]] = []


async def add(args: dict[str, Any]) -> Any:
    calls.append(args)
    return args["a"] + args["b"]


async def echo(args: dict[str, Any]) -> Any:
    return args["value"]


async def greet(args: dict[str, Any]) -> Any:
    return f"hello {args['name']}"


async def tags(args: dict[str, Any]) -> Any:
    args["tags"].append("seen")
    return args["tags"]


async def kinds(args: dict[str, Any]) -> Any:
    return type(args["p"]).__name__, args["p"].x, args["p"].y


async def zero(args: dict[str, Any]) -> Any:
    return "zero"


async def boom(args: dict[str, Any]) -> Any:
    raise RuntimeError("password=hunter2 leaked")


async def taken(args: dict[str, Any]) -> Any:
    raise EmailTakenError("ada@example.org is taken")


async def strict(args: dict[str, Any]) -> Any:
    return msgspec.convert("x", int)


async def opaque(args: dict[str, Any]) -> Any:
    return object()


async def where(args: dict[str, Any]) -> Any:
    return Point(args["x"], 2)


METHODS = (
    RpcMethod("add", (Param("a", int), Param("b", int)), add),
    RpcMethod("echo", (Param("value", Any),), echo),
    RpcMethod("greet", (Param("name", str, "world"),), greet),
    RpcMethod("tags", (Param("tags", list[str], ["new"]),), tags),
    RpcMethod("kw", (Param("a", int), Param("b", int, positional=False)), add),
    RpcMethod("kinds", (Param("p", Point),), kinds),
    RpcMethod("zero", (), zero),
    RpcMethod("boom", (), boom),
    RpcMethod("taken", (), taken),
    RpcMethod("strict", (), strict),
    RpcMethod("opaque", (), opaque),
    RpcMethod("where", (Param("x", int),), where),
)


@pytest.fixture
def faults() -> FaultMap:
    faults = FaultMap()
    faults.add(EmailTakenError, status=409, code=-32010)
    return faults


@pytest.fixture
def rpc(faults: FaultMap) -> JsonRpc:
    return JsonRpc(METHODS, faults=faults)


def request(method: str, params: Any = NO_DEFAULT, id: Any = 1) -> dict[str, Any]:  # noqa: A002 - the member's name
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not NO_DEFAULT:
        message["params"] = params
    if id is not NO_DEFAULT:
        message["id"] = id
    return message


async def answer(rpc: JsonRpc, body: Any) -> Any:
    """The decoded answer to ``body`` (bytes as given, anything else as JSON), or None."""
    raw = await rpc.handle(body if isinstance(body, bytes) else json.dumps(body).encode())
    return None if raw is None else json.loads(raw)


def assert_error(response: Any, code: int, id: Any = None) -> dict[str, Any]:  # noqa: A002
    assert set(response) == {"jsonrpc", "error", "id"}
    assert response["jsonrpc"] == "2.0"
    assert response["id"] == id
    assert type(response["id"]) is type(id)
    assert response["error"]["code"] == code
    return response["error"]


# --- ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rid", [0, "", "abc", 1.5, -1, None])
async def test_id_is_echoed_with_its_json_type(rpc: JsonRpc, rid: Any) -> None:
    response = await answer(rpc, request("add", [1, 2], rid))
    assert response == {"jsonrpc": "2.0", "result": 3, "id": rid}
    assert type(response["id"]) is type(rid)


async def test_id_echo_keeps_the_exact_json_number(rpc: JsonRpc) -> None:
    raw = await rpc.handle(b'{"jsonrpc":"2.0","method":"zero","id":1.5}')
    assert raw == b'{"jsonrpc":"2.0","result":"zero","id":1.5}'


@pytest.mark.parametrize("rid", [{"a": 1}, [1], True, False])
async def test_id_of_another_type_makes_the_request_invalid_with_null_id(
    rpc: JsonRpc, rid: Any
) -> None:
    error = assert_error(await answer(rpc, request("add", [1, 2], rid)), INVALID_REQUEST)
    assert "id" in error["data"]["detail"]


@pytest.mark.parametrize(
    "body",
    [
        request("add", [1, 2]),
        request("nope"),
        request("add", ["x", 2]),
        request("boom"),
        {"jsonrpc": "2.0"},
        request("zero", None, None),
    ],
)
async def test_every_response_has_exactly_one_of_result_or_error(rpc: JsonRpc, body: Any) -> None:
    response = await answer(rpc, body)
    assert response["jsonrpc"] == "2.0"
    assert "id" in response
    assert ("result" in response) != ("error" in response)


# --- notifications ------------------------------------------------------------------------


async def test_notification_is_run_and_not_answered(rpc: JsonRpc) -> None:
    calls.clear()
    assert await answer(rpc, request("add", [1, 2], NO_DEFAULT)) is None
    assert calls == [{"a": 1, "b": 2}]


@pytest.mark.parametrize(
    "body",
    [
        request("nope", id=NO_DEFAULT),
        request("add", ["x", 2], NO_DEFAULT),
        request("add", [1, 2, 3], NO_DEFAULT),
        request("boom", id=NO_DEFAULT),
        request("taken", id=NO_DEFAULT),
    ],
)
async def test_notification_is_not_answered_even_on_error(rpc: JsonRpc, body: Any) -> None:
    assert await answer(rpc, body) is None


async def test_failing_notification_is_still_logged(
    rpc: JsonRpc, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="atoll.rpc"):
        assert await answer(rpc, request("boom", id=NO_DEFAULT)) is None
    assert [record.name for record in caplog.records] == ["atoll.rpc"]


async def test_null_id_is_a_call_and_is_answered(rpc: JsonRpc) -> None:
    assert await answer(rpc, request("zero", id=None)) == {
        "jsonrpc": "2.0",
        "result": "zero",
        "id": None,
    }


async def test_invalid_request_without_id_is_still_answered(rpc: JsonRpc) -> None:
    body = {"jsonrpc": "2.0", "method": 1}
    assert_error(await answer(rpc, body), INVALID_REQUEST)


async def test_notifications_inside_a_batch_are_not_answered(rpc: JsonRpc) -> None:
    batch = [
        request("add", [1, 2], "a"),
        request("boom", id=NO_DEFAULT),
        request("nope", id=NO_DEFAULT),
        request("add", [3, 4], "b"),
    ]
    response = await answer(rpc, batch)
    assert response == [
        {"jsonrpc": "2.0", "result": 3, "id": "a"},
        {"jsonrpc": "2.0", "result": 7, "id": "b"},
    ]


async def test_all_notification_batch_gives_no_body(rpc: JsonRpc) -> None:
    batch = [request("add", [1, 2], NO_DEFAULT), request("nope", id=NO_DEFAULT)]
    assert await rpc.handle(json.dumps(batch).encode()) is None


# --- batches ------------------------------------------------------------------------------


async def test_empty_batch_gives_a_single_invalid_request_error(rpc: JsonRpc) -> None:
    assert_error(await answer(rpc, b"[]"), INVALID_REQUEST)


async def test_unparseable_json_gives_a_single_parse_error_with_null_id(rpc: JsonRpc) -> None:
    response = await answer(rpc, b'[{"jsonrpc": "2.0", "method": "add"')
    assert assert_error(response, PARSE_ERROR)["message"] == "Parse error"


@pytest.mark.parametrize("body", [b"[1]", b"[1,2,3]", b'["a", null, []]'])
async def test_batch_of_non_objects_gives_an_error_for_each(rpc: JsonRpc, body: bytes) -> None:
    response = await answer(rpc, body)
    assert isinstance(response, list)
    assert len(response) == len(json.loads(body))
    for item in response:
        assert_error(item, INVALID_REQUEST)


async def test_mixed_batch_answers_in_request_order(rpc: JsonRpc) -> None:
    batch = [request("add", [1, 2], 1), 7, request("nope", id=3), request("zero", id=4)]
    response = await answer(rpc, batch)
    assert [item["id"] for item in response] == [1, None, 3, 4]
    assert response[0]["result"] == 3
    assert_error(response[1], INVALID_REQUEST)
    assert_error(response[2], METHOD_NOT_FOUND, 3)
    assert response[3]["result"] == "zero"


async def test_batch_larger_than_max_batch_is_refused_whole(faults: FaultMap) -> None:
    rpc = JsonRpc(METHODS, faults=faults, max_batch=2)
    response = await answer(rpc, [request("zero", id=index) for index in range(3)])
    error = assert_error(response, INVALID_REQUEST)
    assert "at most 2" in error["data"]["detail"]


async def test_batch_at_max_batch_is_answered(faults: FaultMap) -> None:
    rpc = JsonRpc(METHODS, faults=faults, max_batch=2)
    response = await answer(rpc, [request("zero", id=index) for index in range(2)])
    assert [item["result"] for item in response] == ["zero", "zero"]


async def test_batch_requests_run_concurrently() -> None:
    ping, pong = asyncio.Event(), asyncio.Event()

    async def first(args: dict[str, Any]) -> Any:
        ping.set()
        await pong.wait()
        return "first"

    async def second(args: dict[str, Any]) -> Any:
        pong.set()
        await ping.wait()
        return "second"

    rpc = JsonRpc([RpcMethod("first", (), first), RpcMethod("second", (), second)])
    # Run one after the other, each would wait forever for the other: the bound only ends
    # a broken run instead of hanging the suite.
    async with asyncio.timeout(10):
        response = await answer(rpc, [request("first", id=1), request("second", id=2)])
    assert [item["result"] for item in response] == ["first", "second"]


# --- invalid requests ---------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"1", b'"add"', b"null", b"true"])
async def test_body_that_is_neither_object_nor_array_is_an_invalid_request(
    rpc: JsonRpc, body: bytes
) -> None:
    assert_error(await answer(rpc, body), INVALID_REQUEST)


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ({"method": "zero", "id": 1}, "jsonrpc"),
        ({"jsonrpc": "1.0", "method": "zero", "id": 1}, "jsonrpc"),
        ({"jsonrpc": 2.0, "method": "zero", "id": 1}, "jsonrpc"),
        ({"jsonrpc": "2.0", "id": 1}, "method"),
        ({"jsonrpc": "2.0", "method": 1, "id": 1}, "method"),
        ({"jsonrpc": "2.0", "method": None, "id": 1}, "method"),
        ({"jsonrpc": "2.0", "method": "zero", "params": "bar", "id": 1}, "params"),
        ({"jsonrpc": "2.0", "method": "zero", "params": 1, "id": 1}, "params"),
        ({"jsonrpc": "2.0", "method": "zero", "params": True, "id": 1}, "params"),
    ],
)
async def test_malformed_request_is_invalid_and_echoes_a_readable_id(
    rpc: JsonRpc, body: Any, word: str
) -> None:
    error = assert_error(await answer(rpc, body), INVALID_REQUEST, 1)
    assert error["message"] == "Invalid Request"
    assert word in error["data"]["detail"]


async def test_params_null_is_taken_as_absent(rpc: JsonRpc) -> None:
    assert (await answer(rpc, request("greet", None)))["result"] == "hello world"


async def test_extra_members_are_ignored(rpc: JsonRpc) -> None:
    body = {**request("zero"), "meta": {"trace": "x"}}
    assert (await answer(rpc, body))["result"] == "zero"


# --- methods ------------------------------------------------------------------------------


async def test_unknown_method_is_not_found_and_named(rpc: JsonRpc) -> None:
    error = assert_error(await answer(rpc, request("nope", id="q")), METHOD_NOT_FOUND, "q")
    assert error["message"] == "Method not found"
    assert "'nope'" in error["data"]["detail"]


@pytest.mark.parametrize("name", ["rpc.other", "rpc.", "rpc.Discover"])
async def test_reserved_rpc_names_are_not_found(rpc: JsonRpc, name: str) -> None:
    assert_error(await answer(rpc, request(name)), METHOD_NOT_FOUND, 1)


async def test_rpc_discover_answers_the_openrpc_document(rpc: JsonRpc) -> None:
    response = await answer(rpc, request("rpc.discover"))
    assert response["result"] == json.loads(msgspec.json.encode(rpc.document()))
    assert response["result"]["openrpc"] == "1.3.2"


async def test_rpc_discover_answers_the_same_document_each_time(rpc: JsonRpc) -> None:
    first = await rpc.handle(json.dumps(request("rpc.discover")).encode())
    assert await rpc.handle(json.dumps(request("rpc.discover")).encode()) == first


def test_methods_are_the_services_own_and_read_only(rpc: JsonRpc) -> None:
    assert list(rpc.methods) == [method.name for method in METHODS]
    assert rpc.methods["add"] is METHODS[0]
    with pytest.raises(TypeError):
        rpc.methods["x"] = METHODS[0]  # type: ignore[index]


def test_method_named_in_the_rpc_namespace_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"rpc\.x.*reserves"):
        JsonRpc([RpcMethod("rpc.x", (), zero)])


def test_two_methods_of_one_name_are_refused() -> None:
    with pytest.raises(ConfigError, match="two methods are named 'zero'"):
        JsonRpc([RpcMethod("zero", (), zero), RpcMethod("zero", (), zero)])


def test_parameter_named_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="names a parameter twice"):
        JsonRpc([RpcMethod("add", (Param("a", int), Param("a", int)), add)])


@pytest.mark.parametrize("name", ["two words", "__private"])
def test_parameter_msgspec_cannot_hold_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="msgspec cannot hold"):
        JsonRpc([RpcMethod("m", (Param(name, int),), add)])


def test_max_batch_below_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="max_batch is 0"):
        JsonRpc(METHODS, max_batch=0)


def test_required_param_is_marked_by_no_default() -> None:
    assert Param("a", int).required
    assert not Param("a", int, None).required
    assert repr(NO_DEFAULT) == "NO_DEFAULT"


# --- params -------------------------------------------------------------------------------


async def test_positional_params_bind_in_signature_order(rpc: JsonRpc) -> None:
    calls.clear()
    assert (await answer(rpc, request("add", [10, 3])))["result"] == 13
    assert calls == [{"a": 10, "b": 3}]


async def test_named_params_bind_by_name(rpc: JsonRpc) -> None:
    calls.clear()
    assert (await answer(rpc, request("add", {"b": 3, "a": 10})))["result"] == 13
    assert calls == [{"a": 10, "b": 3}]


async def test_wrong_type_gives_invalid_params_with_detail_and_path(rpc: JsonRpc) -> None:
    error = assert_error(await answer(rpc, request("add", {"a": "1", "b": 2})), INVALID_PARAMS, 1)
    assert error == {
        "code": INVALID_PARAMS,
        "message": "Invalid params",
        "data": {"detail": "Expected `int`, got `str`", "path": "$.a"},
    }


async def test_positional_wrong_type_is_reported_under_the_parameter_name(rpc: JsonRpc) -> None:
    error = assert_error(await answer(rpc, request("add", [1, "2"])), INVALID_PARAMS, 1)
    assert error["data"]["path"] == "$.b"


async def test_bool_is_not_taken_for_an_int(rpc: JsonRpc) -> None:
    error = assert_error(await answer(rpc, request("add", [True, 2])), INVALID_PARAMS, 1)
    assert error["data"] == {"detail": "Expected `int`, got `bool`", "path": "$.a"}


async def test_nested_type_error_points_inside_the_parameter(rpc: JsonRpc) -> None:
    error = assert_error(await answer(rpc, request("kinds", [{"x": "1"}])), INVALID_PARAMS, 1)
    assert error["data"] == {"detail": "Expected `int`, got `str`", "path": "$.p.x"}


async def test_too_many_positional_params_names_the_limit(rpc: JsonRpc) -> None:
    error = assert_error(await answer(rpc, request("add", [1, 2, 3])), INVALID_PARAMS, 1)
    assert error["data"] == {
        "detail": "add takes at most 2 positional parameters (a, b); got 3",
        "path": "$[2]",
    }


@pytest.mark.parametrize("params", [[1], {"a": 1}])
async def test_missing_required_param_is_named(rpc: JsonRpc, params: Any) -> None:
    error = assert_error(await answer(rpc, request("add", params)), INVALID_PARAMS, 1)
    assert error["data"] == {"detail": "add needs the parameter 'b'", "path": "$.b"}


async def test_every_missing_required_param_is_named(rpc: JsonRpc) -> None:
    error = assert_error(await answer(rpc, request("add", {})), INVALID_PARAMS, 1)
    assert error["data"] == {"detail": "add needs the parameters 'a' and 'b'", "path": "$.a"}


async def test_unknown_named_param_is_named(rpc: JsonRpc) -> None:
    body = request("add", {"a": 1, "b": 2, "c": 3})
    error = assert_error(await answer(rpc, body), INVALID_PARAMS, 1)
    assert error["data"] == {"detail": "add has no parameter 'c'; it takes a, b", "path": "$.c"}


async def test_keyword_only_param_is_refused_positionally(rpc: JsonRpc) -> None:
    error = assert_error(await answer(rpc, request("kw", [1, 2])), INVALID_PARAMS, 1)
    assert "at most 1 positional parameters (a)" in error["data"]["detail"]


async def test_keyword_only_param_is_accepted_by_name(rpc: JsonRpc) -> None:
    assert (await answer(rpc, request("kw", {"a": 1, "b": 2})))["result"] == 3


async def test_missing_keyword_only_param_is_named_when_called_positionally(
    rpc: JsonRpc,
) -> None:
    error = assert_error(await answer(rpc, request("kw", [1])), INVALID_PARAMS, 1)
    assert error["data"]["path"] == "$.b"


@pytest.mark.parametrize("params", [NO_DEFAULT, None, [], {}])
async def test_default_fills_an_omitted_param(rpc: JsonRpc, params: Any) -> None:
    assert (await answer(rpc, request("greet", params)))["result"] == "hello world"


async def test_mutable_default_is_fresh_for_each_call(rpc: JsonRpc) -> None:
    assert (await answer(rpc, request("tags")))["result"] == ["new", "seen"]
    assert (await answer(rpc, request("tags")))["result"] == ["new", "seen"]


@pytest.mark.parametrize("params", [NO_DEFAULT, None, [], {}])
async def test_zero_arg_method_accepts_no_params_or_empty_ones(rpc: JsonRpc, params: Any) -> None:
    assert (await answer(rpc, request("zero", params)))["result"] == "zero"


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ([1], "zero takes no positional parameters; got 1"),
        ({"x": 1}, "zero has no parameter 'x'; it takes no parameters"),
    ],
)
async def test_zero_arg_method_refuses_params(rpc: JsonRpc, params: Any, detail: str) -> None:
    error = assert_error(await answer(rpc, request("zero", params)), INVALID_PARAMS, 1)
    assert error["data"]["detail"] == detail


async def test_dataclass_param_arrives_as_a_dataclass_instance(rpc: JsonRpc) -> None:
    response = await answer(rpc, request("kinds", {"p": {"x": 3}}))
    assert response["result"] == ["Point", 3, 0]


# --- errors -------------------------------------------------------------------------------


async def test_unexpected_exception_is_an_internal_error_with_only_a_correlation_id(
    rpc: JsonRpc, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="atoll.rpc"):
        raw = await rpc.handle(json.dumps(request("boom", id=7)).encode())
    assert raw is not None
    assert b"hunter2" not in raw
    assert b"RuntimeError" not in raw
    error = assert_error(json.loads(raw), INTERNAL_ERROR, 7)
    assert error["message"] == "Internal error"
    correlation_id = error["data"]["correlation_id"]
    assert set(error["data"]) == {"correlation_id"}
    assert len(correlation_id) == 32
    [record] = caplog.records
    assert (record.name, record.levelno) == ("atoll.rpc", logging.ERROR)
    assert correlation_id in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)


async def test_each_internal_error_has_its_own_correlation_id(rpc: JsonRpc) -> None:
    response = await answer(rpc, [request("boom", id=1), request("boom", id=2)])
    assert [item["id"] for item in response] == [1, 2]
    first, second = (item["error"]["data"]["correlation_id"] for item in response)
    assert first != second


async def test_validation_error_inside_a_method_is_internal_not_invalid_params(
    rpc: JsonRpc,
) -> None:
    assert_error(await answer(rpc, request("strict")), INTERNAL_ERROR, 1)


async def test_declared_fault_becomes_an_application_error(rpc: JsonRpc) -> None:
    error = assert_error(await answer(rpc, request("taken")), -32010, 1)
    assert error == {
        "code": -32010,
        "message": "email taken",
        "data": {"detail": "ada@example.org is taken", "type": "EmailTakenError"},
    }


async def test_fault_declared_after_the_engine_is_built_is_seen() -> None:
    faults = FaultMap()
    rpc = JsonRpc(METHODS, faults=faults)
    faults.add(EmailTakenError, code=-32011)
    assert_error(await answer(rpc, request("taken")), -32011, 1)


async def test_unencodable_result_is_a_logged_internal_error(
    rpc: JsonRpc, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="atoll.rpc"):
        error = assert_error(await answer(rpc, request("opaque")), INTERNAL_ERROR, 1)
    [record] = caplog.records
    assert error["data"]["correlation_id"] in record.getMessage()


async def test_concurrent_errors_each_carry_their_own_id(rpc: JsonRpc) -> None:
    batch = [
        request("taken", id=1),
        request("taken", id=2),
        request("nope", id=3),
        request("nope", id=4),
        request("add", ["x"], id=5),
        request("add", ["x"], id=6),
    ]
    response = await answer(rpc, batch)
    assert [item["id"] for item in response] == [1, 2, 3, 4, 5, 6]
    assert [item["error"]["code"] for item in response] == [-32010, -32010] + [
        METHOD_NOT_FOUND
    ] * 2 + [INVALID_PARAMS] * 2


# --- results ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ([1, "a"], [1, "a"]), ({"k": [True]}, {"k": [True]}), (1.5, 1.5)],
)
async def test_result_is_encoded_with_msgspec(rpc: JsonRpc, value: Any, expected: Any) -> None:
    assert await answer(rpc, request("echo", [value])) == {
        "jsonrpc": "2.0",
        "result": expected,
        "id": 1,
    }


async def test_dataclass_result_is_encoded_as_an_object(rpc: JsonRpc) -> None:
    assert (await answer(rpc, request("where", [1])))["result"] == {"x": 1, "y": 2}


# --- JSON the engine refuses --------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"jsonrpc":"2.0","method":"echo","params":[NaN],"id":1}',
        b'{"jsonrpc":"2.0","method":"echo","params":[Infinity],"id":1}',
        b'{"jsonrpc":"2.0","method":"echo","params":[-Infinity],"id":1}',
        b'{"jsonrpc":"2.0","method":"echo","params":[1e400],"id":1}',
        b'{"jsonrpc":"2.0","method":"echo","params":["\xff"],"id":1}',
        b"",
    ],
)
async def test_json_outside_the_standard_is_a_parse_error(rpc: JsonRpc, body: bytes) -> None:
    assert_error(await answer(rpc, body), PARSE_ERROR)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b'{"jsonrpc":"2.0","method":"zero","method":"add","id":1}', "method"),
        (b'{"jsonrpc":"2.0","method":"echo","params":{"value":1,"value":2},"id":1}', "value"),
        (b'{"jsonrpc":"2.0","method":"echo","params":[[{"a":1, "b":{"c":1,"c" :2}}]],"id":1}', "c"),
        (b'{"jsonrpc":"2.0","method":"echo","params":["x\\":", {"k":1,"k":1}],"id":1}', "k"),
    ],
)
async def test_repeated_key_at_any_depth_makes_the_request_invalid(
    rpc: JsonRpc, body: bytes, key: str
) -> None:
    response = await answer(rpc, body)
    error = assert_error(response, INVALID_REQUEST, None if key == "method" else 1)
    assert f"{key!r} appears twice" in error["data"]["detail"]


async def test_repeated_key_makes_the_request_invalid_with_access_lines_on_too(
    faults: FaultMap,
) -> None:
    logged = JsonRpc(METHODS, faults=faults, access=AccessLog(["rpc"]))
    body = b'{"jsonrpc":"2.0","method":"echo","params":{"value":1,"value":2},"id":1}'
    error = assert_error(await answer(logged, body), INVALID_REQUEST, 1)
    assert "'value' appears twice" in error["data"]["detail"]


async def test_repeated_id_key_gives_a_null_id(rpc: JsonRpc) -> None:
    body = b'{"jsonrpc":"2.0","method":"zero","id":1,"id":2}'
    assert_error(await answer(rpc, body), INVALID_REQUEST)


async def test_repeated_key_refuses_only_its_request_of_a_batch(rpc: JsonRpc) -> None:
    body = (
        b'[{"jsonrpc":"2.0","method":"zero","id":1},'
        b'{"jsonrpc":"2.0","method":"echo","params":{"value":1,"value":2},"id":2},'
        b'{"jsonrpc":"2.0","method":"echo","params":[{"a":1,"a":1}]}]'
    )
    response = await answer(rpc, body)
    assert response[0] == {"jsonrpc": "2.0", "result": "zero", "id": 1}
    assert_error(response[1], INVALID_REQUEST, 2)
    assert_error(response[2], INVALID_REQUEST)
    assert len(response) == 3


@pytest.mark.parametrize(
    "value",
    ['a":b', 'x\\":y', "http://example.org:80", '":":":'],
)
async def test_colons_and_escaped_quotes_in_strings_are_not_repeated_keys(
    rpc: JsonRpc, value: str
) -> None:
    response = await answer(rpc, request("echo", {"value": {"k": value}}))
    assert response["result"] == {"k": value}


async def test_many_shallow_arrays_are_accepted(rpc: JsonRpc) -> None:
    value = [[]] * (2 * MAX_DEPTH)
    assert (await answer(rpc, request("echo", [value])))["result"] == value


def nested(depth: int) -> Any:
    """A value that brings a call of echo to ``depth`` arrays and objects, and is walked."""
    chain: Any = []
    for _ in range(depth - 4):  # the request, its params, the value and the chain's own
        chain = [chain]
    # the empty arrays beside the chain bring the brackets over MAX_DEPTH: the depth is walked
    return [chain, [], [], [], []]


async def test_nesting_up_to_max_depth_is_accepted(rpc: JsonRpc) -> None:
    value = nested(MAX_DEPTH)
    assert (await answer(rpc, request("echo", [value])))["result"] == value


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
        json.dumps(request("echo", [nested(MAX_DEPTH + 1)])).encode(),
        b'{"jsonrpc":"2.0","method":"echo","params":['
        + b'{"a":' * MAX_DEPTH
        + b"1"
        + b"}" * MAX_DEPTH
        + b'],"id":1}',
    ],
)
async def test_nesting_deeper_than_max_depth_is_a_parse_error(rpc: JsonRpc, body: bytes) -> None:
    error = assert_error(await answer(rpc, body), PARSE_ERROR)
    assert error["data"]["detail"] == f"JSON nested deeper than {MAX_DEPTH} arrays and objects"


async def test_an_engine_holds_the_depth_it_is_given() -> None:
    rpc = JsonRpc(METHODS, limits=JsonLimits(max_depth=8))
    fine = await answer(rpc, request("echo", [nested(8)]))
    deep = await answer(rpc, request("echo", [nested(9)]))
    assert fine["result"] == nested(8)
    error = assert_error(deep, PARSE_ERROR)
    assert error["data"]["detail"] == "JSON nested deeper than 8 arrays and objects"


# --- lengths ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    name: str
    notes: list[str]


async def label(args: dict[str, Any]) -> Any:
    given = args["label"]
    return type(given).__name__, given.name, given.notes


SHORT = JsonLimits(max_string_length=3, max_array_length=2)


@pytest.fixture
def short() -> JsonRpc:
    return JsonRpc([*METHODS, RpcMethod("label", (Param("label", Label),), label)], limits=SHORT)


@pytest.mark.parametrize(
    ("call", "detail", "path"),
    [
        (request("greet", ["abcd"]), "Expected `str` of length <= 3", "$.name"),
        (request("tags", [["a", "b", "c"]]), "Expected `array` of length <= 2", "$.tags"),
        (
            request("label", {"label": {"name": "abcd", "notes": []}}),
            "Expected `str` of length <= 3",
            "$.label.name",
        ),
        (
            request("label", {"label": {"name": "a", "notes": ["b", "cdef"]}}),
            "Expected `str` of length <= 3",
            "$.label.notes[1]",
        ),
    ],
)
async def test_params_past_the_lengths_are_invalid_params_naming_the_path(
    short: JsonRpc, call: dict[str, Any], detail: str, path: str
) -> None:
    error = assert_error(await answer(short, call), INVALID_PARAMS, 1)
    assert error["data"]["path"] == path
    assert error["data"]["detail"].startswith(f"{detail} (--server-max-")


async def test_a_dataclass_param_within_the_lengths_arrives_as_itself(short: JsonRpc) -> None:
    response = await answer(short, request("label", {"label": {"name": "abc", "notes": ["x"]}}))
    assert response["result"] == ["Label", "abc", ["x"]]
