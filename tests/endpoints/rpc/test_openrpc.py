"""The OpenRPC document: info, methods, content descriptors and shared schemas."""

import json
from dataclasses import dataclass
from typing import Any

from atoll.endpoints.rpc.jsonrpc import JsonRpc
from atoll.endpoints.rpc.methods import Param, RpcMethod
from atoll.endpoints.rpc.openrpc import OPENRPC_VERSION, build_document


@dataclass
class Run:
    meters: float
    seconds: int


class Opaque:
    """A type msgspec cannot describe."""


async def nothing(args: dict[str, Any]) -> None:
    return None


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {method["name"]: method for method in document["methods"]}


def test_document_names_the_openrpc_version_and_the_service() -> None:
    document = build_document([], title="runs", version="1.2.0", description="Runs of a club.")
    assert document == {
        "openrpc": "1.3.2",
        "info": {"title": "runs", "version": "1.2.0", "description": "Runs of a club."},
        "methods": [],
        "components": {"schemas": {}},
    }
    assert OPENRPC_VERSION == "1.3.2"


def test_empty_service_description_is_left_out() -> None:
    assert build_document([], title="runs", version="1")["info"] == {
        "title": "runs",
        "version": "1",
    }


def test_methods_are_listed_in_order_with_params_and_result() -> None:
    methods = [
        RpcMethod("add", (Param("a", int), Param("b", int)), nothing, int),
        RpcMethod("ping", (), nothing),
    ]
    document = build_document(methods, title="t", version="1")
    assert document["methods"] == [
        {
            "name": "add",
            "params": [
                {"name": "a", "required": True, "schema": {"type": "integer"}},
                {"name": "b", "required": True, "schema": {"type": "integer"}},
            ],
            "result": {"name": "result", "schema": {"type": "integer"}},
        },
        {"name": "ping", "params": [], "result": {"name": "result", "schema": {}}},
    ]


def test_summary_and_description_are_given_when_present() -> None:
    method = RpcMethod("ping", (), nothing, None, "Answer pong.", "Used by health checks.")
    [entry] = build_document([method], title="t", version="1")["methods"]
    assert entry["summary"] == "Answer pong."
    assert entry["description"] == "Used by health checks."
    assert entry["result"]["schema"] == {"type": "null"}


def test_optional_param_is_not_required_and_shows_its_default() -> None:
    method = RpcMethod(
        "greet", (Param("name", str, "world"), Param("n", int | None, None)), nothing
    )
    [entry] = build_document([method], title="t", version="1")["methods"]
    assert entry["params"] == [
        {"name": "name", "required": False, "schema": {"type": "string", "default": "world"}},
        {
            "name": "n",
            "required": False,
            "schema": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
        },
    ]


def test_default_json_cannot_express_is_left_unsaid() -> None:
    method = RpcMethod("m", (Param("x", Any, object()),), nothing)
    [entry] = build_document([method], title="t", version="1")["methods"]
    assert entry["params"] == [{"name": "x", "required": False, "schema": {}}]


def test_named_types_are_shared_components_referred_to_by_ref() -> None:
    methods = [
        RpcMethod("record", (Param("run", Run),), nothing, Run),
        RpcMethod("many", (Param("runs", list[Run]),), nothing, int),
    ]
    document = build_document(methods, title="t", version="1")
    ref = {"$ref": "#/components/schemas/Run"}
    record, many = document["methods"]
    assert record["params"][0]["schema"] == ref
    assert record["result"]["schema"] == ref
    assert many["params"][0]["schema"] == {"type": "array", "items": ref}
    assert document["components"]["schemas"] == {
        "Run": {
            "title": "Run",
            "type": "object",
            "properties": {"meters": {"type": "number"}, "seconds": {"type": "integer"}},
            "required": ["meters", "seconds"],
        }
    }


def test_type_msgspec_cannot_describe_gets_an_open_schema_named_after_it() -> None:
    method = RpcMethod("m", (Param("x", Opaque),), nothing, list[Opaque])
    [entry] = build_document([method], title="t", version="1")["methods"]
    assert entry["params"][0]["schema"] == {"title": "Opaque"}
    assert entry["result"]["schema"] == {"type": "array", "items": {"title": "Opaque"}}


def test_required_keyword_only_param_makes_the_method_by_name() -> None:
    method = RpcMethod("m", (Param("a", int), Param("b", int, positional=False)), nothing)
    [entry] = build_document([method], title="t", version="1")["methods"]
    assert entry["paramStructure"] == "by-name"


def test_optional_keyword_only_param_leaves_the_method_either() -> None:
    method = RpcMethod("m", (Param("a", int), Param("b", int, 0, positional=False)), nothing)
    [entry] = build_document([method], title="t", version="1")["methods"]
    assert "paramStructure" not in entry


def test_engine_document_describes_its_methods_but_not_rpc_discover() -> None:
    rpc = JsonRpc(
        [RpcMethod("ping", (), nothing)], title="runs", version="2.0.0", description="Runs."
    )
    document = rpc.document()
    assert document["info"] == {"title": "runs", "version": "2.0.0", "description": "Runs."}
    assert list(by_name(document)) == ["ping"]


async def test_changing_a_returned_document_changes_nothing_served() -> None:
    rpc = JsonRpc([RpcMethod("ping", (), nothing)])
    rpc.document()["methods"].clear()
    raw = await rpc.handle(b'{"jsonrpc":"2.0","method":"rpc.discover","id":1}')
    assert raw is not None
    assert list(by_name(json.loads(raw)["result"])) == ["ping"]
    assert list(by_name(rpc.document())) == ["ping"]
