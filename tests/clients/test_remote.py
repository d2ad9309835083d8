import copy
import socket
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest

from atoll.clients.remote import Pending, RemoteService, SyncRemoteService
from atoll.clients.transports import HttpTransport, LocalTransport, SyncHttpTransport
from atoll.endpoints.rpc.jsonrpc import JsonRpc
from atoll.endpoints.rpc.methods import Param, RpcMethod
from atoll.errors import ConfigError, RemoteError, RemoteUnavailableError
from atoll.messaging.faults import FaultMap
from tests.rpc_doubles import RpcApp, answer_with, serving

LIMIT = 10.0  # every wait is bounded, so a bug fails the test instead of hanging it
URL = "http://calc.test/rpc"


class EmailTakenError(Exception):
    pass


@dataclass(frozen=True)
class Point:
    x: int
    y: int


def make_engine(touched: list[int] | None = None) -> JsonRpc:
    """A small service: arithmetic, an echo, a notification target and a declared fault."""
    touched = [] if touched is None else touched

    async def add(args: dict[str, Any]) -> int:
        return args["a"] + args["b"]

    async def echo(args: dict[str, Any]) -> Any:
        return args["value"]

    async def touch(args: dict[str, Any]) -> None:
        touched.append(args["x"])

    async def register(args: dict[str, Any]) -> None:
        raise EmailTakenError(f"{args['email']} is taken")

    async def profile(args: dict[str, Any]) -> dict[str, Any]:
        return {"user_id": args["user_id"], "name": "ada"}

    faults = FaultMap()
    faults.add(EmailTakenError, status=409, code=-32010, title="email taken")
    methods = [
        RpcMethod("add", (Param("a", int), Param("b", int)), add, int),
        RpcMethod("echo", (Param("value", Any),), echo, Any),
        RpcMethod("touch", (Param("x", int),), touch, None),
        RpcMethod("register", (Param("email", str),), register, None),
        RpcMethod("users.get_profile", (Param("user_id", int),), profile, dict[str, Any]),
        RpcMethod("get-profile", (Param("user_id", int),), profile, dict[str, Any]),
    ]
    return JsonRpc(methods, faults=faults, max_batch=3, title="calc")


@pytest.fixture
def touched():
    return []


@pytest.fixture
def engine(touched):
    return make_engine(touched)


@pytest.fixture
def app(engine):
    return RpcApp(engine)


@pytest.fixture(params=["local", "http"])
async def service(request, engine, app, clients):
    """The same service, in the process and over HTTP: every test on it must pass for both."""
    if request.param == "local":
        transport = LocalTransport(engine, name="calc")
    else:
        transport = HttpTransport(URL, client=clients(app=app))
    async with RemoteService(transport) as remote:
        yield remote


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


# --- calls ------------------------------------------------------------------------------------


async def test_a_call_by_name_returns_the_result(service):
    assert await service.methods.add(a=2, b=3) == 5


async def test_a_call_by_position_returns_the_result(service):
    assert await service.methods.add(2, 3) == 5


async def test_a_dotted_attribute_path_calls_the_dotted_method(service):
    assert await service.methods.users.get_profile(user_id=7) == {"user_id": 7, "name": "ada"}


async def test_an_item_names_a_method_that_is_no_identifier(service):
    assert await service.methods["get-profile"](user_id=7) == {"user_id": 7, "name": "ada"}


async def test_call_takes_the_method_name_and_params(service):
    assert await service.call("add", {"a": 1, "b": 1}) == 2
    assert await service.call("add", [1, 2]) == 3


async def test_dataclasses_in_params_are_sent_as_objects(service):
    assert await service.methods.echo(value=Point(1, 2)) == {"x": 1, "y": 2}


async def test_results_are_plain_json_values(service):
    assert await service.methods.echo(value=(1, 2)) == [1, 2]


async def test_result_type_converts_the_result(service):
    result = await service.call("echo", {"value": {"x": 1, "y": 2}}, result_type=Point)
    assert result == Point(1, 2)


