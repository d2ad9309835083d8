"""The OpenRPC document: what a JSON-RPC service offers, for people and for tools.

OpenRPC (https://spec.open-rpc.org, version 1.3.2) is to JSON-RPC what OpenAPI is to REST.
The engine answers it to ``rpc.discover``; clients, generators and playgrounds read it.

Each method is described by its parameters and its result, each a content descriptor whose
schema msgspec derives from the type hint. Named types (dataclasses, Structs, enums) become
shared entries under ``components.schemas``, referred to by ``$ref``, so a type used by many
methods is written once. A type msgspec cannot describe (a class of its own with a decode
hook, say) gets an open schema named after it rather than breaking the whole document.

The document lists the service's own methods; ``rpc.discover``, which every service answers
alike, is left out.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Final

import msgspec

from atoll.endpoints.api import POLICY_EXTENSION

if TYPE_CHECKING:
    from collections.abc import Iterable

    from atoll.endpoints.rpc.methods import Param, RpcMethod

__all__ = ["OPENRPC_VERSION", "build_document"]

OPENRPC_VERSION: Final = "1.3.2"
"""The version of the OpenRPC specification the document follows."""

_REF_TEMPLATE: Final = "#/components/schemas/{name}"


def build_document(
    methods: Iterable[RpcMethod], *, title: str, version: str, description: str = ""
) -> dict[str, Any]:
    """The OpenRPC document of a service offering ``methods``.

    Args:
        methods: the service's methods, in the order the document lists them.
        title: the service's name.
        version: the service's version (not the OpenRPC version).
        description: what the service does; left out when empty.

    Returns:
        A new document, made of dicts, lists and scalars, ready to encode as JSON.
    """
    methods = tuple(methods)
    hints = [param.hint for method in methods for param in method.params]
    hints += [method.result for method in methods]
    schemas, components = msgspec.json.schema_components(
        hints, schema_hook=_open_schema, ref_template=_REF_TEMPLATE
    )
    param_schemas = iter(schemas)
    result_schemas = iter(schemas[len(hints) - len(methods) :])
    info: dict[str, Any] = {"title": title, "version": version}
    if description:
        info["description"] = description
    return {
        "openrpc": OPENRPC_VERSION,
        "info": info,
        "methods": [
            _method(method, [next(param_schemas) for _ in method.params], next(result_schemas))
            for method in methods
        ],
        "components": {"schemas": components},
    }


def _method(method: RpcMethod, params: list[dict[str, Any]], result: dict[str, Any]) -> Any:
    """The method object of ``method``, given the schemas of its parameters and result."""
    entry: dict[str, Any] = {"name": method.name}
    if method.summary:
        entry["summary"] = method.summary
    if method.description:
        entry["description"] = method.description
    entry["params"] = [
        _param(param, schema) for param, schema in zip(method.params, params, strict=True)
    ]
    entry["result"] = {"name": "result", "schema": result}
    if method.policy:  # who may call it: others are refused (JSON-RPC -32012 or -32013)
        entry[POLICY_EXTENSION] = method.policy
    if any(param.required and not param.positional for param in method.params):
        # A required keyword-only parameter cannot be given in an array ("either" is the default).
        entry["paramStructure"] = "by-name"
    return entry


def _param(param: Param, schema: dict[str, Any]) -> dict[str, Any]:
    """The content descriptor of one parameter; its default, if JSON can say it, in the schema."""
    if not param.required:
        # a default JSON cannot express is left unsaid rather than misstated
        with contextlib.suppress(TypeError, ValueError):
            schema = {**schema, "default": msgspec.to_builtins(param.default)}
    return {"name": param.name, "required": param.required, "schema": schema}


def _open_schema(hint: type) -> dict[str, Any]:
    """The schema of a type msgspec cannot describe: any value, titled with the type's name."""
    return {"title": getattr(hint, "__name__", repr(hint))}
