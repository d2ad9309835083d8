"""The OpenAPI 3.1 document of a service's REST routes, generated from the handlers' types.

Schemas come from msgspec (:mod:`~atoll.endpoints.schemas`), the same library that decodes
requests, so the document cannot disagree with what the service accepts; a request body's
object says that it has no other members (``additionalProperties: false``), since a key its
type lacks is refused. Every operation documents the errors it can answer: 422 for invalid
input, the statuses of the service's declared errors, and 500; each as an RFC 9457 problem
document.
"""

from __future__ import annotations

import inspect
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from atoll.endpoints.api import POLICY_EXTENSION
from atoll.endpoints.fields import bounded
from atoll.endpoints.http.problems import PROBLEM_JSON
from atoll.endpoints.schemas import REF, json_schemas
from atoll.errors import (
    AuthenticationError,
    DeadlineExceededError,
    ForbiddenError,
    IdempotencyKeyError,
    RateLimitedError,
)
from atoll.persistence.shown import shown
from atoll.security.idempotency import MAX_KEY_LENGTH

if TYPE_CHECKING:
    from collections.abc import Callable

    from atoll.endpoints.api import Api
    from atoll.endpoints.http.rest import RestEndpoint
    from atoll.messaging.faults import FaultRule
    from atoll.messaging.handlers import Handler

__all__ = ["openapi_document"]

_RPC_ID = "jsonrpc"
_PROBLEM_SCHEMA = {
    "type": "object",
    "description": "An RFC 9457 problem document.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "correlation_id": {"type": "string"},
        "error_type": {"type": "string"},
    },
    "required": ["type", "title", "status"],
}