async def test_a_result_that_does_not_fit_the_result_type_is_a_remote_error(service):
    with pytest.raises(RemoteError) as caught:
        await service.call("echo", {"value": "a"}, result_type=Point)
    assert caught.value.code == -32603
    assert "the result of 'echo'" in caught.value.message
    assert "Point" in caught.value.message


async def test_mixing_positional_and_keyword_arguments_raises_at_once(scripted):
    requests = []
    remote = scripted(requests.append)
    with pytest.raises(TypeError, match="positional and keyword"):
        remote.methods.add(1, b=2)
    assert requests == []


async def test_calling_the_namespace_itself_asks_for_a_method_name(service):
    with pytest.raises(TypeError, match="name the method"):
        service.methods()


async def test_params_other_than_a_dict_or_a_list_are_refused(service):
    with pytest.raises(TypeError, match="must be a dict"):
        await service.call("echo", "text")  # type: ignore[arg-type]


def test_special_names_are_not_methods():
    namespace = RemoteService(URL).methods
    with pytest.raises(AttributeError):
        _ = namespace.__wrapped__
    assert copy.copy(namespace) is not None
    assert repr(namespace) == "<methods>"
    assert repr(namespace.users.get) == "<method 'users.get'>"


async def test_every_request_has_a_fresh_integer_id(engine, app, clients):
    async with RemoteService(HttpTransport(URL, client=clients(app=app))) as remote:
        await remote.methods.add(1, 2)
        await remote.methods.add(1, 2)
        async with remote.batch() as batch:
            batch.methods.add(1, 2)
            batch.methods.add(1, 2)
    ids = [msgspec.json.decode(body)["id"] for body in app.bodies[:2]]
    ids += [request["id"] for request in msgspec.json.decode(app.bodies[2])]
    assert all(type(rid) is int for rid in ids)
    assert len(set(ids)) == 4


def test_a_remote_service_needs_an_http_url():
    with pytest.raises(ConfigError, match="'users' is not the URL of a JSON-RPC endpoint"):
        RemoteService("users")


def test_services_show_where_they_send():
    assert repr(RemoteService("http://h:1")) == "RemoteService('http://h:1/rpc')"
    assert repr(SyncRemoteService("http://h:1")) == "SyncRemoteService('http://h:1/rpc')"


# --- errors answered --------------------------------------------------------------------------


async def test_invalid_params_raise_a_remote_error_with_code_message_and_data(service):
    with pytest.raises(RemoteError) as caught:
        await service.methods.add(a="x", b=1)
    assert caught.value.code == -32602
    assert caught.value.message == "Invalid params"
    assert caught.value.data == {"detail": "Expected `int`, got `str`", "path": "$.a"}


async def test_an_unknown_method_raises_method_not_found(service):
    with pytest.raises(RemoteError) as caught:
        await service.methods.nope()
    assert caught.value.code == -32601


async def test_a_declared_fault_arrives_with_its_code_and_data(service):
    with pytest.raises(RemoteError) as caught:
        await service.methods.register(email="ada@example.com")
    assert caught.value.code == -32010
    assert caught.value.message == "email taken"
    assert caught.value.data == {"detail": "ada@example.com is taken", "type": "EmailTakenError"}


async def test_an_error_answered_with_a_null_id_is_raised(scripted):
    error = {"code": -32700, "message": "Parse error"}
    remote = scripted(answer_with({"jsonrpc": "2.0", "error": error, "id": None}))
    with pytest.raises(RemoteError) as caught:
        await remote.methods.add(1, 2)
    assert caught.value.code == -32700


