"""The GraphQL endpoint over HTTP, after the GraphQL-over-HTTP specification.

``POST /graphql`` with a JSON body ``{"query": ..., "variables": {...}, "operationName":
...}`` (or ``Content-Type: application/graphql`` and the document as the body) runs any
operation; ``GET /graphql?query=...&variables=...`` runs a query only (a mutation is 405).
The answer is ``{"data": ..., "errors": [...]}``:

- as ``application/graphql-response+json`` when the request accepts it, with status 200 for a
  document that ran (errors of fields included) and 400 for one that did not parse,
  validate or fit its variables;
- as ``application/json`` otherwise, with status 200 either way, as older clients expect.

A request that is no GraphQL request (not JSON, no ``query``) is 400 with a problem document
like any other; but a ``GET`` without ``query`` that accepts ``text/html``, a browser's, gets
the GraphQL page (:mod:`~atoll.endpoints.graphql.page`) when it is on.

Handlers run in the request's call context, as over JSON-RPC: they read the identity of
its credentials, its headers, and add headers and cookies to the response.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from atoll.endpoints.graphql.engine import Executed
from atoll.endpoints.graphql.page import page_headers
from atoll.endpoints.http.problems import HTTPError
from atoll.endpoints.http.requests import call_request
from atoll.endpoints.http.responses import send_bytes
from atoll.messaging.context import CallContext, enter, leave

if TYPE_CHECKING:
    from atoll.endpoints.graphql.engine import GraphQLEngine
    from atoll.endpoints.graphql.persisted import PersistedQueries
    from atoll.endpoints.graphql.ws import GraphQLWebSocket
    from atoll.endpoints.http.requests import Request
    from atoll.endpoints.http.types import Send
    from atoll.observability.access import AccessLog

__all__ = ["GraphQLEndpoint", "GraphQLServing"]

_JSON = b"application/json"
_GRAPHQL_JSON = b"application/graphql-response+json"
_HTML = b"text/html"
_PAGE_TYPE = b"text/html; charset=utf-8"
_ALLOW = ((b"allow", b"GET, POST"),)


class _Body(msgspec.Struct, rename="camel", forbid_unknown_fields=False):
    """A GraphQL request's JSON body."""

    query: str | None = None
    variables: dict[str, Any] | None = None
    operation_name: str | None = None
    extensions: dict[str, Any] | None = None


_decode_body = msgspec.json.Decoder(_Body).decode
_decode_variables = msgspec.json.Decoder(dict[str, Any] | None).decode
_encode = msgspec.json.Encoder().encode


