"""The JSON-RPC 2.0 engine: one request body in, one response body (or nothing) out.

The engine knows no transport. HTTP, the in-process client and the brokers all hand it the
bytes they received and send back what :meth:`JsonRpc.handle` returns; ``None`` means that
nothing is to be answered (a notification, or a batch of them).

It follows https://www.jsonrpc.org/specification exactly, and decides what the specification
leaves open as follows:

- A request with ``"params": null`` is taken as one without ``params``.
- An invalid request (-32600) is always answered, even without an ``id``: it is not a
  notification, since it is not a request at all (the specification's own examples answer
  ``{"jsonrpc": "2.0", "method": 1, "params": "bar"}``). Its ``id`` is echoed when it is
  readable (a string, a number or null, in an object whose keys are unique), else it is null.
- A well-formed notification is never answered, whatever happens to it.
- Members other than ``jsonrpc``, ``method``, ``params`` and ``id`` are ignored, but
  ``idempotency_key``: a string of 1 to 255 printable ASCII characters that makes a retry of
  the call run it once per caller (:mod:`atoll.security.idempotency`); another value makes the
  request invalid (-32600).
- JSON-RPC needs unique keys: an object that repeats a key, at any depth, makes its request
  invalid (-32600), and the error names the key. JSON nested deeper than the engine's
  ``max_depth`` (:data:`MAX_DEPTH` unless told) arrays and objects is refused as a parse error
  (-32700), before the engine recurses into it.
- A string or an array in params longer than the engine's limits (unless the parameter's type
  sets its own ``max_length``) makes the params invalid (-32602), with the path of the value.
- ``rpc.discover`` answers the OpenRPC document; every other ``rpc.`` name is reserved, so
  such a method is not found, and a service cannot declare one.

The engine sits on the hot path of every call, so the work per request is a handful of C
calls: the body is decoded once by msgspec, and each method's arguments are checked and
converted by one ``msgspec.convert`` into a Struct type built for the method when the engine
is made. The error paths alone do more work, such as explaining which parameter is wrong.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import logging
import re
import time
import uuid
from collections import Counter
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import msgspec

from atoll.endpoints.fields import bounded
from atoll.endpoints.json_limits import JsonLimits
from atoll.endpoints.rpc.methods import RpcMethod
from atoll.endpoints.rpc.openrpc import build_document
from atoll.errors import ConfigError
from atoll.kernel.logs import current_log_context, log_context
from atoll.messaging.context import IDEMPOTENCY_KEY
from atoll.messaging.faults import FaultMap
from atoll.observability.correlation import RequestContext
from atoll.observability.metrics import OTHER
from atoll.security.idempotency import key_problem

if TYPE_CHECKING:
    from collections.abc import Coroutine, Iterable, Mapping

    from atoll.kernel.spans import Attribute, Span
    from atoll.observability.access import AccessLog
    from atoll.observability.metrics import Metrics
    from atoll.observability.tracing import Tracer

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "MAX_DEPTH",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "InvalidParamsError",
    "JsonRpc",
]

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603

MAX_DEPTH: Final = JsonLimits().max_depth
"""The most arrays and objects a body may nest by default, the batch and the request included."""

logger = logging.getLogger("atoll.rpc")


class JsonRpc:
    """Answers JSON-RPC 2.0 request bodies by calling the methods they name.

    Args:
        methods: the methods callers may invoke.
        faults: the application errors callers may see; any other exception raised by a
            method is an internal error, logged on ``atoll.rpc`` under a correlation id.
        max_batch: the most requests one batch may hold.
        limits: how deep a body may nest, and how long the strings and arrays in its params
            may be; :class:`~atoll.endpoints.json_limits.JsonLimits`'s defaults without it.
        title: the service's name, in the OpenRPC document.
        version: the service's version, in the OpenRPC document.
        description: what the service does, in the OpenRPC document.
        access: writes a line per call (method, outcome, error code), when it logs ``rpc``.
        metrics: counts each call (method, outcome, error code), when enabled; a method the
            engine does not know is counted as ``_OTHER``.
        tracer: starts a span per call (SERVER, under the request's), when traces are on.

    Raises:
        ConfigError: two methods share a name, a name starts with ``rpc.``, a method names one
            parameter twice or gives an unusable default, or ``max_batch`` is below 1.
    """

    __slots__ = (
        "_access",
        "_bindings",
        "_checked_from",
        "_description",
        "_discovered",
        "_faults",
        "_max_batch",
        "_max_depth",
        "_methods",
        "_metrics",
        "_observed",
        "_title",
        "_tracer",
        "_version",
    )

    def __init__(
        self,
        methods: Iterable[RpcMethod],
        *,
        faults: FaultMap | None = None,
        max_batch: int = 100,
        limits: JsonLimits | None = None,
        title: str = "service",
        version: str = "0.0.0",
        description: str = "",
        access: AccessLog | None = None,
        metrics: Metrics | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        if max_batch < 1:
            raise ConfigError(f"max_batch is {max_batch}; a batch must hold at least 1 request")
        limits = JsonLimits() if limits is None else limits
        bindings: dict[str, _Binding] = {}
        for method in methods:
            if method.name.startswith("rpc."):
                raise ConfigError(
                    f"method {method.name!r} starts with 'rpc.', which JSON-RPC 2.0 reserves "
                    "for its own extensions; rename it"
                )
            if method.name in bindings:
                raise ConfigError(f"two methods are named {method.name!r}; rename one of them")
            bindings[method.name] = _Binding(method, limits)
        self._methods = MappingProxyType({name: bound.method for name, bound in bindings.items()})
        discover = RpcMethod(
            "rpc.discover", (), self._discover, dict[str, Any], "The OpenRPC document."
        )
        bindings[discover.name] = _Binding(discover, limits)
        self._bindings = bindings
        self._faults = FaultMap() if faults is None else faults
        self._max_batch = max_batch
        self._max_depth = limits.max_depth
        self._checked_from = limits.checked_from
        self._title = title
        self._version = version
        self._description = description
        self._discovered: msgspec.Raw | None = None
        self._access = access if access is not None and access.rpc else None
        self._metrics = metrics if metrics is not None and metrics.enabled else None
        self._tracer = tracer
        self._observed = not (self._access is None and self._metrics is None and tracer is None)

    @property
    def methods(self) -> Mapping[str, RpcMethod]:
        """The service's methods by name (``rpc.discover``, built in, is not among them)."""
        return self._methods

    def document(self) -> dict[str, Any]:
        """The OpenRPC document describing the service's methods; a new dict each time."""
        return build_document(
            self._methods.values(),
            title=self._title,
            version=self._version,
            description=self._description,
        )

    async def _discover(self, _: dict[str, Any]) -> msgspec.Raw:
        if self._discovered is None:
            self._discovered = msgspec.Raw(_encode(self.document()))
        return self._discovered

    async def handle(self, body: bytes) -> bytes | None:
        """The encoded response to one request body, or None when nothing is answered."""
        try:
            tree, duplicates = _parse(body, self._max_batch, self._max_depth)
        except (ValueError, RecursionError) as error:
            # ValueError covers msgspec's DecodeError and a UnicodeDecodeError on bad UTF-8.
            return _parse_error(error, self._max_depth)
        long = len(body) >= self._checked_from  # else no string nor array can be too long
        if type(tree) is dict:
            if duplicates is not None:
                return _duplicated(tree, duplicates)
            if not self._observed:
                return await self._answer(tree, long=long, alone=True)
            started = time.perf_counter()  # timed here: a coroutine more would cost the call
            span = None if self._tracer is None else self._span(tree)
            answer = None
            try:
                answer = await self._answer(tree, long=long, alone=True)
            finally:
                self._record(tree, answer, started, span)
            return answer
        if type(tree) is list:
            return await self._batch(tree, duplicates, long=long)
        return _error(None, INVALID_REQUEST, "Invalid Request", _NOT_AN_OBJECT)

    async def _batch(
        self, batch: list[Any], duplicates: list[Any] | None, *, long: bool
    ) -> bytes | None:
        """The array of answers to a batch, its requests run concurrently; None if it is empty."""
        if not batch:
            return _error(None, INVALID_REQUEST, "Invalid Request", _EMPTY_BATCH)
        if len(batch) > self._max_batch:
            detail = f"a batch holds at most {self._max_batch} requests; got {len(batch)}"
            return _error(None, INVALID_REQUEST, "Invalid Request", detail)
        calls: list[Coroutine[Any, Any, bytes | None]] = []
        for index, request in enumerate(batch):
            if duplicates is None or _duplicate_key(duplicates[index]) is None:
                calls.append(self._member(request, long=long))
            else:
                calls.append(_settled(_duplicated(request, duplicates[index])))
        answers = [answer for answer in await asyncio.gather(*calls) if answer is not None]
        return b"[" + b",".join(answers) + b"]" if answers else None

    async def _member(self, request: Any, *, long: bool) -> bytes | None:
        """The response to one request of a batch, its method in its own log context."""
        name = request.get("method") if type(request) is dict else None
        if type(name) is not str:
            return await self._answer(request, long=long)
        with log_context(rpc_method=name):
            if not self._observed:
                return await self._answer(request, long=long)
            started = time.perf_counter()
            span = None if self._tracer is None else self._span(request)
            answer = None
            try:
                answer = await self._answer(request, long=long)
            finally:
                self._record(request, answer, started, span)
            return answer

    def _span(self, request: dict[str, Any]) -> Span:
        """The span of a call (SERVER), under the request's span if any, current till answered."""
        assert self._tracer is not None  # noqa: S101 - called with traces on only
        name = request.get("method")
        known = name if type(name) is str and name in self._bindings else OTHER
        attributes: dict[str, Attribute] = {
            "rpc.system": "jsonrpc",
            "rpc.method": known,
            "rpc.jsonrpc.version": "2.0",
        }
        rid = request.get("id")
        if type(rid) is str or type(rid) is int:
            attributes["rpc.jsonrpc.request_id"] = str(rid)
        return self._tracer.start(known, "server", attributes)

    def _record(
        self,
        request: dict[str, Any],
        answer: bytes | None,
        started: float,
        span: Span | None = None,
    ) -> None:
        """Write the access line of a call answered ``answer``, count it, end its span."""
        took = time.perf_counter() - started
        name = request.get("method")
        if type(name) is not str:
            name = ""
        code = None
        if answer is not None and answer.startswith(_ERROR_START):
            code = int(answer[len(_ERROR_START) : answer.index(b",", len(_ERROR_START))])
        if self._access is not None:
            self._access.call(name, code, took)
        if self._metrics is not None:  # a name the engine does not know: any caller's string
            self._metrics.call(name if name in self._bindings else OTHER, code, took)
        if span is not None:
            if code is not None:
                span.set("rpc.jsonrpc.error_code", code)
                if code == INTERNAL_ERROR:  # a server's failure; the others are the caller's
                    span.fail(str(code))
            span.end()

    async def _answer(self, request: Any, *, long: bool, alone: bool = False) -> bytes | None:  # noqa: C901, PLR0911, PLR0912 - the hot path stays one flat function: a call per check would cost more than the check
        """The response to one request of a body, or None for a notification.

        ``long``: the body is long enough to hold a string or an array past the lengths.
        ``alone``: the body holds this request alone, not a batch: its method is put in the
        log context of the request that carried it (a batch's calls share that context).
        """
        if type(request) is not dict:
            return _error(None, INVALID_REQUEST, "Invalid Request", _NOT_AN_OBJECT)
        rid = request.get("id", _NO_ID)
        notification = rid is _NO_ID
        if notification:
            rid = None
        elif type(rid) not in _ID_TYPES:
            return _error(None, INVALID_REQUEST, "Invalid Request", _BAD_ID)
        if request.get("jsonrpc") != "2.0":
            return _error(rid, INVALID_REQUEST, "Invalid Request", _BAD_VERSION)
        name = request.get("method")
        if type(name) is not str:
            return _error(rid, INVALID_REQUEST, "Invalid Request", _BAD_METHOD)
        params = request.get("params")
        if params is not None and type(params) is not dict and type(params) is not list:
            return _error(rid, INVALID_REQUEST, "Invalid Request", _BAD_PARAMS)
        key = request.get("idempotency_key")
        if key is not None and (problem := key_problem(key)) is not None:
            return _error(rid, INVALID_REQUEST, "Invalid Request", problem)
        binding = self._bindings.get(name)
        if binding is None:
            if notification:
                return None
            detail = f"{name!r} is not a method of this service; rpc.discover lists them"
            return _error(rid, METHOD_NOT_FOUND, "Method not found", {"detail": detail})
        if alone:
            context = current_log_context()
            if type(context) is RequestContext:
                context.rpc_method = name
        if binding.admit is not None:  # counted and authenticated before its params are read
            try:
                await binding.admit()
            except Exception as error:  # noqa: BLE001 - a refusal becomes an error object
                answer = self._failure(rid, name, error)
                return None if notification else answer
        try:
            args = binding.bind(params, long=long)
        except InvalidParamsError as error:
            if notification:
                return None
            return _error(rid, INVALID_PARAMS, "Invalid params", error.data)
        try:
            result = await (binding.call(args) if key is None else _keyed(binding, args, key))
        except InvalidParamsError as error:
            return (
                None if notification else _error(rid, INVALID_PARAMS, "Invalid params", error.data)
            )
        except Exception as error:  # noqa: BLE001 - any failure of a method becomes an error object
            answer = self._failure(rid, name, error)
            return None if notification else answer
        if notification:
            return None
        try:
            encoded = _encode(result)
        except Exception as error:  # noqa: BLE001 - msgspec raises TypeError, OverflowError...
            return _internal(rid, name, error)
        return b'{"jsonrpc":"2.0","result":' + encoded + b',"id":' + _encode(rid) + b"}"

    def _failure(self, rid: Any, name: str, error: Exception) -> bytes:
        """The error object for an exception a method raised: a fault, or an internal error."""
        fault = self._faults.describe(error)
        if fault is None:
            return _internal(rid, name, error)
        return _error(rid, fault.code, fault.title, {"detail": fault.detail, **fault.data})


class _Binding:
    """Turns the ``params`` of a request into a method's arguments, or explains why not."""

    __slots__ = (
        "admit",
        "args",
        "call",
        "check",
        "keyed_call",
        "limits",
        "method",
        "names",
        "positional",
        "required",
    )

    def __init__(self, method: RpcMethod, limits: JsonLimits) -> None:
        self.method = method
        self.call = method.call
        self.keyed_call = method.keyed_call or method.call
        self.admit = method.admit
        self.names = tuple(param.name for param in method.params)
        if len(set(self.names)) < len(self.names):
            raise ConfigError(f"method {method.name!r} names a parameter twice: {self.names}")
        self.positional = tuple(param.name for param in method.params if param.positional)
        self.required = tuple(param.name for param in method.params if param.required)
        self.limits = limits
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        # The params with the lengths limited, when a dataclass or Struct in them needs a
        # mirror: they are checked against it, then converted to the method's own types.
        checked: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        mirrors = False
        for param in method.params:
            hint = bounded(param.hint)  # a JSON integer no database column holds: refused
            held, mirrored = limits.limited(hint)
            mirrors = mirrors or mirrored
            checked.append((param.name, held) if param.required else (param.name, held, None))
            if not mirrored:
                hint = held
            if param.required:
                fields.append((param.name, hint))
            elif type(param.default) in _MUTABLE and param.default:
                # msgspec refuses a non-empty mutable default; a copy per call keeps callers
                # from sharing (and changing) one list.
                factory = functools.partial(copy.deepcopy, param.default)
                fields.append((param.name, hint, msgspec.field(default_factory=factory)))
            else:
                fields.append((param.name, hint, param.default))
        try:
            self.args = msgspec.defstruct(
                f"{method.name}_params", fields, kw_only=True, forbid_unknown_fields=True
            )
            self.check = (
                msgspec.defstruct(
                    f"{method.name}_limits", checked, kw_only=True, forbid_unknown_fields=True
                )
                if mirrors
                else None
            )
        except (TypeError, ValueError, RuntimeError) as error:
            # msgspec refuses names that are not identifiers (TypeError) or that start with
            # two underscores (RuntimeError), and defaults it cannot hold.
            raise ConfigError(
                f"method {method.name!r} has parameters msgspec cannot hold ({error}); "
                "use identifier names without a leading '__' and immutable defaults"
            ) from None

    def bind(self, params: dict[str, Any] | list[Any] | None, *, long: bool) -> dict[str, Any]:
        """The arguments by name, validated and converted to their hints.

        ``long``: the body may hold a string or an array past the lengths, so params holding
        a dataclass or Struct are checked against its mirror first.

        Raises:
            InvalidParamsError: with the detail and the path of the first problem.
        """
        named: dict[str, Any]
        if type(params) is dict:  # the usual call: by name
            named = params
        elif params is None:
            named = {}
        else:
            assert isinstance(params, list)  # noqa: S101 - the engine checked it is one of three
            if len(params) > len(self.positional):
                raise InvalidParamsError(self._too_many(len(params)), f"$[{len(self.positional)}]")
            named = dict(zip(self.positional, params, strict=False))
        if not self.names:
            if named:
                raise self._explain(named, None)
            return {}
        try:
            if long and self.check is not None:
                msgspec.convert(named, self.check)
            return msgspec.structs.asdict(msgspec.convert(named, self.args))
        except msgspec.ValidationError as error:
            raise self._explain(named, error) from None

    def _too_many(self, count: int) -> str:
        if not self.positional:
            return f"{self.method.name} takes no positional parameters; got {count}"
        names = ", ".join(self.positional)
        return (
            f"{self.method.name} takes at most {len(self.positional)} positional parameters "
            f"({names}); got {count}"
        )

    def _explain(
        self, params: dict[str, Any], error: msgspec.ValidationError | None
    ) -> InvalidParamsError:
        """Which parameter is wrong, found from the parameter list before msgspec's text."""
        for name in params:
            if name not in self.names:
                takes = ", ".join(self.names) or "no parameters"
                detail = f"{self.method.name} has no parameter {name!r}; it takes {takes}"
                return InvalidParamsError(detail, f"$.{name}")
        missing = [name for name in self.required if name not in params]
        if len(missing) == 1:
            return InvalidParamsError(
                f"{self.method.name} needs the parameter {missing[0]!r}", f"$.{missing[0]}"
            )
        if missing:  # every one named: a caller fixes them all at once
            names = ", ".join(map(repr, missing[:-1])) + f" and {missing[-1]!r}"
            return InvalidParamsError(
                f"{self.method.name} needs the parameters {names}", f"$.{missing[0]}"
            )
        message = str(error)
        detail, at, path = message.rpartition(" - at `")
        if not at:  # pragma: no cover - msgspec gives a path for all but the two cases above
            return InvalidParamsError(message, "$")
        return InvalidParamsError(self.limits.explain(detail), path.removesuffix("`"))


class InvalidParamsError(Exception):
    """The ``params`` of a request do not fit the method: answered with -32602.

    The engine raises it when it checks params against a method's signature. A method's
    ``call`` may raise it too, before it has done anything, when it finds the params invalid
    by a rule the signature cannot state (a message type's own ``__post_init__`` check).

    Args:
        detail: what is wrong, for the caller.
        path: where, as a JSON path: ``$.meters``.
    """

    def __init__(self, detail: str, path: str) -> None:
        super().__init__(detail)
        self.data = {"detail": detail, "path": path}


class _Duplicated(dict[str, Any]):
    """An object, decoded by the standard library, in which ``key`` appears twice."""

    __slots__ = ("key",)

    def __init__(self, pairs: list[tuple[str, Any]], key: str) -> None:
        super().__init__(pairs)
        self.key = key


class _TooDeepError(ValueError):
    def __init__(self, max_depth: int) -> None:
        super().__init__(f"JSON nested deeper than {max_depth} arrays and objects")


_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode

_NO_ID: Final = object()
_ID_TYPES: Final = frozenset({str, int, float, type(None)})
_MUTABLE: Final = frozenset({list, dict, set, bytearray})
_MEMBER: Final = re.compile(rb'"\s*:')

_EMPTY_BATCH: Final = "a batch must hold at least one request"
_NOT_AN_OBJECT: Final = "a request must be a JSON object"
_BAD_ID: Final = "`id` must be a string, a number or null"
_BAD_VERSION: Final = '`jsonrpc` must be exactly "2.0"'
_BAD_METHOD: Final = "`method` must be a string"
_BAD_PARAMS: Final = "`params` must be an array or an object"


_ERROR_START = b'{"jsonrpc":"2.0","error":{"code":'
"""How every error response begins, its code next: what an access line reads it from."""


def _error(rid: Any, code: int, message: str, data: str | dict[str, Any]) -> bytes:
    """An encoded error response, built anew for each answer (never a shared object)."""
    if type(data) is str:
        data = {"detail": data}
    return _encode(
        {"jsonrpc": "2.0", "error": {"code": code, "message": message, "data": data}, "id": rid}
    )


def _parse_error(error: BaseException, max_depth: int) -> bytes:
    """The -32700 answer; a RecursionError of the decoder is told as the depth limit."""
    detail = str(error) if isinstance(error, ValueError) else str(_TooDeepError(max_depth))
    return _error(None, PARSE_ERROR, "Parse error", detail)


def _internal(rid: Any, name: str, error: BaseException) -> bytes:
    """Logs an unexpected failure; the caller learns only the id it was logged under."""
    # The call's own id when it came through an edge that gave it one (HTTP, a broker).
    correlation_id = current_log_context().get("correlation_id") or uuid.uuid4().hex
    logger.error(
        "JSON-RPC method %s failed (correlation id %s)",
        name,
        correlation_id,
        exc_info=error,
        extra={"correlation_id": correlation_id, "rpc_method": name},
    )
    return _error(rid, INTERNAL_ERROR, "Internal error", {"correlation_id": correlation_id})


def _duplicated(request: Any, duplicates: Any) -> bytes:
    """The -32600 answer to a request holding an object that repeats a key."""
    rid = None
    if not isinstance(duplicates, _Duplicated):
        rid = request.get("id") if type(request) is dict else None
        rid = rid if type(rid) in _ID_TYPES else None
    key = _duplicate_key(duplicates)
    detail = f"the key {key!r} appears twice in one object; JSON-RPC needs unique keys"
    return _error(rid, INVALID_REQUEST, "Invalid Request", detail)


async def _keyed(binding: _Binding, args: dict[str, Any], key: str) -> Any:
    """The method's answer to a request with an ``idempotency_key``, which its keyed call reads."""
    token = IDEMPOTENCY_KEY.set(key)
    try:
        return await binding.keyed_call(args)
    finally:
        IDEMPOTENCY_KEY.reset(token)


async def _settled(answer: bytes) -> bytes:
    return answer


def _parse(body: bytes, max_batch: int, max_depth: int) -> tuple[Any, Any]:
    """The decoded body, and the body decoded again with its repeated keys marked if any.

    A batch larger than ``max_batch`` is not looked into: it is refused whole.

    Raises:
        ValueError: the body is not JSON, or nests deeper than ``max_depth``.
        RecursionError: the body nests too deep for the decoder.
    """
    tree = _decode(body)
    if type(tree) is dict or (type(tree) is list and len(tree) <= max_batch):
        return tree, _duplicates(body, tree, max_depth)
    return tree, None


def _duplicates(body: bytes, tree: dict[str, Any] | list[Any], max_depth: int) -> Any:
    r"""The body decoded again with its repeated keys marked, or None if no key repeats.

    msgspec keeps the last value of a repeated key silently, so a repeat shows only as fewer
    keys decoded than written. Each key written in the body is a string followed by optional
    whitespace and a colon, which the pattern ``"\s*:`` matches at the key's closing quote;
    distinct keys end at distinct colons, so their matches never overlap. The pattern can also
    match inside a string value (``"a\":b"``), but that only adds matches. Hence::

        keys decoded <= keys written <= matches of "\s*: <= colons in the body

    and keys decoded equal to either count proves that no key repeats; only when it is lower
    does the standard library decode the body again, marking the objects that repeat a key.

    Any lower bound of the keys decoded that reaches the colon count proves it as well, so a
    request whose keys all sit in the request object and its ``params`` (the common case) is
    settled by two lengths, without walking the tree. The walk also enforces ``max_depth``,
    so it is skipped only when the body cannot nest deeper: when it holds no more than
    ``max_depth`` brackets and braces in all, or no more than twice as many bytes (each opens
    and closes).

    Raises:
        _TooDeepError: the body nests deeper than ``max_depth`` (checked before any recursion).
        ValueError: the standard library refuses the body (never seen: msgspec accepted it).
    """
    colons = body.count(b":")
    if type(tree) is dict and (
        len(body) <= 2 * max_depth or body.count(b"[") + body.count(b"{") <= max_depth
    ):
        params = tree.get("params")
        keys = len(tree) + len(params) if type(params) is dict else len(tree)
        if keys == colons:
            return None
    keys = _count_keys(tree, 1, max_depth)
    if keys == colons or keys == len(_MEMBER.findall(body)):
        return None
    marked = json.loads(body, object_pairs_hook=_mark_duplicates)
    return None if _duplicate_key(marked) is None else marked


def _count_keys(node: dict[str, Any] | list[Any], depth: int, max_depth: int) -> int:
    """The keys of every object in ``node``, each counted once however often it is written."""
    if depth > max_depth:
        raise _TooDeepError(max_depth)
    if type(node) is dict:
        count = len(node)
        values: Iterable[Any] = node.values()
    else:
        count = 0
        values = node
    for value in values:
        if type(value) is dict or type(value) is list:
            count += _count_keys(value, depth + 1, max_depth)
    return count


def _mark_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object hook for :func:`json.loads`: marks an object that repeats a key."""
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    counts = Counter(key for key, _ in pairs)
    return _Duplicated(pairs, next(key for key, _ in pairs if counts[key] > 1))


def _duplicate_key(node: Any) -> str | None:
    """The first repeated key in ``node``, an object or array decoded by the standard library."""
    if isinstance(node, _Duplicated):
        return node.key
    if type(node) is dict:
        node = node.values()
    elif type(node) is not list:
        return None
    for value in node:
        key = _duplicate_key(value)
        if key is not None:
            return key
    return None
