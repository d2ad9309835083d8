"""How an error is told over GraphQL: by the service's faults, the same as over REST and JSON-RPC.

A field whose handler raised gets ``null`` and an error in the response's ``errors``, with
``extensions.code`` saying the kind of error. The code comes from the REST status the
service's faults give the exception (``service.error(...)`` and atoll's own):

===============================  ================================================
status                           ``extensions.code``
===============================  ================================================
400, 422 (and invalid params)    ``BAD_USER_INPUT``
401                              ``UNAUTHENTICATED``
403                              ``FORBIDDEN``
404                              ``NOT_FOUND``
409                              ``CONFLICT``
429                              ``RATE_LIMITED`` (``retryAfter`` in seconds)
504                              ``DEADLINE_EXCEEDED``
any other                        ``BAD_REQUEST`` for a 4xx, ``UNAVAILABLE`` for a 5xx
===============================  ================================================

The message is the fault's detail, and ``extensions`` holds its title and data, as JSON-RPC's
error data does. Any other exception is ``INTERNAL_SERVER_ERROR``: the caller reads only that
the service failed and the correlation id it was logged under, never the exception's text.
A document that does not parse or validate is ``GRAPHQL_PARSE_FAILED`` or
``GRAPHQL_VALIDATION_FAILED``, and a variable of the wrong type ``BAD_USER_INPUT``, as Apollo
names them.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from atoll.endpoints.graphql.declaration import camel
from atoll.endpoints.rpc.jsonrpc import InvalidParamsError
from atoll.errors import ServerOwnedFieldError
from atoll.kernel.logs import current_log_context

if TYPE_CHECKING:
    from atoll.messaging.faults import FaultMap

__all__ = [
    "BAD_USER_INPUT",
    "INTERNAL_SERVER_ERROR",
    "PARSE_FAILED",
    "VALIDATION_FAILED",
    "Told",
    "code_of_status",
    "told",
]

logger = logging.getLogger("atoll.graphql")

BAD_USER_INPUT = "BAD_USER_INPUT"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"

_CODES = {
    400: BAD_USER_INPUT,
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    422: BAD_USER_INPUT,
    429: "RATE_LIMITED",
    504: "DEADLINE_EXCEEDED",
}
_CLIENT_ERRORS = range(400, 500)


@dataclass(frozen=True, slots=True)
class Told:
    """An error as a GraphQL response tells it: its message and its extensions."""

    message: str
    extensions: dict[str, Any] = field(default_factory=dict)


def code_of_status(status: int) -> str:
    """The ``extensions.code`` of an error REST answers with ``status``."""
    code = _CODES.get(status)
    if code is not None:
        return code
    return "BAD_REQUEST" if status in _CLIENT_ERRORS else "UNAVAILABLE"


def told(error: BaseException, faults: FaultMap, field_name: str) -> Told:
    """How the error a resolver of ``field_name`` raised is told; an unexpected one is logged."""
    if isinstance(error, InvalidParamsError):
        return Told(str(error), {"code": BAD_USER_INPUT, **error.data})
    if isinstance(error, ServerOwnedFieldError):
        return Told(str(error), {"code": BAD_USER_INPUT, "field": error.field})
    fault = faults.describe(error)
    if fault is not None:
        # Named as GraphQL names fields: retry_after is retryAfter.
        data = {camel(key): value for key, value in fault.data.items()}
        return Told(
            fault.detail,
            {"code": code_of_status(fault.status), "title": fault.title, **data},
        )
    correlation_id = current_log_context().get("correlation_id") or uuid.uuid4().hex
    logger.error(
        "GraphQL field %s failed (correlation id %s)",
        field_name,
        correlation_id,
        exc_info=error,
        extra={"correlation_id": correlation_id},
    )
    return Told(
        "the service failed to resolve this field; its log has the details under the "
        "correlation id",
        {"code": INTERNAL_SERVER_ERROR, "correlationId": correlation_id},
    )