class GraphQLEndpoint:
    """Answers GraphQL requests with ``engine``; see the module.

    Args:
        engine: the schema executing the documents.
        max_body: the largest body accepted, in bytes.
        body_timeout: the seconds a body may take to arrive.
        page: the GraphQL page, served to a browser's ``GET`` without ``?query=``; None
            serves none (``--no-graphql-page``).
        persisted: the documents sent by their hash (automatic persisted queries); None
            answers by the ``query`` alone (``--no-graphql-persisted-queries``).
        access: writes a line per operation (``--log-access graphql``); None writes none.
    """

    def __init__(
        self,
        engine: GraphQLEngine,
        max_body: int,
        body_timeout: float,
        *,
        page: bytes | None = None,
        persisted: PersistedQueries | None = None,
        access: AccessLog | None = None,
    ) -> None:
        self.engine = engine
        self.access = access if access is not None and access.graphql else None
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.page = page
        self.persisted = persisted
        self._page_headers = page_headers(page) if page is not None else ()

    async def __call__(self, request: Request, send: Send) -> None:
        """Answer one request to the endpoint."""
        method = request.method
        if method == "POST":
            document, variables, operation, extensions = await self._posted(request)
            mutations = True
        elif method in {"GET", "HEAD"}:
            query = request.query
            extensions = _variables(query.get("extensions", [""])[-1], "extensions")
            if "query" not in query and not (extensions and "persistedQuery" in extensions):
                if self.page is not None and _accepts(request, _HTML):
                    await send_bytes(send, 200, self.page, _PAGE_TYPE, self._page_headers)
                    return
                raise HTTPError(
                    400,
                    "a GraphQL request over GET gives its document as ?query=...; "
                    'send {"query": ...} with POST for any other',
                )
            document = query["query"][-1] if "query" in query else None
            variables = _variables(query.get("variables", [""])[-1])
            operation = query.get("operationName", [""])[-1] or None
            mutations = False
        else:
            raise HTTPError(
                405, f"the GraphQL endpoint takes GET and POST, not {method}", headers=_ALLOW
            )
        if self.persisted is not None and extensions and "persistedQuery" in extensions:
            found = self.persisted.document(document, extensions["persistedQuery"])
            if isinstance(found, Executed):
                await self._answer(request, send, found, [])
                return
            document = found
        elif document is None:
            raise HTTPError(400, 'the body is no GraphQL request: it has no "query"')
        context = CallContext(call_request(request, "graphql"))
        token = enter(context)
        began = time.perf_counter()
        try:
            executed = await self.engine.execute(
                document, variables, operation, mutations=mutations
            )
        finally:
            leave(token)
        if self.access is not None:
            took = time.perf_counter() - began
            self.access.operation(
                executed.operation, operation, executed.fields, executed.response, took
            )
        headers = [pair for made in context.responses for pair in made.header_pairs()]
        await self._answer(request, send, executed, headers)

    async def _posted(
        self, request: Request
    ) -> tuple[str | None, dict[str, Any] | None, str | None, dict[str, Any] | None]:
        kind = request.content_type
        body = await request.body(self.max_body, self.body_timeout)
        if kind == "application/graphql":
            return body.decode(errors="replace"), None, None, None
        if kind and kind != "application/json" and not kind.endswith("+json"):
            raise HTTPError(
                415,
                f'a GraphQL request is sent as application/json ({{"query": ...}}) or '
                f"application/graphql, not {kind}",
            )
        try:
            parsed = _decode_body(body)
        except msgspec.ValidationError as error:
            raise HTTPError(400, f"the body is no GraphQL request: {error}") from None
        except msgspec.DecodeError as error:
            raise HTTPError(400, f"the body is not JSON: {error}") from None
        return parsed.query, parsed.variables, parsed.operation_name, parsed.extensions

    async def _answer(
        self,
        request: Request,
        send: Send,
        executed: Executed,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        if executed.mutation:
            headers.append((b"allow", b"POST"))
            body = _encode(executed.response)
            await send_bytes(send, 405, body, _JSON, headers)
            return
        if _accepts(request, _GRAPHQL_JSON):
            status = 400 if executed.refused else 200
            await send_bytes(send, status, _encode(executed.response), _GRAPHQL_JSON, headers)
        else:
            await send_bytes(send, 200, _encode(executed.response), _JSON, headers)


def _variables(text: str, name: str = "variables") -> dict[str, Any] | None:
    if not text:
        return None
    try:
        variables: dict[str, Any] | None = _decode_variables(text)
    except msgspec.MsgspecError as error:
        raise HTTPError(400, f"?{name}= is not a JSON object: {error}") from None
    return variables


def _accepts(request: Request, media_type: bytes) -> bool:
    accept = request.header(b"accept")
    return accept is not None and media_type in accept


@dataclass(frozen=True)
class GraphQLServing:
    """What a process serves over GraphQL: nothing, or an endpoint at a path.

    Attributes:
        path: the endpoint's path (``--graphql-path``).
        endpoint: answers the requests; None when no service declares ``service.graphql()``.
        websocket: serves subscriptions on WebSockets at the same path; None without any.
    """

    path: str = ""
    endpoint: GraphQLEndpoint | None = None
    websocket: GraphQLWebSocket | None = None
