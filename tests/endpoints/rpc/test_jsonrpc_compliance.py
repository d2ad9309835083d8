"""Every example of section 7 of the JSON-RPC 2.0 specification, answered as it shows.

The requests are the specification's own text (https://www.jsonrpc.org/specification), sent
byte for byte; the answers are compared as parsed JSON. The specification's error objects
carry no ``data`` member, which is optional: the engine's is set aside before comparing.

The methods are the specification's: ``subtract``, ``sum``, ``get_data``, and the targets of
its notifications ``update``, ``notify_hello`` and ``notify_sum``. ``foobar`` and ``foo.get``
are left undefined, since the examples expect "Method not found" for them.
"""

import json
from typing import Any

import pytest

from atoll.endpoints.rpc.jsonrpc import JsonRpc
from atoll.endpoints.rpc.methods import Param, RpcMethod

ran: list[tuple[str, dict[str, Any]]] = []


async def subtract(args: dict[str, Any]) -> int:
    return int(args["minuend"] - args["subtrahend"])


async def add_up(args: dict[str, Any]) -> int:
    return int(args["a"] + args["b"] + args["c"])


async def get_data(args: dict[str, Any]) -> list[Any]:
    return ["hello", 5]


def recorder(name: str) -> Any:
    async def record(args: dict[str, Any]) -> None:
        ran.append((name, args))

    return record


def numbers(*names: str) -> tuple[Param, ...]:
    return tuple(Param(name, int, 0) for name in names)


SPEC_METHODS = [
    RpcMethod("subtract", (Param("minuend", int), Param("subtrahend", int)), subtract),
    RpcMethod("sum", numbers("a", "b", "c"), add_up),
    RpcMethod("get_data", (), get_data),
    RpcMethod("update", numbers("a", "b", "c", "d", "e"), recorder("update")),
    RpcMethod("notify_hello", numbers("n"), recorder("notify_hello")),
    RpcMethod("notify_sum", numbers("a", "b", "c"), recorder("notify_sum")),
]

# (example, request as the specification writes it, answer as it writes it or None)
EXAMPLES = [
    (
        "positional parameters, first",
        '{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}',
        '{"jsonrpc": "2.0", "result": 19, "id": 1}',
    ),
    (
        "positional parameters, second",
        '{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}',
        '{"jsonrpc": "2.0", "result": -19, "id": 2}',
    ),
    (
        "named parameters, first",
        (
            '{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, '
            '"id": 3}'
        ),
        '{"jsonrpc": "2.0", "result": 19, "id": 3}',
    ),
    (
        "named parameters, second",
        (
            '{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, '
            '"id": 4}'
        ),
        '{"jsonrpc": "2.0", "result": 19, "id": 4}',
    ),
    (
        "a notification",
        '{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}',
        None,
    ),
    (
        "a notification without params",
        '{"jsonrpc": "2.0", "method": "foobar"}',
        None,
    ),
    (
        "a non-existent method",
        '{"jsonrpc": "2.0", "method": "foobar", "id": "1"}',
        '{"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"}',
    ),
    (
        "invalid JSON",
        '{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]',
        '{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}',
    ),
    (
        "an invalid Request object",
        '{"jsonrpc": "2.0", "method": 1, "params": "bar"}',
        '{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}',
    ),
    (
        "a batch of invalid JSON",
        """[
  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
  {"jsonrpc": "2.0", "method"
]""",
        '{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}',
    ),
    (
        "an empty array",
        "[]",
        '{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}',
    ),
    (
        "an invalid batch, but not empty",
        "[1]",
        """[
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}
]""",
    ),
    (
        "an invalid batch",
        "[1,2,3]",
        """[
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}
]""",
    ),
    (
        "a batch of calls",
        """[
  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
  {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
  {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
  {"foo": "boo"},
  {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
  {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
]""",
        """[
  {"jsonrpc": "2.0", "result": 7, "id": "1"},
  {"jsonrpc": "2.0", "result": 19, "id": "2"},
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
  {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "5"},
  {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"}
]""",
    ),
    (
        "a batch of notifications",
        """[
  {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
  {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
]""",
        None,
    ),
]


def without_data(response: Any) -> Any:
    """The response with the optional ``data`` of its error objects set aside."""
    if isinstance(response, list):
        return [without_data(item) for item in response]
    if "error" in response:
        error = {key: value for key, value in response["error"].items() if key != "data"}
        return {**response, "error": error}
    return response


@pytest.fixture
def rpc() -> JsonRpc:
    return JsonRpc(SPEC_METHODS)


@pytest.mark.parametrize(
    ("sent", "expected"),
    [pytest.param(sent, expected, id=example) for example, sent, expected in EXAMPLES],
)
async def test_specification_example_is_answered_as_shown(
    rpc: JsonRpc, sent: str, expected: str | None
) -> None:
    raw = await rpc.handle(sent.encode())
    if expected is None:
        assert raw is None
    else:
        assert raw is not None
        assert without_data(json.loads(raw)) == json.loads(expected)


async def test_specification_notifications_are_run(rpc: JsonRpc) -> None:
    ran.clear()
    for _, sent, _ in EXAMPLES:
        await rpc.handle(sent.encode())
    assert ran == [
        ("update", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}),
        ("notify_hello", {"n": 7}),
        ("notify_sum", {"a": 1, "b": 2, "c": 4}),
        ("notify_hello", {"n": 7}),
    ]