def openapi_document(
    api: Api, endpoints: list[RestEndpoint], rpc_path: str | None
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``endpoints``, with ``rpc_path`` as one more operation."""
    types: list[Any] = []
    closed: dict[int, frozenset[str]] = {}

    def schema(
        hint: Any, *, body: bool = False, owned: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        types.append(hint)
        if body:
            closed[len(types) - 1] = owned
        return {"$ypos": len(types) - 1}

    paths: dict[str, dict[str, Any]] = {}
    faults = api.faults.by_error()
    operation_ids = _operation_ids(endpoints, reserved=() if rpc_path is None else (_RPC_ID,))
    for endpoint, operation_id in zip(endpoints, operation_ids, strict=True):
        route = endpoint.route
        operation = _operation(endpoint, operation_id, schema, faults)
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    if rpc_path is not None:
        paths[rpc_path] = {"post": _rpc_operation()}
    document = _resolve(api, paths, types, closed)
    if any(endpoint.access.guarded for endpoint in endpoints):
        document["components"]["securitySchemes"] = {
            _BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        }
    return document


def _operation(
    endpoint: RestEndpoint,
    operation_id: str,
    schema: Callable[..., dict[str, Any]],
    faults: list[tuple[type[BaseException], FaultRule]],
) -> dict[str, Any]:
    """The OpenAPI operation of ``endpoint``; ``schema`` gathers the types it names."""
    route = endpoint.route
    handler = endpoint.handler
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "tags": [handler.service],
    }
    if handler.summary:
        operation["summary"] = markdown(handler.summary)
    if handler.description:
        operation["description"] = markdown(handler.description)
    # An integer parameter is held to 64 bits, as the router and the query's decoder hold it.
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": schema(bounded(tp))}
        for name, tp in endpoint.path_types.items()
    ]
    parameters += [
        {
            "name": item.name,
            "in": "query",
            "required": item.required,
            "schema": schema(bounded(item.hint)),
        }
        for item in endpoint.query
    ]
    if endpoint.access.keyed:
        parameters.append(_IDEMPOTENCY_KEY)
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": schema(
                        endpoint.body.hint, body=True, owned=endpoint.access.server_owned
                    )
                }
            },
        }
    returns = shown(handler.returns).type  # as answered: no aggregate bookkeeping
    responses: dict[str, Any] = {}
    if returns is None or returns is type(None):
        responses["204"] = {"description": "Done; nothing to return."}
    else:
        responses[str(route.status)] = {
            "description": "Success.",
            "content": {"application/json": {"schema": schema(returns)}},
        }
    takes_input = bool(parameters) or endpoint.body is not None or handler.message is not None
    responses.update(
        _errors(
            handler,
            faults,
            takes_input=takes_input,
            guarded=endpoint.access.guarded,
            policed=endpoint.access.policed,
            limited=endpoint.access.limited,
            keyed=endpoint.access.keyed,
        )
    )
    access = endpoint.access
    if access.policy:  # who may call it: others are refused (401 or 403)
        operation[POLICY_EXTENSION] = access.policy
    if access.guarded:  # a bearer token, needed or (when anonymous calls are served) not
        operation["security"] = [{_BEARER: []}] if access.needs_identity else [{}, {_BEARER: []}]
    operation["responses"] = responses
    return operation


_BEARER = "bearer"
"""The security scheme of an authenticated operation: ``Authorization: Bearer <token>``."""

_IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Retry safely: a request repeated with the same key and body answers as the first did, "
        "and runs once (the answer carries `Idempotent-Replayed: true`). The same key with "
        "another body is a 422; while the first runs, a 409. Keys are the caller's own."
    ),
    # Printable ASCII; the server strips spaces around a header's value, so none at the ends.
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
        "pattern": "^[!-~]([ -~]*[!-~])?$",
    },
}
"""The header parameter of an operation whose requests may carry an idempotency key."""


def _errors(
    handler: Handler,
    faults: list[tuple[type[BaseException], FaultRule]],
    *,
    takes_input: bool,
    guarded: bool,
    policed: bool,
    limited: bool,
    keyed: bool,
) -> dict[str, Any]:
    """The error responses an operation can answer: 422 if it takes input, its faults, 500.

    The errors of authentication (401, 400) only where its calls are authenticated; a
    refusal (403) only where a policy judges them; 429 only where a rate limit counts them;
    those of an idempotency key (400, 409, 422) only where a request may carry one. Any
    may answer 504, when a deadline passes.
    """
    errors: dict[int, str] = {}
    if takes_input:
        errors[422] = "The request is invalid: malformed JSON or a value of the wrong type."
    if keyed:
        errors[400] = "The Idempotency-Key header is invalid, or sent twice."
    listed = raised_names(inspect.getdoc(handler.function))  # read once per operation
    statuses = sorted(
        {
            rule.status
            for error, rule in faults
            if (guarded or not issubclass(error, AuthenticationError))
            and (policed or not issubclass(error, ForbiddenError))
            and (limited or not issubclass(error, RateLimitedError))
            and (keyed or not issubclass(error, IdempotencyKeyError))
            and not issubclass(error, DeadlineExceededError)
            and _may_raise(handler, error, listed)
        }
    )
    errors.update(dict.fromkeys(statuses, "An error of the service."))
    errors[500] = "An unexpected failure; its correlation id is in the service's log."
    errors[504] = "A call the request made to another service ran out of its deadline."
    return {str(status): _problem(text) for status, text in errors.items()}


def _without(component: dict[str, Any], owned: frozenset[str]) -> dict[str, Any]:
    """An object's schema without the properties ``owned``."""
    schema = dict(component)
    properties = schema.get("properties", {})
    schema["properties"] = {name: value for name, value in properties.items() if name not in owned}
    if "required" in schema:
        schema["required"] = [name for name in schema["required"] if name not in owned]
    return schema


def _operation_ids(endpoints: list[RestEndpoint], reserved: tuple[str, ...]) -> list[str]:
    """Each endpoint's operation id: its handler's name, made unique as OpenAPI requires.

    A name that two handlers share (two services of a system may each have a ``get_run``)
    is prefixed with the service's name; a clash left after that gets a counter.
    """
    counts = Counter(endpoint.handler.name for endpoint in endpoints)
    used = set(reserved)
    ids: list[str] = []
    for endpoint in endpoints:
        handler = endpoint.handler
        base = handler.name if counts[handler.name] == 1 else f"{handler.service}.{handler.name}"
        candidate, number = base, 1
        while candidate in used:
            number += 1
            candidate = f"{base}_{number}"
        used.add(candidate)
        ids.append(candidate)
    return ids


def _resolve(
    api: Api, paths: dict[str, Any], types: list[Any], closed: dict[int, frozenset[str]]
) -> dict[str, Any]:
    """Replace each schema placeholder by its msgspec schema, the components gathered once.

    The objects of the types at ``closed`` (request bodies) are documented with no other
    members: REST refuses a key a body's type lacks, where msgspec's schema of a dataclass
    (or of a Struct not declared ``forbid_unknown_fields``) would allow any. The objects
    nested in a body are decoded as msgspec decodes them, unknown keys ignored, and so are
    left open. A body with fields only the server sets (a policy's ``server_owned``) is
    documented without them, inline, since a call that sets one is refused; its type's
    component, which other operations may name, keeps them.
    """
    schemas, components = json_schemas(types)
    inline: dict[int, dict[str, Any]] = {}
    for index, owned in closed.items():
        ref = schemas[index].get("$ref", "")
        if ref.startswith(REF.format(name="")):
            component = components[ref.rpartition("/")[2]]
            component["additionalProperties"] = False
            if owned:
                inline[index] = component
    for index, component in inline.items():  # once the components are complete
        schemas[index] = _without(component, closed[index])

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"$ypos"}:
                return schemas[node["$ypos"]]
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    info: dict[str, Any] = {"title": api.title, "version": api.version}
    if api.description:
        info["description"] = api.description
    components["Problem"] = _PROBLEM_SCHEMA
    return {
        "openapi": "3.1.0",
        "info": info,
        "paths": walk(paths),
        "components": {"schemas": components},
    }


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": REF.format(name="Problem")}}},
    }