# --- malformed answers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ({"jsonrpc": "2.0", "result": 1, "id": 999}, "the answer's id is 999"),
        ({"jsonrpc": "2.0", "result": 1, "id": "$id", "error": None}, "got `null` - at `$.error`"),
        (
            {"jsonrpc": "2.0", "result": 1, "id": "$id", "error": {"code": 1, "message": "m"}},
            "one of",
        ),
        ({"jsonrpc": "2.0", "id": "$id"}, "exactly one of"),
        ({"jsonrpc": "2.0", "error": {"code": "x", "message": "m"}, "id": "$id"}, "Expected `int`"),
        ({"jsonrpc": "1.0", "result": 1, "id": "$id"}, "$.jsonrpc"),
        ({"result": 1, "id": "$id"}, "missing required field `jsonrpc`"),
        ([{"jsonrpc": "2.0", "result": 1, "id": "$id"}], "Expected `object`, got `array`"),
    ],
)
async def test_an_answer_that_is_no_response_to_the_call_is_a_protocol_error(
    scripted, payload, why
):
    remote = scripted(answer_with(payload))
    with pytest.raises(RemoteError) as caught:
        await remote.methods.add(1, 2)
    assert caught.value.code == -32603
    assert caught.value.message.startswith(f"malformed JSON-RPC response from {URL}: ")
    assert why in caught.value.message


async def test_an_answer_that_is_not_json_is_a_protocol_error_showing_the_body(scripted):
    remote = scripted(answer_with(content=b"<html>oops</html>"))
    with pytest.raises(RemoteError) as caught:
        await remote.methods.add(1, 2)
    assert caught.value.code == -32603
    assert caught.value.data == {"body": "<html>oops</html>"}


async def test_an_answer_nested_too_deeply_is_a_protocol_error(scripted):
    deep = b'{"jsonrpc": "2.0", "result": ' + b"[" * 100_000 + b"]" * 100_000 + b', "id": 1}'
    remote = scripted(answer_with(content=deep))
    with pytest.raises(RemoteError, match="too deeply") as caught:
        await remote.methods.add(1, 2)
    assert caught.value.code == -32603


async def test_no_content_for_a_call_is_a_protocol_error(scripted):
    remote = scripted(answer_with(status=204, content=b""))
    with pytest.raises(RemoteError, match="no answer to the call of 'add'"):
        await remote.methods.add(1, 2)


async def test_a_malformed_discovery_document_is_a_remote_error(scripted):
    remote = scripted(answer_with({"jsonrpc": "2.0", "result": {"info": {}}, "id": "$id"}))
    with pytest.raises(RemoteError, match=r"the result of 'rpc\.discover'") as caught:
        await remote.name()
    assert caught.value.code == -32603


# --- notifications ----------------------------------------------------------------------------


async def test_a_notification_runs_the_method_and_returns_none(service, touched):
    assert await service.notifications.touch(x=4) is None
    assert touched == [4]


async def test_a_failing_notification_raises_nothing(service):
    assert await service.notifications.nope() is None
    assert await service.notify("add", {"a": "x"}) is None


async def test_a_notification_sends_no_id(scripted):
    bodies = []

    def handle(request):
        bodies.append(msgspec.json.decode(request.content))
        return httpx.Response(200, content=b'{"jsonrpc": "2.0", "result": "ignored", "id": null}')

    assert await scripted(handle).notifications.touch(x=1) is None
    assert bodies == [{"jsonrpc": "2.0", "method": "touch", "params": {"x": 1}}]


async def test_a_call_without_arguments_sends_no_params(scripted):
    bodies = []

    def handle(request):
        bodies.append(msgspec.json.decode(request.content))
        return answer_with({"jsonrpc": "2.0", "result": 1, "id": "$id"})(request)

    await scripted(handle).methods.ping()
    assert "params" not in bodies[0]


# --- batches ----------------------------------------------------------------------------------


async def test_a_batch_gives_each_call_its_result_or_error(service, touched):
    async with service.batch() as batch:
        total = batch.methods.add(a=1, b=2)
        missing = batch.methods.nope()
        batch.notifications.touch(x=9)
    assert total.result() == 3
    with pytest.raises(RemoteError) as caught:
        missing.result()
    assert caught.value.code == -32601
    assert touched == [9]
    assert total.done
    assert repr(total) == "<Pending 'add' done>"
    assert repr(missing) == "<Pending 'nope' failed>"


