"""The ASGI app of a service: REST routes, JSON-RPC, the API documents, health, mounted apps.

One request goes, in order: to the JSON-RPC endpoint if its path is the RPC path (or
``/api``); to ``/openapi.json``, ``/asyncapi.json`` or ``/docs``; to ``/health/live``,
``/health/ready`` or ``/health`` (:mod:`atoll.endpoints.http.health`); to a mounted app whose
prefix it starts with; to the router. Whatever fails becomes a response, never a dropped
connection:

- a request the service cannot accept (unknown route, wrong method, wrong content type, body
  too large, invalid JSON or types) gets its 4xx status and an RFC 9457 problem document;
- an error the service declared (``service.error``) gets the status declared for it;
- anything else gets 500 and a correlation id, the traceback goes to the log under that id,
  and the body holds no exception text.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import msgspec

from atoll.endpoints.asyncapi import asyncapi_document
from atoll.endpoints.http.apipage import api_page
from atoll.endpoints.http.cors import Cors
from atoll.endpoints.http.health import health_endpoints
from atoll.endpoints.http.metrics import METRICS_PATH, metrics_endpoint
from atoll.endpoints.http.mount import Mount
from atoll.endpoints.http.openapi import openapi_document
from atoll.endpoints.http.problems import HTTPError
from atoll.endpoints.http.requests import (
    ClientDisconnectedError,
    Deadline,
    Request,
    call_request,
    require_json,
    route_path,
)
from atoll.endpoints.http.responses import send_bytes, send_empty, send_json, send_problem
from atoll.endpoints.http.rest import RestEndpoint
from atoll.endpoints.http.routing import Router
from atoll.endpoints.http.shedding import Shedding
from atoll.errors import (
    AuthenticationError,
    ConfigError,
    DeadlineExceededError,
    RateLimitedError,
    ServerOwnedFieldError,
)
from atoll.kernel.logs import current_log_context, reset_log_context, set_log_context
from atoll.messaging.context import CallContext, enter, leave
from atoll.messaging.options import BrokerOptions
from atoll.observability.correlation import CorrelationIds, RequestContext, made_id
from atoll.resilience.deadlines import DEADLINE_TITLE, within
from atoll.security.auth import KEY_MEMBER, reads_call_context, takes_keys
from atoll.security.limits import client_address

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection, Sequence

    from atoll.endpoints.api import Api
    from atoll.endpoints.graphql.http import GraphQLServing
    from atoll.endpoints.graphql.ws import GraphQLWebSocket
    from atoll.endpoints.http.cors import CorsOptions
    from atoll.endpoints.http.server import ServerOptions
    from atoll.endpoints.http.types import ASGIApp, Receive, Scope, Send
    from atoll.endpoints.rpc.engines import RpcEngines
    from atoll.endpoints.rpc.jsonrpc import JsonRpc
    from atoll.kernel.health import About, Readiness
    from atoll.kernel.spans import Attribute, Span
    from atoll.messaging.bus import MessageBus
    from atoll.observability.access import AccessLog
    from atoll.observability.metrics import Metrics
    from atoll.observability.tracing import Tracer
    from atoll.security.auth import Authenticator

__all__ = ["HttpApp"]

_Special: TypeAlias = "Callable[[Request, Send], Awaitable[None]]"
T = TypeVar("T")

logger = logging.getLogger("atoll.http")

_HTML = b"text/html; charset=utf-8"
_JSON = b"application/json"
GEMSTONE_PATH = "/api"
"""gemstone served JSON-RPC here; atoll answers it too, so that its clients work unchanged."""
_DOCUMENT_PATHS = frozenset({"/openapi.json", "/asyncapi.json", "/docs"})


class HttpApp:
    """The ASGI app serving one :class:`~atoll.endpoints.api.Api` through a message bus.

    Args:
        api: what to serve.
        bus: the bound bus the handlers are called through.
        options: the server's options (body limit, RPC path, documents, health).
        engines: the JSON-RPC engines of ``api``, which this app serves and does not own:
            broker RPC and in-process clients answer through the same ones.
        readiness: what ``/health/ready`` reports; without it, ready with no checks.
        about: what ``/health`` tells of the service, which is served only with it (and a
            readiness).
        cors: which origins' pages may call from a browser; none without it.
        authenticator: authenticates the calls of the handlers it guards; none without it.
        access: writes a line per request, when it logs ``http``.
        metrics: counts each request, when enabled; and answers ``/metrics``, unless it is
            served on a port of its own.
        broker: the ``broker`` options, which the AsyncAPI document names the addresses
            of; ``memory://`` without them.
        tracer: starts a span per request, when traces are on.
        graphql: the GraphQL endpoint and its path, when a service declares one.

    Attributes:
        entry: what a server serves: this app, inside the ASGI middleware the API declares
            (the first declared outermost) and CORS outside them all; this app itself when
            there are none.
    """

    def __init__(
        self,
        api: Api,
        bus: MessageBus,
        options: ServerOptions,
        engines: RpcEngines,
        *,
        readiness: Readiness | None = None,
        about: About | None = None,
        cors: CorsOptions | None = None,
        authenticator: Authenticator | None = None,
        broker: BrokerOptions | None = None,
        access: AccessLog | None = None,
        metrics: Metrics | None = None,
        tracer: Tracer | None = None,
        graphql: GraphQLServing | None = None,
    ) -> None:
        self.api = api
        self.tracer = tracer
        """What starts each request's span, when traces are on."""
        self.access = access if access is not None and access.http else None
        """Where a line per request is written, when asked for."""
        self.metrics = metrics if metrics is not None and metrics.enabled else None
        """Where each request is counted, when asked for."""
        self.authenticator = authenticator
        self.bus = bus
        self.options = options
        self.engines = engines
        self.rpc = engines.whole
        self.ids = CorrelationIds(options.request_id_headers)
        """Where a request's correlation id comes from."""
        self.router: Router[RestEndpoint] = Router()
        self.endpoints: list[RestEndpoint] = []
        limits = options.json_limits()
        for route in api.routes:
            endpoint = RestEndpoint(
                route,
                bus,
                options.max_body,
                authenticator,
                limits,
                body_timeout=options.body_timeout,
            )
            try:
                self.router.add(route.method, route.path, endpoint, endpoint.path_types)
            except ConfigError as error:
                raise ConfigError(f"{error} (declared by {route.handler.label})") from None
            self.endpoints.append(endpoint)
        self.mounts = [Mount(prefix, app) for prefix, app in api.mounts]
        rpc = self._rpc_endpoint(self.rpc)
        self._special: dict[str, _Special] = {options.rpc_path: rpc, GEMSTONE_PATH: rpc}
        for part in api.parts:  # in a system, each service also at /rpc/<service>, by plain names
            self._special[f"{options.rpc_path}/{part.title}"] = self._rpc_endpoint(
                engines[part.title]
            )
        if options.docs:
            self._special["/openapi.json"] = self._document(_JSON, self._openapi())
            self._special["/asyncapi.json"] = self._document(_JSON, self._asyncapi(broker))
            served = graphql is not None and graphql.endpoint is not None
            page = api_page(
                api.title,
                "openapi.json",
                asyncapi_url="asyncapi.json",
                graphql_url=graphql.path.lstrip("/") if served and graphql else "",
            )
            self._special["/docs"] = self._document(_HTML, page)
        self.readiness = readiness
        health = health_endpoints(readiness, about) if options.health else {}
        self._special.update(health)
        own = list(health)
        if (
            self.metrics is not None
            and self.metrics.exposition is not None
            and not self.metrics.port
        ):
            self._special[METRICS_PATH] = metrics_endpoint(
                self.metrics.exposition, self.metrics.refresh
            )
            own.append(METRICS_PATH)
        self._websocket, self._websocket_path = self._serve_graphql(graphql)
        self._serve_pages(api.pages)
        self._check_reserved(own)
        self.shedding: Shedding | None = None
        """What refuses the requests past ``--server-max-in-flight``, when it is set."""
        self.entry = self._wrapped(cors, own)
        self.handle_http: Callable[[Scope, Receive, Send], Awaitable[None]] = (
            self._plain_http
            if self.access is None and self.metrics is None and self.tracer is None
            else self._observed_http
        )
        """Answers one HTTP request: observed (access line, metrics, span) only if asked."""

    def _serve_graphql(self, graphql: GraphQLServing | None) -> tuple[GraphQLWebSocket | None, str]:
        """Answer GraphQL at its path, when served; its WebSocket endpoint and path, if any.

        Raises:
            ConfigError: its path is one of atoll's own.
        """
        if graphql is None or graphql.endpoint is None:
            return None, ""
        if graphql.path in self._special:
            raise ConfigError(
                f"--graphql-path {graphql.path} is a path of atoll's own; choose another, "
                "such as /graphql"
            )
        self._special[graphql.path] = graphql.endpoint
        return graphql.websocket, graphql.path

    def _serve_pages(self, pages: Sequence[tuple[str, ASGIApp]]) -> None:
        """Answer each page's path with its app.

        Raises:
            ConfigError: a page's path is one atoll answers already.
        """
        for path, app in pages:
            if path in self._special:
                raise ConfigError(
                    f"the page at {path} would hide atoll's own {path}; serve it at another path"
                )

            async def page(request: Request, send: Send, app: ASGIApp = app) -> None:
                await app(request.scope, request.receive, send)

            self._special[path] = page

    def _wrapped(self, cors: CorsOptions | None, own: Collection[str]) -> ASGIApp:
        """This app in the wrappers asked for: the service's, CORS, proxies, load shedding."""
        options = self.options
        entry: ASGIApp = self
        for wrapper in reversed(self.api.wrappers):
            entry = wrapper.around(entry)
        if cors is not None and cors.enabled:
            entry = Cors(entry, cors)
        trusted = options.proxies()
        if trusted:
            entry = _ClientBehindProxies(entry, trusted)
        if options.max_in_flight:  # outermost: a refusal costs the least
            rpc_paths = {options.rpc_path, GEMSTONE_PATH}
            rpc_paths.update(f"{options.rpc_path}/{part.title}" for part in self.api.parts)
            entry = self.shedding = Shedding(
                entry, options.max_in_flight, exempt=own, rpc_paths=rpc_paths
            )
        return entry

    def _check_reserved(self, health: Collection[str]) -> None:
        """Refuse a route or a mount that a path of atoll's own would hide."""
        if self.options.rpc_path in _DOCUMENT_PATHS and self.options.docs:
            raise ConfigError(
                f"--server-rpc-path {self.options.rpc_path} is the path of an API document; "
                "choose another, such as /rpc"
            )
        if self.options.rpc_path in health:
            raise ConfigError(
                f"--server-rpc-path {self.options.rpc_path} is the path of "
                f"{'the metrics' if self.options.rpc_path == METRICS_PATH else 'a health check'}; "
                "choose another, such as /rpc"
            )
        for route in self.api.routes:
            if route.path in self._special:
                raise ConfigError(
                    f"route {route.method} {route.path} of {route.handler.label} is hidden by "
                    f"atoll's own {route.path}; choose another path (atoll answers "
                    f"{', '.join(sorted(self._special))})"
                )
        for mount in self.mounts:
            hidden = [path for path in self._special if mount.matches(path)]
            if hidden:
                raise ConfigError(
                    f"the app mounted at {mount.prefix} would hide atoll's own "
                    f"{', '.join(sorted(hidden))}; mount it under another prefix"
                )

    def _openapi(self) -> bytes:
        document = openapi_document(self.api, self.endpoints, self.options.rpc_path)
        return msgspec.json.encode(document)

    def _asyncapi(self, broker: BrokerOptions | None) -> bytes:
        document = asyncapi_document(self.api, broker or BrokerOptions())
        return msgspec.json.encode(document)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        kind = scope["type"]
        if kind == "http":
            await self.handle_http(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan_without_work(receive, send)
        elif self._websocket is not None and scope.get("path") == self._websocket_path:
            await self._websocket(scope, receive, send)  # GraphQL subscriptions
        else:  # a websocket nothing here speaks
            await send({"type": "websocket.close", "code": 1000})

    async def _plain_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one HTTP request; whatever fails becomes a response.

        The request's correlation id is in the log context while it is answered (found or
        made when first read), and in the ``X-Request-ID`` header of an error's response.
        """
        path = route_path(scope) if scope.get("root_path") else scope["path"]
        context = RequestContext(self.ids, scope["headers"])
        token = set_log_context(context)
        try:
            self._check_size(scope)
            special = self._special.get(path)
            if special is not None:
                await special(Request(scope, receive), send)
                return
            if self.mounts:
                for mount in self.mounts:
                    if mount.matches(path):
                        if scope["method"] in _BODY_METHODS:
                            receive = _within(receive, self.options.body_timeout)
                        await mount(scope, receive, send)
                        return
            match = self.router.match(scope["method"], path)
            endpoint = match.endpoint
            context.endpoint = endpoint
            status, body, headers = await endpoint.respond(scope, receive, match.params)
            if body:
                await send_json(send, status, body, headers)
            else:  # 204, or the status a handler's Response set
                await send_empty(send, status, headers)
        except HTTPError as error:
            await send_problem(send, error, path)
        except ClientDisconnectedError:
            return
        except Exception as error:  # noqa: BLE001 - every failure becomes a response
            await send_problem(send, self._failure(error, scope), path)
        finally:
            reset_log_context(token)

    async def _observed_http(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: C901, PLR0912, PLR0915 - the hot path stays one function: a call per step costs more than the step
        """:meth:`_plain_http`, each request also observed as asked.

        With access lines on, the request's is written once it is answered; with metrics on,
        it is counted (under its route's template, atoll's own path, or a mount's prefix);
        with traces on, it is a span, under the caller's ``traceparent`` if it sent one. Apart
        from the plain one, which it repeats with the observation added: the checks cost a
        request that observes nothing 1k CPU instructions (``bench_http_instructions.py``).
        """
        path = route_path(scope) if scope.get("root_path") else scope["path"]
        context = RequestContext(self.ids, scope["headers"])
        token = set_log_context(context)
        access = self.access
        metrics = self.metrics
        status = size = 0  # none sent: the client went away first
        failure: Exception | None = None
        if metrics is None:
            started = 0.0 if access is None else time.perf_counter()
        else:
            metrics.active += 1
            started = time.perf_counter()
        span = None if self.tracer is None else self._span(scope, path)
        try:
            self._check_size(scope)
            special = self._special.get(path)
            if special is not None:
                if access is None and metrics is None:
                    await special(Request(scope, receive), send)
                else:
                    sent = _Sent(send)
                    await special(Request(scope, receive), sent)
                    status, size = sent.status, sent.size
                return
            if self.mounts:
                for mount in self.mounts:
                    if mount.matches(path):
                        if scope["method"] in _BODY_METHODS:
                            receive = _within(receive, self.options.body_timeout)
                        if access is None and metrics is None:
                            await mount(scope, receive, send)
                        else:
                            sent = _Sent(send)
                            await mount(scope, receive, sent)
                            status, size = sent.status, sent.size
                        return
            match = self.router.match(scope["method"], path)
            endpoint = match.endpoint
            context.endpoint = endpoint
            status, body, headers = await endpoint.respond(scope, receive, match.params)
            if body:
                await send_json(send, status, body, headers)
            else:  # 204, or the status a handler's Response set
                await send_empty(send, status, headers)
            size = len(body)
        except HTTPError as error:
            status, size = error.status, await send_problem(send, error, path)
        except ClientDisconnectedError:
            return
        except Exception as error:  # noqa: BLE001 - every failure becomes a response
            failure = error
            problem = self._failure(error, scope, logged=access is None)
            status, size = problem.status, await send_problem(send, problem, path)
        finally:
            if metrics is not None:
                metrics.active -= 1
                if status:  # a client gone before its answer is not counted
                    seconds = time.perf_counter() - started
                    metrics.request(scope["method"], self._route(context, path), status, seconds)
            if access is not None:
                routed = context.endpoint
                peer = scope.get("client")
                access.request(
                    scope["method"],
                    None if routed is None else routed.path,
                    path,
                    status,
                    size,
                    time.perf_counter() - started,
                    peer[0] if peer else None,
                    failure,
                )
            if span is not None:
                self._ended(span, scope["method"], context, path, status, failure)
            reset_log_context(token)

    def _span(self, scope: Scope, path: str) -> Span:
        """The span of a request to ``path`` (with traces on), current until it is answered."""
        assert self.tracer is not None  # noqa: S101 - called with traces on only
        method = scope["method"]
        attributes: dict[str, Attribute] = {
            "http.request.method": method,
            "url.path": path,
            "url.scheme": scope.get("scheme", "http"),
        }
        peer = scope.get("client")
        if peer:
            attributes["client.address"] = peer[0]
        return self.tracer.server(method, scope["headers"], attributes)

    def _ended(  # noqa: PLR0917 - a request's outcome, each part
        self,
        span: Span,
        method: str,
        context: RequestContext,
        path: str,
        status: int,
        failure: Exception | None,
    ) -> None:
        """End a request's span: named by its route, with its status; failed on a 5xx."""
        route = self._route(context, path)
        if route:
            span.set("http.route", route)
            span.rename(f"{method} {route}")
        if status:
            span.set("http.response.status_code", status)
        if status >= _FAILURE:  # a 4xx is the caller's doing, a declared fault's included
            span.fail(failure if failure is not None else str(status))
        span.end()

    def _route(self, context: RequestContext, path: str) -> str:
        """What a request to ``path`` is counted under, once answered (with metrics on only).

        Its route's template, atoll's own path, a mount's prefix, or ``""`` when nothing
        matched: never the path itself, which a client chooses.
        """
        routed = context.endpoint
        if routed is not None:
            return routed.path
        if path in self._special:
            return path
        for mount in self.mounts:
            if mount.matches(path):
                return mount.prefix
        return ""

    def _check_size(self, scope: Scope) -> None:
        """Refuse a request whose header fields or query parameters are too many or large.

        Raises:
            HTTPError: 431 for the header fields, 414 for the query parameters.
        """
        options = self.options
        headers = scope["headers"]
        if len(headers) > options.max_headers:
            raise HTTPError(
                431,
                f"the request has {len(headers)} header fields; the server takes at most "
                f"{options.max_headers} (--server-max-headers)",
                headers=_CLOSE,
            )
        size = 0
        for name, value in headers:  # a loop costs half a generator's sum()
            size += len(name) + len(value)
        if size > options.max_header_bytes:
            raise HTTPError(
                431,
                f"the request's header fields hold {size} bytes; the server takes at most "
                f"{options.max_header_bytes} (--server-max-header-bytes)",
                headers=_CLOSE,
            )
        query: bytes = scope.get("query_string", b"")
        if query and query.count(b"&") + 1 > options.max_query_params:
            raise HTTPError(
                414,
                f"the query has more than {options.max_query_params} parameters; the server "
                "takes at most that many (--server-max-query-params)",
            )

    def _document(self, content_type: bytes, body: bytes) -> _Special:
        async def serve(request: Request, send: Send) -> None:
            if request.method not in {"GET", "HEAD"}:
                raise HTTPError(
                    405,
                    f"{request.path} is read with GET, not {request.method}",
                    headers=((b"allow", b"GET, HEAD"),),
                )
            await send_bytes(send, 200, body, content_type)

        return serve

    def _rpc_endpoint(self, engine: JsonRpc) -> _Special:
        """The HTTP endpoint of a JSON-RPC engine: POST only, JSON only, 204 for no answer."""
        limit, within = self.options.max_body, self.options.body_timeout

        async def serve(request: Request, send: Send) -> None:
            if request.scope["method"] != "POST":
                raise HTTPError(
                    405,
                    f"the JSON-RPC endpoint takes POST requests, not {request.method}",
                    headers=((b"allow", b"POST"),),
                )
            require_json(request)
            body = await request.body(limit, within)
            headers: Sequence[tuple[bytes, bytes]]
            timeout = request.timeout  # found with the content type: no pass of its own
            # A call with an idempotency key needs the context too: its key is its caller's.
            if not in_context and not (keyed and KEY_MEMBER in body):
                if timeout is None:
                    answer = await engine.handle(body)
                else:
                    answer = await _by_deadline(timeout, engine.handle, body)
                headers = ()
            else:  # a batch's members share the context, and add their headers in order
                context = CallContext(call_request(request, "jsonrpc"))
                token = enter(context)
                try:
                    if timeout is None:
                        answer = await engine.handle(body)
                    else:
                        answer = await _by_deadline(timeout, engine.handle, body)
                finally:
                    leave(token)
                headers = [pair for made in context.responses for pair in made.header_pairs()]
            if answer is None:
                await send_empty(send, 204, headers)
            else:
                await send_json(send, 200, answer, headers)

        # Only an app some handler of which reads the call context sets it.
        in_context = any(
            reads_call_context(handler, self.bus, self.authenticator)
            for handler in self.bus.handlers
        )
        keyed = takes_keys(self.bus, self.authenticator)
        return serve

    def _failure(self, error: Exception, scope: Scope, *, logged: bool = True) -> HTTPError:
        if isinstance(error, ServerOwnedFieldError):  # the body is invalid, as for a bad type
            return HTTPError(422, str(error))
        fault = self.api.faults.describe(error)
        if fault is not None:
            # A problem's "type" is a URI naming the kind of problem (RFC 9457, 3.1.1), which
            # an exception's class name is not: it goes in a member of its own.
            extra = {("error_type" if key == "type" else key): v for key, v in fault.data.items()}
            headers: tuple[tuple[bytes, bytes], ...] = ()
            if isinstance(error, AuthenticationError) and self.authenticator is not None:
                challenge = self.authenticator.challenge(error.code, fault.detail)
                headers = ((b"www-authenticate", challenge),)
            elif isinstance(error, RateLimitedError):
                headers = rate_limit_headers(error)
            return HTTPError(
                fault.status, fault.detail, title=fault.title, extra=extra, headers=headers
            )
        correlation = current_log_context().get("correlation_id") or made_id()
        if logged:  # else its access line carries the traceback
            logger.error(
                "%s %s failed (correlation id %s)",
                scope["method"],
                scope["path"],
                correlation,
                exc_info=error,
            )
        return HTTPError(
            500,
            "the service failed to handle this request; its log has the details under the "
            "correlation id",
            extra={"correlation_id": correlation},
        )


_FAILURE = 500
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CLOSE = ((b"connection", b"close"),)


async def _by_deadline(seconds: float, answer: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``answer(*args)`` within the deadline its caller gave (X-Timeout-Ms).

    Raises:
        HTTPError: 504, when no time was left as the request came (it is not run), or when
            the time ran out before the answer (its work is cancelled).
    """
    try:
        return await within(seconds, answer, *args)
    except DeadlineExceededError as error:
        raise HTTPError(504, str(error), title=DEADLINE_TITLE) from None


def _within(receive: Receive, seconds: float) -> Receive:
    """``receive``, refusing a body that has not arrived whole ``seconds`` after the first read.

    For a mounted app, which reads the body itself; atoll's endpoints read it with
    :meth:`Request.body`, which keeps the same deadline at less cost.
    """
    deadline: Deadline | None = None

    async def timed() -> Any:
        nonlocal deadline
        if deadline is None:
            deadline = Deadline(seconds)
        return await deadline.wait(receive())

    return timed


class _Sent:
    """``send``, noting the status and the body's size of a response atoll does not make."""

    __slots__ = ("send", "size", "status")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 0  # none sent: the client went away first
        self.size = 0

    async def __call__(self, message: Any) -> None:
        if message["type"] == "http.response.body":
            self.size += len(message.get("body", b""))
        elif message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)


def rate_limit_headers(error: RateLimitedError) -> tuple[tuple[bytes, bytes], ...]:
    """``Retry-After`` and the IETF RateLimit headers of a call over a limit.

    ``RateLimit-Policy`` names the limit with its quota and window, ``RateLimit`` says what
    remains of it (nothing) and when it resets (draft-ietf-httpapi-ratelimit-headers).
    """
    name = error.name.replace('"', "")
    return (
        (b"retry-after", str(error.retry_after).encode()),
        (b"ratelimit-policy", f'"{name}";q={error.quota};w={error.window}'.encode()),
        (b"ratelimit", f'"{name}";r=0;t={error.retry_after}'.encode()),
    )


class _ClientBehindProxies:
    """The app, its requests' client the one a trusted proxy forwards for (``[server]``)."""

    def __init__(self, app: ASGIApp, trusted: tuple[Any, ...]) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            peer = scope.get("client")
            client = client_address(tuple(peer) if peer else None, scope["headers"], self.trusted)
            if client != peer:
                scope = {**scope, "client": client}
        await self.app(scope, receive, send)


async def _lifespan_without_work(receive: Receive, send: Send) -> None:
    """Answer a lifespan the app needs nothing from: the kernel runs the service around it."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