def _rpc_operation() -> dict[str, Any]:
    return {
        "operationId": _RPC_ID,
        "tags": ["json-rpc"],
        "summary": "JSON-RPC 2.0 endpoint",
        "description": (
            "Calls, notifications and batches as the JSON-RPC 2.0 specification defines "
            "them. The methods and their parameters are listed by calling `rpc.discover`, "
            "which returns an OpenRPC document. Responses are 200 with a body, or 204 when "
            "the request held notifications only."
        ),
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": ["object", "array"]},
                    "example": {"jsonrpc": "2.0", "method": "rpc.discover", "id": 1},
                }
            },
        },
        "responses": {
            "200": {
                "description": "The response, or the batch of responses.",
                "content": {"application/json": {"schema": {"type": ["object", "array"]}}},
            },
            "204": {"description": "Notifications only: nothing to answer."},
        },
    }


_LITERAL = re.compile(r"``(.+?)``")
_RAISES = re.compile(r"^Raises:\s*$", re.MULTILINE)
_RAISED = re.compile(r"^\s+([A-Za-z_][\w.]*)\s*:", re.MULTILINE)


def markdown(text: str) -> str:
    """A docstring's text for OpenAPI's CommonMark: its ``literals`` as `code`."""
    return _LITERAL.sub(r"`\1`", text)


def raised_names(docstring: str | None) -> set[str] | None:
    """The exception names a Google-style ``Raises:`` section lists; None without one."""
    if not docstring:
        return None
    found = _RAISES.search(docstring)
    if found is None:
        return None
    section = docstring[found.end() :]
    end = re.search(r"^\S", section, re.MULTILINE)  # the next section, or unindented text
    if end is not None:
        section = section[: end.start()]
    return {name.rpartition(".")[2] for name in _RAISED.findall(section)}


def _may_raise(handler: Handler, error: type[BaseException], listed: set[str] | None) -> bool:
    """Whether ``handler`` may answer with ``error``.

    atoll's own errors (a conflict, a key added twice) may come from any handler; a
    service's, from every handler but one whose docstring has a ``Raises:`` section that
    names neither the error, nor a class it derives from, nor (found in the handler's
    module) a class that derives from it.
    """
    if error.__module__.startswith("atoll."):
        return True
    if listed is None or listed & {klass.__name__ for klass in error.__mro__}:
        return True
    scope: dict[str, Any] = getattr(handler.function, "__globals__", {})
    return any(
        isinstance(named := scope.get(name), type) and issubclass(named, error) for name in listed
    )