async def test_a_batch_is_one_request(engine, app, clients):
    remote = RemoteService(HttpTransport(URL, client=clients(app=app)))
    async with remote, remote.batch() as batch:
        first = batch.call("add", [1, 2])
        second = batch.methods.add(3, 4)
        batch.notify("touch", {"x": 1})
    assert len(app.bodies) == 1
    assert [first.result(), second.result()] == [3, 7]


async def test_a_batch_of_notifications_gets_no_answer(service, touched):
    async with service.batch() as batch:
        batch.notifications.touch(x=1)
        batch.notifications.touch(x=2)
    assert sorted(touched) == [1, 2]


async def test_an_empty_batch_sends_nothing(scripted):
    requests = []
    async with scripted(requests.append).batch():
        pass
    assert requests == []


async def test_a_batch_whose_block_raises_is_not_sent(scripted):
    requests = []
    remote = scripted(requests.append)
    pending = []

    async def fail_in_the_block():
        async with remote.batch() as batch:
            pending.append(batch.methods.add(1, 2))
            raise LookupError

    with pytest.raises(LookupError):
        await fail_in_the_block()
    assert requests == []
    with pytest.raises(RuntimeError, match="its block raised"):
        pending[0].result()


async def test_a_result_read_before_the_batch_is_sent_is_refused(service):
    batch = service.batch()
    pending = batch.methods.add(1, 2)
    assert repr(pending) == "<Pending 'add' pending>"
    with pytest.raises(RuntimeError, match="has not been sent"):
        pending.result()
    await batch.send()
    assert pending.result() == 3


async def test_a_sent_batch_takes_no_more_calls(service):
    async with service.batch() as batch:
        batch.methods.add(1, 2)
    with pytest.raises(RuntimeError, match="this batch was sent"):
        batch.methods.add(1, 2)
    with pytest.raises(RuntimeError, match="this batch was sent"):
        batch.notifications.touch(x=1)


async def test_a_batch_refused_whole_gives_every_call_the_error(service):
    async with service.batch() as batch:
        calls = [batch.methods.add(1, 2) for _ in range(4)]
    for pending in calls:
        with pytest.raises(RemoteError) as caught:
            pending.result()
        assert caught.value.code == -32600
        assert "at most 3" in caught.value.data["detail"]


async def test_a_call_the_batch_answer_leaves_out_gets_a_protocol_error(scripted):
    def handle(request):
        first = msgspec.json.decode(request.content)[0]
        return httpx.Response(200, json=[{"jsonrpc": "2.0", "result": 3, "id": first["id"]}])

    async with scripted(handle).batch() as batch:
        answered = batch.methods.add(1, 2)
        forgotten = batch.methods.add(3, 4)
    assert answered.result() == 3
    with pytest.raises(RemoteError, match=r"no answer to the call of 'add' \(id \d+\)"):
        forgotten.result()


async def test_an_error_with_a_null_id_in_a_batch_goes_to_the_calls_left(scripted):
    error = {"code": -32600, "message": "Invalid Request"}
    remote = scripted(answer_with([{"jsonrpc": "2.0", "error": error, "id": None}]))
    async with remote.batch() as batch:
        pending = batch.methods.add(1, 2)
    with pytest.raises(RemoteError) as caught:
        pending.result()
    assert caught.value.code == -32600


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ({"jsonrpc": "2.0", "result": 1, "id": None}, "a batch is answered by an array"),
        ({"jsonrpc": "2.0", "error": {"code": 1, "message": "m"}, "id": 5}, "answered by an array"),
        ([{"jsonrpc": "2.0", "result": 1, "id": 999}], "unknown or repeated id 999"),
        ([{"jsonrpc": "2.0", "result": 1, "id": "a"}], "unknown or repeated id 'a'"),
        ("text", "Expected `object | array`, got `str`"),
    ],
)
async def test_an_answer_that_is_no_batch_response_raises_at_the_end_of_the_block(
    scripted, payload, why
):
    with pytest.raises(RemoteError, match="malformed JSON-RPC response") as caught:
        async with scripted(answer_with(payload)).batch() as batch:
            batch.methods.add(1, 2)
    assert why in caught.value.message


