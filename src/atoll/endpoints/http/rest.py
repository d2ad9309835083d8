"""REST: each route's endpoint decodes the request into the handler's inputs and encodes its result.

Where each input comes from is decided once, when the app is built:

- a parameter named in the path template is a path parameter, converted by the router;
- a command's message is the JSON body, except for its fields named in the path, which the
  path parameters fill (the body may leave them out, or repeat them with the same value); a
  query's message is made of the query string and the path parameters;
- for a plain route, the one parameter of a dataclass (or msgspec Struct, or dict) type is the
  JSON body, and the parameters of scalar or list types are query parameters.

Invalid JSON and values of the wrong type give 422 with msgspec's message, which carries the
JSON path (``Expected `float`, got `str` - at `$.meters```). The rules JSON-RPC keeps for its
params hold for a body too: a key the body's type has no field for is a 422 naming it, and
a 422 for missing fields names every one. A body field that disagrees with the path is a 422.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import typing
from typing import TYPE_CHECKING, Any, TypeAlias

import msgspec

from atoll.endpoints.fields import bounded, message_fields, missing_detail, unknown_keys_guard
from atoll.endpoints.http.problems import HTTPError
from atoll.endpoints.http.requests import Request, call_request, require_json
from atoll.endpoints.json_limits import JsonLimits, nests_deeper
from atoll.errors import ConfigError
from atoll.messaging.context import IDEMPOTENCY_KEY, CallContext, checked_status, enter, leave
from atoll.messaging.handlers import HandlerKind, Input, is_data_hint
from atoll.persistence.shown import showing
from atoll.security.auth import reads_call_context
from atoll.security.idempotency import key_problem

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from atoll.endpoints.api import Route
    from atoll.endpoints.http.types import Receive, Scope
    from atoll.messaging.bus import MessageBus
    from atoll.messaging.handlers import Handler
    from atoll.security.auth import Authenticator

__all__ = ["RestEndpoint", "path_names"]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
"""The methods whose requests may carry an ``Idempotency-Key``."""
_encode = msgspec.json.encode
_NO_CONTENT = b""
_NO_HEADERS: list[tuple[bytes, bytes]] = []  # never changed: shared by every plain answer


def path_names(template: str) -> list[str]:
    """The parameter names of a path template: ``/runs/{run_id}`` -> ``["run_id"]``.

    A segment is a parameter only whole (``{run_id}``); the router refuses any other use of
    braces (``{run_id}.json``) with its own message, which names the segment.
    """
    return [
        part[1:-1] for part in template.split("/") if part.startswith("{") and part.endswith("}")
    ]


@dataclasses.dataclass(frozen=True, slots=True)
class Access:
    """Who may call an endpoint, and how a call may be refused: what its operation lists.

    Attributes:
        guarded: its calls are authenticated (401 is listed).
        needs_identity: a call without credentials is refused.
        policy: who may call it, in a few words, when a policy judges its calls.
        policed: a policy judges its calls (403 is listed).
        limited: a rate limit counts its calls (429 is listed).
        keyed: a request may carry an ``Idempotency-Key`` (an unsafe method's).
        server_owned: the fields of its body only the server sets: a call setting one is
            refused.
    """

    guarded: bool = False
    needs_identity: bool = False
    policy: str = ""
    policed: bool = False
    limited: bool = False
    keyed: bool = False
    server_owned: frozenset[str] = frozenset()

    @classmethod
    def of(cls, route: Route, bus: MessageBus, authenticator: Authenticator | None) -> Access:
        """The access of ``route``'s endpoint, served through ``bus``."""
        if authenticator is None:
            return cls()
        handler = route.handler
        guarded = authenticator.guards(handler, bus)
        policy = bus.policy_of(handler)
        keys = authenticator.idempotency
        return cls(
            guarded=guarded,
            needs_identity=guarded and authenticator.required and not handler.public,
            policy="" if policy is None else policy.describe(),
            policed=policy is not None,
            limited=authenticator.limits(handler),
            keyed=route.method in _UNSAFE_METHODS and keys is not None and keys.serves(handler),
            server_owned=frozenset(getattr(policy, "server_owned", ())),
        )


class RestEndpoint:
    """Answers one route: decode, call the handler through the bus, encode."""

    def __init__(
        self,
        route: Route,
        bus: MessageBus,
        max_body: int,
        authenticator: Authenticator | None = None,
        limits: JsonLimits = JsonLimits(),  # noqa: B008 - frozen: one shared default is safe
        *,
        keyed: bool = False,
        body_timeout: float = 30.0,
    ) -> None:
        self.route = route
        self.bus = bus
        self.max_body, self.body_timeout, self.limits = max_body, body_timeout, limits
        handler = route.handler
        self.handler = handler
        self.name = f"{handler.service}.{handler.name}"
        """The handler as the log context names it: ``runs.record_run``."""
        self.path = route.path
        """The route's path template, as access lines show it: ``/runs/{run_id}``."""
        inputs = bus.signature(handler).inputs
        in_path = set(path_names(route.path))
        self.message: type | None = handler.message
        self._message_parameter = inputs[0].name if handler.message is not None else ""
        if handler.kind.takes_message:
            plan = _plan_message(handler, in_path)
        else:
            plan = _plan_route(route, inputs, in_path)
        self.path_types: dict[str, type] = plan[0]
        self.query: list[Input] = plan[1]
        self.body: Input | None = plan[2]
        missing = in_path - set(self.path_types)
        if missing:
            raise ConfigError(
                f"route {route.method} {route.path} names {', '.join(sorted(missing))} in its "
                f"path, but {handler.label} has no such parameter"
            )
        self._query_type = _struct_of(f"{handler.name}_query", self.query) if self.query else None
        self._multi = frozenset(item.name for item in self.query if _is_sequence(item.hint))
        self._timed = {item.name: item.hint for item in self.query if _holds_time(item.hint)}
        self._plan_body(_body_type(handler, plan) if plan[2] is not None else None, limits)
        self._status = route.status
        call = bus.caller(handler)
        self.access = Access.of(route, bus, authenticator)
        """Who may call it, and how it is refused, as the API documents say."""
        counted, self._admit, call = _admitting(handler, bus, authenticator, call, keyed=keyed)
        self._call = showing(call, handler.returns)  # no aggregate bookkeeping
        # The common shapes get a respond() of their own, which does nothing it need not.
        self.respond: Responder = self._respond
        if self._query_type is None and self.message is None:
            if self.body is None:
                self.respond = self._respond_from_path
            else:
                self.respond = self._respond_with_body
        self._respond_plainly = self.respond
        limiter = None if authenticator is None else authenticator.limiter
        if counted and limiter is not None:
            self._count = limiter.check_address
            self.respond = self._respond_counted
        elif keyed or reads_call_context(handler, bus, authenticator):  # such calls alone pay
            self.respond = self._respond_in_context
        if self.access.keyed and not keyed:  # a request carrying a key alone pays for it
            self._keyed = RestEndpoint(
                route, bus, max_body, authenticator, limits, keyed=True, body_timeout=body_timeout
            )
            self._respond_unkeyed = self.respond
            self.respond = self._respond_keyed

    def _plan_body(self, decoded: Any, limits: JsonLimits) -> None:
        """How a body is read: decoded as ``decoded``, held to ``limits``."""
        held, check = limits.body_check(decoded)
        self._body_decoder = msgspec.json.Decoder(held) if decoded is not None else None
        self._body_guard = unknown_keys_guard(decoded)
        # A body shorter than checked_from holds no string nor array past the lengths: the
        # guard alone runs on it. A longer one is checked against the mirror, which guards too.
        self._body_check = check or self._body_guard
        self._body_long = sys.maxsize if check is None else limits.checked_from
        self._body_nests = decoded is not None and limits.may_nest_deeper(decoded)
        self._body_fields = _fields_of(decoded)

    async def _respond(self, scope: Scope, receive: Receive, path_params: dict[str, Any]) -> Answer:
        return await self(Request(scope, receive), path_params)

    async def _respond_in_context(
        self, scope: Scope, receive: Receive, path_params: dict[str, Any]
    ) -> Answer:
        """Respond with the call context set: the handler's Request, and its Response applied.

        The call is admitted (counted, authenticated) before its query and body are decoded:
        a caller who must prove who they are gets a 401 whatever they hold. (The router has
        converted the path's values: a path that does not convert matches no operation.)
        """
        context = CallContext(call_request(Request(scope, receive), "http"))
        token = enter(context)
        try:
            if self._admit is not None:
                await self._admit()
            status, body, _ = await self._respond_plainly(scope, receive, path_params)
        finally:
            leave(token)
        headers: list[tuple[bytes, bytes]] = []
        for response in context.responses:
            if response.status_code is not None:
                status = checked_status(response.status_code)
            headers += response.header_pairs()
        return status, body, headers

    async def _respond_counted(
        self, scope: Scope, receive: Receive, path_params: dict[str, Any]
    ) -> Answer:
        """Count the call against its limits per address, then respond."""
        await self._count(self.handler, scope.get("client"))
        return await self._respond_plainly(scope, receive, path_params)

    async def _respond_keyed(
        self, scope: Scope, receive: Receive, path_params: dict[str, Any]
    ) -> Answer:
        """Respond once per caller and ``Idempotency-Key``, when the request has one."""
        key = idempotency_key(scope)
        if key is None:
            return await self._respond_unkeyed(scope, receive, path_params)
        token = IDEMPOTENCY_KEY.set(key)
        try:
            return await self._keyed.respond(scope, receive, path_params)
        finally:
            IDEMPOTENCY_KEY.reset(token)

    async def _respond_from_path(
        self, _scope: Scope, _receive: Receive, path_params: dict[str, Any]
    ) -> Answer:
        result = await self._call(path_params)
        if result is None:
            return 204, _NO_CONTENT, _NO_HEADERS
        return self._status, _encode(result), _NO_HEADERS

    async def _respond_with_body(
        self, scope: Scope, receive: Receive, path_params: dict[str, Any]
    ) -> Answer:
        assert self.body is not None  # noqa: S101 - chosen for routes with a body
        path_params[self.body.name] = await self._decode_body(Request(scope, receive))
        result = await self._call(path_params)
        if result is None:
            return 204, _NO_CONTENT, _NO_HEADERS
        return self._status, _encode(result), _NO_HEADERS

    async def __call__(self, request: Request, path_params: dict[str, Any]) -> Answer:
        """The status, JSON body and extra headers of the response to ``request``.

        Raises:
            HTTPError: the request is invalid (413, 415, 422).
            Exception: what the handler raised; the app turns it into a response.
        """
        arguments = dict(path_params)
        if self._query_type is not None:
            arguments.update(self._decode_query(request))
        if self._body_decoder is not None:
            body = await self._decode_body(request)
            if self.message is not None:
                arguments = body if not path_params else self._with_path(body, path_params)
            else:
                assert self.body is not None  # noqa: S101 - a decoder implies a body input
                arguments[self.body.name] = body
        elif self.message is not None:
            arguments = _convert(arguments, self.message)
        if self.message is not None:
            arguments = {self._message_parameter: arguments}
        result = await self._call(arguments)
        if result is None:
            return 204, _NO_CONTENT, _NO_HEADERS
        return self._status, _encode(result), _NO_HEADERS

    def _decode_query(self, request: Request) -> dict[str, Any]:
        values: dict[str, Any] = {}
        multi = self._multi
        for name, given in request.query.items():
            values[name] = given if name in multi else given[-1]
        for name in self._timed.keys() & values.keys():
            values[name] = _time_of(values[name], self._timed[name], name)
        decoded = _convert(values, self._query_type, where="query")
        return {name: getattr(decoded, name) for name in decoded.__struct_fields__}

    def _with_path(self, body: msgspec.Struct, path_params: dict[str, Any]) -> Any:
        """The message of a command whose body holds the fields its path does not.

        The body may repeat a path field with the path's value; another value is a 422.
        """
        assert self.message is not None  # noqa: S101 - only called for a message
        values = msgspec.structs.asdict(body)
        for name, value in path_params.items():
            given = values.pop(name)
            if given is not msgspec.UNSET and given != value:
                raise HTTPError(
                    422,
                    f"the body's {name} ({given!r}) disagrees with the path's ({value!r}); "
                    f"leave {name} out of the body, or send the path's value",
                )
        try:
            return self.message(**values, **path_params)
        except (TypeError, ValueError) as error:
            # What msgspec does when a message's __post_init__ refuses the decoded values.
            raise HTTPError(422, str(error)) from None

    async def _decode_body(self, request: Request) -> Any:
        require_json(request)
        raw = await request.body(self.max_body, self.body_timeout)
        assert self._body_decoder is not None  # noqa: S101 - only called with a body input
        if self._body_nests and nests_deeper(raw, self.limits.max_depth):
            raise HTTPError(
                422,
                "the body nests arrays and objects too deeply: more than "
                f"{self.limits.max_depth} levels, the server's limit (--server-max-json-depth); "
                "send a flatter body",
            )
        try:
            check = self._body_check if len(raw) >= self._body_long else self._body_guard
            if check is not None:
                check(raw)
            return self._body_decoder.decode(raw)
        except msgspec.ValidationError as error:
            raise HTTPError(422, self._invalid(raw, str(error))) from None
        except msgspec.DecodeError as error:
            raise HTTPError(422, f"the body is not valid JSON: {error}") from None
        except RecursionError:
            raise HTTPError(
                422, "the body nests arrays and objects too deeply to be decoded"
            ) from None

    def _invalid(self, raw: bytes, detail: str) -> str:
        """The 422 detail for a body of the wrong shape, naming every missing field."""
        detail = self.limits.explain(detail)
        if not self._body_fields:
            return detail
        try:
            given = msgspec.json.decode(raw)  # the error path alone: decoded again, untyped
        except (msgspec.DecodeError, RecursionError):  # pragma: no cover - it decoded just now
            return detail
        return missing_detail(detail, given, self._body_fields)


def _admitting(
    handler: Handler,
    bus: MessageBus,
    authenticator: Authenticator | None,
    call: Callable[[dict[str, Any]], Awaitable[Any]],
    *,
    keyed: bool,
) -> tuple[bool, Callable[[], Awaitable[None]] | None, Callable[[dict[str, Any]], Awaitable[Any]]]:
    """Whether the endpoint counts the call's limits itself, what admits it, and its call.

    A limit per address alone is counted by the endpoint, before the call, without a call
    context; any other admission (limits, credentials) runs in the call's context before its
    input is read. A keyed endpoint's call runs once per caller and idempotency key.
    """
    if authenticator is None:
        return False, None, call
    counted = not keyed and authenticator.counts_alone(handler, bus)
    admit = authenticator.admission(handler, bus, counted=counted)
    return counted, admit, authenticator.keyed(handler, call) if keyed else call


def idempotency_key(scope: Scope) -> str | None:
    """The request's ``Idempotency-Key``: a token, or a structured-field string (``"..."``).

    Raises:
        HTTPError: 400, the header is sent twice or its value is no key.
    """
    found: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"idempotency-key":
            if found is not None:
                raise HTTPError(400, "send one Idempotency-Key header, not several")
            found = value
    if found is None:
        return None
    key = found.decode("latin-1").strip()
    if len(key) > 2 and key[0] == key[-1] == '"':  # noqa: PLR2004 - the quotes, and a key
        key = key[1:-1]
    problem = key_problem(key)
    if problem is not None:
        raise HTTPError(400, f"the Idempotency-Key header is invalid: {problem}")
    return key


Answer: TypeAlias = tuple[int, bytes, list[tuple[bytes, bytes]]]
"""The status, the JSON body (empty: no content) and the headers a handler's Response added."""

Responder: TypeAlias = "Callable[[Scope, Receive, dict[str, Any]], Awaitable[Answer]]"
"""``respond(scope, receive, path_params)``: the :data:`Answer` to one request."""

_Plan = tuple[dict[str, type], list[Input], Input | None]


def _plan_message(handler: Handler, in_path: set[str]) -> _Plan:
    """A command's body is its message; a query's message is its query string.

    The fields the path gives are the path's: a command's body is then a struct of the other
    fields, so that a client need not repeat in the body what the path says.
    """
    message = handler.message
    assert message is not None  # noqa: S101 - takes_message implies a message type
    path_types: dict[str, type] = {}
    rest: list[Input] = []
    for field in message_fields(message):
        if field.name in in_path:
            path_types[field.name] = field.hint
        else:
            rest.append(field)
    if handler.kind is HandlerKind.QUERY:
        return path_types, rest, None
    body = _struct_of(f"{message.__name__}Body", rest) if path_types else message
    return path_types, [], Input("body", body)


def _body_type(handler: Handler, plan: _Plan) -> Any:
    """What a body is decoded as: the body input's type, refusing keys it has no field for.

    A command's body may repeat the fields its path gives (unset unless given, then compared
    with the path's), though its documented type leaves them out.
    """
    path_types, _, body = plan
    assert body is not None  # noqa: S101 - only asked for a route with a body
    if handler.message is None or not path_types:
        return body.hint
    inputs = message_fields(handler.message)
    rest = [item for item in inputs if item.name not in path_types]
    repeated = [Input(name, hint, msgspec.UNSET) for name, hint in path_types.items()]
    return _struct_of(body.hint.__name__, rest + repeated, forbid_unknown=True)


def _plan_route(route: Route, inputs: tuple[Input, ...], in_path: set[str]) -> _Plan:
    """Path names from the path, scalars from the query string, one structure from the body."""
    handler = route.handler
    path_types: dict[str, type] = {}
    query: list[Input] = []
    body: Input | None = None
    for item in inputs:
        if item.name in in_path:
            path_types[item.name] = item.hint
        elif is_data_hint(item.hint) and not _is_mapping(item.hint):
            query.append(item)
        elif body is not None:
            raise ConfigError(
                f"{handler.label} has two body parameters, {body.name!r} and {item.name!r}; a "
                "request has one JSON body: merge them into one type"
            )
        elif route.method not in _BODY_METHODS:
            raise ConfigError(
                f"{handler.label} answers {route.method}, which has no body, yet its parameter "
                f"{item.name!r} is of type {_name(item.hint)}; use scalar parameters (path or "
                "query), or POST/PUT/PATCH"
            )
        else:
            body = item
    return path_types, query, body


def _convert(values: dict[str, Any], target: Any, where: str = "$") -> Any:
    try:
        return msgspec.convert(values, target, strict=False)
    except msgspec.ValidationError as error:
        text = missing_detail(str(error), values, _fields_of(target))
        if where != "$":
            text = text.replace("`$.", f"`{where}.").replace("`$`", f"`{where}`")
        raise HTTPError(422, text) from None


def _struct_of(name: str, inputs: list[Input], *, forbid_unknown: bool = False) -> Any:
    fields = [
        (item.name, bounded(item.hint))
        if item.required
        else (item.name, bounded(item.hint), item.default)
        for item in inputs
    ]
    return msgspec.defstruct(name, fields, forbid_unknown_fields=forbid_unknown)


_TIMES = (dt.datetime, dt.time, dt.timedelta)


def _holds_time(hint: object) -> bool:
    """Whether ``hint`` is a time, a duration, or a union or list holding one."""
    return hint in _TIMES or any(_holds_time(arg) for arg in typing.get_args(hint))


def _time_of(given: Any, hint: Any, name: str) -> Any:
    """A query parameter's time, read from its RFC 3339 (or ISO 8601 duration) text only.

    The query's decoder is lax, as values of the query string are text (``"5"`` is read as
    the integer 5), and would read ``"0.5"`` as a Unix timestamp, a value the OpenAPI
    document does not allow: a time must be written as one.
    """
    try:
        return msgspec.convert(given, hint)
    except msgspec.ValidationError as error:
        where = f"query.{name}"
        text = str(error).replace("`$", f"`{where}")
        raise HTTPError(422, text if "- at `" in text else f"{text} - at `{where}`") from None


def _fields_of(tp: Any) -> list[Input]:
    """The fields of a body or query type, to name the missing ones; none for other types."""
    if isinstance(tp, type) and (issubclass(tp, msgspec.Struct) or dataclasses.is_dataclass(tp)):
        return message_fields(tp)
    return []


def _is_sequence(hint: object) -> bool:
    origin = typing.get_origin(hint) or hint
    return origin in {list, tuple, set, frozenset}


def _is_mapping(hint: object) -> bool:
    return (typing.get_origin(hint) or hint) is dict


def _name(tp: object) -> str:
    return getattr(tp, "__qualname__", repr(tp))