async def test_a_repeated_id_in_a_batch_answer_is_a_protocol_error(scripted):
    def handle(request):
        rid = msgspec.json.decode(request.content)[0]["id"]
        return httpx.Response(200, json=[{"jsonrpc": "2.0", "result": 1, "id": rid}] * 2)

    with pytest.raises(RemoteError, match="unknown or repeated id"):
        async with scripted(handle).batch() as batch:
            batch.methods.add(1, 2)


async def test_an_unreachable_service_raises_at_the_end_of_the_batch():
    async with RemoteService(f"http://127.0.0.1:{closed_port()}") as remote:
        with pytest.raises(RemoteUnavailableError, match="connection refused"):
            async with remote.batch() as batch:
                batch.methods.add(1, 2)


async def test_a_pending_call_settles_once_given_its_outcome():
    pending = Pending("add")
    assert not pending.done
    pending.settle(3, None)
    assert pending.result() == 3


# --- discovery and raw bodies -----------------------------------------------------------------


async def test_name_and_method_names_come_from_discovery_once(engine, app, clients):
    async with RemoteService(HttpTransport(URL, client=clients(app=app))) as remote:
        assert await remote.name() == "calc"
        assert await remote.method_names() == [
            "add",
            "echo",
            "touch",
            "register",
            "users.get_profile",
            "get-profile",
        ]
    assert len(app.bodies) == 1


async def test_raw_sends_the_body_as_it_is(service):
    answer = await service.raw(b'{"jsonrpc": "2.0", "method": "add", "params": [1, 2], "id": "x"}')
    assert msgspec.json.decode(answer) == {"jsonrpc": "2.0", "result": 3, "id": "x"}
    assert await service.raw(b'{"jsonrpc": "2.0", "method": "touch", "params": [1]}') is None


# --- the blocking service ---------------------------------------------------------------------


def test_the_blocking_service_calls_notifies_batches_and_discovers(app, touched):
    with serving(app) as url, SyncRemoteService(url, timeout=LIMIT) as remote:
        assert remote.methods.add(a=1, b=2) == 3
        assert remote.call("echo", [{"x": 1, "y": 2}], result_type=Point) == Point(1, 2)
        assert remote.notifications.touch(x=3) is None
        with remote.batch() as batch:
            total = batch.methods.add(2, 2)
            missing = batch.methods.nope()
            batch.notifications.touch(x=4)
        assert total.result() == 4
        with pytest.raises(RemoteError):
            missing.result()
        assert remote.name == "calc"
        assert "users.get_profile" in remote.method_names()
        answer = remote.raw(b'{"jsonrpc": "2.0", "method": "add", "params": [1, 1], "id": 1}')
        assert msgspec.json.decode(answer)["result"] == 2
    assert sorted(touched) == [3, 4]


def test_the_blocking_service_reports_errors_as_the_async_one(app):
    with serving(app) as url, SyncRemoteService(url) as remote:
        with pytest.raises(RemoteError) as caught:
            remote.methods.register(email="ada@example.com")
        assert caught.value.code == -32010
    with SyncRemoteService(f"http://127.0.0.1:{closed_port()}") as remote:
        with pytest.raises(RemoteUnavailableError, match="connection refused"):
            remote.methods.add(1, 2)
        with pytest.raises(RemoteUnavailableError, match="connection refused"):
            remote.notify("touch", {"x": 1})


def test_a_blocking_batch_whose_block_raises_is_not_sent():
    requests = []
    client = httpx.Client(transport=httpx.MockTransport(requests.append))
    remote = SyncRemoteService(SyncHttpTransport(URL, client=client))
    pending = []

    def fail_in_the_block():
        with remote.batch() as batch:
            pending.append(batch.methods.add(1, 2))
            raise LookupError

    with pytest.raises(LookupError):
        fail_in_the_block()
    with remote.batch():
        pass  # empty: nothing to send
    assert requests == []
    with pytest.raises(RuntimeError, match="its block raised"):
        pending[0].result()
    remote.close()
    assert not client.is_closed
    client.close()
