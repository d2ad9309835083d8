"""Clients of remote services: call another service's JSON-RPC methods as if they were local.

::

    async with RemoteService("http://127.0.0.1:8001/rpc") as users:
        profile = await users.methods.get_profile(user_id=1)
        await users.notifications.touch(user_id=1)
        async with users.batch() as batch:
            total = batch.methods.add(a=1, b=2)
        total.result()

This module is the JSON-RPC 2.0 side of a call: it encodes requests (each call a fresh integer
id), checks that an answer is the response to them, and gives each call its result or error.
How the bytes travel is a :class:`~atoll.clients.transports.Transport`'s business: over HTTP,
or in the process, where a colocated service is called with exactly the same encoding,
validation and errors. :class:`RemoteService` is the async client, :class:`SyncRemoteService`
the same, blocking, for scripts, the REPL and ``atoll call``; :mod:`atoll.clients.directory`
gives them by service name.

A call that returns no result raises one of two errors:

- :class:`~atoll.errors.RemoteError` when something answered, but not with a result: the
  service's error object (its code, message and data), or, with code -32603 and a message
  naming the URL, an answer that is no JSON-RPC response to the call (not JSON, another id,
  nothing) or a result that does not convert to the asked type; the data of a malformed
  answer holds the start of its body. The transport raises it too, for an HTTP error status.
- :class:`~atoll.errors.RemoteUnavailableError`, from the transport, when no answer came.
"""

from __future__ import annotations

import itertools
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    Literal,
    Self,
    TypeAlias,
    TypeVar,
    overload,
)

import msgspec

from atoll.clients.transports import BODY_SHOWN, HttpTransport, SyncHttpTransport
from atoll.endpoints.rpc.jsonrpc import INTERNAL_ERROR
from atoll.errors import RemoteError, RemoteUnavailableError

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from atoll.clients.protection import Protection
    from atoll.clients.transports import Transport

__all__ = [
    "Batch",
    "MethodNamespace",
    "Params",
    "Pending",
    "RemoteService",
    "SyncBatch",
    "SyncRemoteService",
]

T = TypeVar("T")
R = TypeVar("R")

Params: TypeAlias = dict[str, Any] | list[Any] | tuple[Any, ...] | None
"""A call's parameters: by name (a dict), by position (a list or tuple), or none."""


# --- the wire: requests out, answers checked -----------------------------------------------


class _Error(msgspec.Struct):
    code: int
    message: str
    data: Any = None


class _Response(msgspec.Struct):
    jsonrpc: Literal["2.0"]
    id: Any
    result: Any | msgspec.UnsetType = msgspec.UNSET
    error: _Error | msgspec.UnsetType = msgspec.UNSET


class _Info(msgspec.Struct):
    title: str


class _Named(msgspec.Struct):
    name: str


class _Document(msgspec.Struct):
    """What a client reads of an OpenRPC document."""

    info: _Info
    methods: list[_Named]


_encode = msgspec.json.Encoder().encode
_decode_one = msgspec.json.Decoder(_Response).decode
_decode_batch = msgspec.json.Decoder(_Response | list[_Response]).decode


def _request(method: str, params: Params, rid: int | None, key: str | None = None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        if not isinstance(params, dict | list | tuple):
            raise TypeError(
                f"the params of {method!r} must be a dict (by name), a list (by position) or "
                f"None; got {type(params).__name__}"
            )
        message["params"] = params
    if rid is not None:
        message["id"] = rid
    if key is not None:
        message["idempotency_key"] = key
    return _encode(message)


class _Wire:
    """Encodes the requests to one service and checks its answers; holds no connection."""

    __slots__ = ("_ids", "url")

    def __init__(self, url: str) -> None:
        self.url = url
        # next() on a count is atomic under the GIL: threads sharing a service get distinct ids.
        self._ids = itertools.count(1)

    def request(self, method: str, params: Params, key: str | None = None) -> tuple[int, bytes]:
        rid = next(self._ids)
        return rid, _request(method, params, rid, key)

    def result(self, answer: bytes | None, rid: int, method: str) -> Any:
        """The result of the call ``rid``, or raise the error answered to it."""
        if answer is None:
            raise self.malformed(f"no answer to the call of {method!r}", b"")
        response = self.decode(_decode_one, answer)
        result, error = self.outcome(response, answer)
        if error is not None and response.id is None:
            raise error  # the service could not read the request's id, so it answered null
        if type(response.id) is not int or response.id != rid:
            raise self.malformed(f"the answer's id is {response.id!r}, the call's {rid}", answer)
        if error is not None:
            raise error
        return result

    def decode(self, decode: Callable[[bytes], T], answer: bytes) -> T:
        try:
            return decode(answer)
        except msgspec.DecodeError as error:  # a ValidationError too
            raise self.malformed(str(error), answer) from None
        except RecursionError:
            raise self.malformed("it nests arrays and objects too deeply", answer) from None

    def outcome(self, response: _Response, answer: bytes) -> tuple[Any, RemoteError | None]:
        """The result, or the error, of one response object."""
        if (response.result is msgspec.UNSET) == (response.error is msgspec.UNSET):
            raise self.malformed('a response holds exactly one of "result" and "error"', answer)
        if isinstance(response.error, _Error):
            error = response.error
            return None, RemoteError(error.code, error.message, error.data)
        return response.result, None

    def malformed(self, why: str, answer: bytes) -> RemoteError:
        body = answer[:BODY_SHOWN].decode(errors="replace")
        return RemoteError(
            INTERNAL_ERROR, f"malformed JSON-RPC response from {self.url}: {why}", {"body": body}
        )

    def convert(self, result: Any, what: str, result_type: type[T]) -> T:
        try:
            return msgspec.convert(result, result_type)
        except msgspec.ValidationError as error:
            shown = getattr(result_type, "__qualname__", repr(result_type))
            raise RemoteError(
                INTERNAL_ERROR, f"the result of {what!r} from {self.url} is no {shown}: {error}"
            ) from None


# --- calls by attribute, and batches of them --------------------------------------------


class MethodNamespace(Generic[R]):
    """Methods by attribute: ``ns.add(1, 2)``, ``ns.users.get_profile(user_id=1)``.

    An attribute path names a dotted method (``users.get_profile``); ``ns["get-profile"]``
    names one that is no identifier. A call returns what its owner makes of it: a coroutine,
    a result, or a :class:`Pending` in a batch.
    """

    __slots__ = ("_name", "_send")

    def __init__(self, send: Callable[[str, Params], R], name: str = "") -> None:
        self._send = send
        self._name = name

    def __getattr__(self, name: str) -> MethodNamespace[R]:
        if name.startswith("__"):
            raise AttributeError(name)  # copy, pickle and inspect probe for special names
        return self[name]

    def __getitem__(self, name: str) -> MethodNamespace[R]:
        return MethodNamespace(self._send, f"{self._name}.{name}" if self._name else name)

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        """Call the method, with positional or keyword arguments.

        Raises:
            TypeError: both kinds of argument were given, or no method was named.
        """
        if not self._name:
            raise TypeError("name the method to call: service.methods.add(a=1, b=2)")
        if args and kwargs:
            raise TypeError(
                f"{self._name}() was given positional and keyword arguments; JSON-RPC passes "
                "parameters either by position or by name, so use one kind"
            )
        return self._send(self._name, list(args) if args else (kwargs or None))

    def __repr__(self) -> str:
        return f"<method {self._name!r}>" if self._name else "<methods>"


class Pending:
    """The outcome of one call of a batch, known once the batch is sent."""

    __slots__ = ("_error", "_result", "_unsent", "method")

    def __init__(self, method: str) -> None:
        self.method = method
        self._unsent: str | None = "the batch has not been sent; read results after its block"
        self._result: Any = None
        self._error: RemoteError | None = None

    @property
    def done(self) -> bool:
        """Whether the call has its outcome."""
        return self._unsent is None

    def result(self) -> Any:
        """The call's result.

        Raises:
            RemoteError: the service answered an error, or no valid answer to this call.
            RuntimeError: the batch has not been sent, or never will be (its block raised).
        """
        if self._unsent is not None:
            raise RuntimeError(f"no result for {self.method!r}: {self._unsent}")
        if self._error is not None:
            raise self._error
        return self._result

    def settle(self, result: Any, error: RemoteError | None) -> None:
        """Give the call its outcome; done by the batch."""
        self._unsent = None
        self._result = result
        self._error = error

    def __repr__(self) -> str:
        state = "pending" if not self.done else "failed" if self._error else "done"
        return f"<Pending {self.method!r} {state}>"


class _Calls:
    """The calls and notifications of one batch, and how its answer settles them."""

    def __init__(self, wire: _Wire) -> None:
        self._wire = wire
        self._bodies: list[bytes] = []
        self._pending: dict[int, Pending] = {}
        self._closed = False

    @property
    def methods(self) -> MethodNamespace[Pending]:
        """Calls to add: ``batch.methods.add(a=1, b=2)`` returns a :class:`Pending`."""
        return MethodNamespace(self.call)

    @property
    def notifications(self) -> MethodNamespace[None]:
        """Notifications to add: ``batch.notifications.touch(x=1)``."""
        return MethodNamespace(self.notify)

    def call(self, method: str, params: Params = None) -> Pending:
        """Add a call of ``method``; the returned :class:`Pending` gets its outcome."""
        self._check_open()
        rid, body = self._wire.request(method, params)
        self._bodies.append(body)
        pending = self._pending[rid] = Pending(method)
        return pending

    def notify(self, method: str, params: Params = None) -> None:
        """Add a notification of ``method``."""
        self._check_open()
        self._bodies.append(_request(method, params, None))

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this batch was sent; start another with .batch()")

    def _take(self) -> tuple[bytes | None, bool]:
        """The body to send (None if empty) and whether it holds only notifications."""
        self._check_open()
        self._closed = True
        body = b"[" + b",".join(self._bodies) + b"]" if self._bodies else None
        return body, not self._pending

    def _abandon(self) -> None:
        self._closed = True
        for pending in self._pending.values():
            pending._unsent = "the batch was not sent, because its block raised"  # noqa: SLF001 - the batch owns its calls

    def _settle(self, answer: bytes | None) -> None:
        """Give each call its response; a call with none gets an error saying so.

        Raises:
            RemoteError: the answer is no batch response (not JSON, not response objects, an
                unknown or repeated id).
        """
        wire = self._wire
        waiting = dict(self._pending)
        orphan: RemoteError | None = None  # an error the service could not give an id
        if waiting and answer is not None:
            responses = wire.decode(_decode_batch, answer)
            if isinstance(responses, _Response):  # one error for the whole batch (too large...)
                orphan = wire.outcome(responses, answer)[1]
                if orphan is None or responses.id is not None:
                    raise wire.malformed("a batch is answered by an array", answer)
                responses = []
            for response in responses:
                result, error = wire.outcome(response, answer)
                if error is not None and response.id is None:
                    orphan = orphan or error
                    continue
                rid = response.id
                pending = waiting.pop(rid, None) if type(rid) is int else None
                if pending is None:
                    raise wire.malformed(f"an answer has an unknown or repeated id {rid!r}", answer)
                pending.settle(result, error)
        for rid, pending in waiting.items():
            if orphan is None:
                why = f"no answer to the call of {pending.method!r} (id {rid})"
                pending.settle(None, wire.malformed(why, answer or b""))
            else:  # an error of its own for each call, so that raising one changes no other
                pending.settle(None, RemoteError(orphan.code, orphan.message, orphan.data))


class Batch(_Calls):
    """Calls sent together, in one request, when the ``async with`` block ends.

    If the block raises, nothing is sent. :class:`~atoll.errors.RemoteUnavailableError` and
    an answer that is no batch response raise at the block's end; an error answered to one
    call raises from that call's :meth:`Pending.result`.
    """

    def __init__(self, wire: _Wire, transport: Transport) -> None:
        super().__init__(wire)
        self._transport = transport

    async def send(self) -> None:
        """Send the calls, and settle them; the block's end does it."""
        body, notification = self._take()
        if body is not None:
            self._settle(await self._transport.exchange(body, notification=notification))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            await self.send()
        else:
            self._abandon()


class SyncBatch(_Calls):
    """:class:`Batch`, blocking: sent when the ``with`` block ends."""

    def __init__(self, wire: _Wire, transport: SyncHttpTransport) -> None:
        super().__init__(wire)
        self._transport = transport

    def send(self) -> None:
        """Send the calls, and settle them; the block's end does it."""
        body, notification = self._take()
        if body is not None:
            self._settle(self._transport.exchange(body, notification=notification))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.send()
        else:
            self._abandon()


# --- services ---------------------------------------------------------------------------


class RemoteService:
    """Another service's JSON-RPC methods, called over a transport.

    Args:
        target: the URL of the service's JSON-RPC endpoint (``http://127.0.0.1:8000/rpc``;
            ``/rpc`` when it has no path), or a :class:`Transport`. A service known by name
            comes from :meth:`~atoll.clients.directory.Clients.get`.
        timeout: seconds a call may take, its deadline, for a URL.
        protection: what guards each call: retries, a circuit breaker, a bulkhead (see
            :mod:`atoll.clients.protection`); :meth:`~atoll.clients.directory.Clients.get`
            gives one from the ``clients`` options. None: each call is sent once, as it is.

    Raises:
        ConfigError: ``target`` is not an http(s) URL.
    """

    def __init__(
        self,
        target: str | Transport,
        *,
        timeout: float = 10.0,
        protection: Protection | None = None,
    ) -> None:
        self.transport: Transport = (
            HttpTransport(target, timeout=timeout) if isinstance(target, str) else target
        )
        self.protection = protection
        self._wire = _Wire(self.transport.url)
        self._document: _Document | None = None

    @property
    def url(self) -> str:
        """Where the calls go (a password masked)."""
        return self.transport.url

    @property
    def methods(self) -> MethodNamespace[Coroutine[Any, Any, Any]]:
        """The methods: ``await service.methods.weekly_meters(user_id=1)``."""
        return MethodNamespace(self.call)

    @property
    def notifications(self) -> MethodNamespace[Coroutine[Any, Any, None]]:
        """Notifications: ``await service.notifications.touch(x=1)`` sends one."""
        return MethodNamespace(self.notify)

    def batch(self) -> Batch:
        """Calls to send in one request: ``async with service.batch() as batch:``."""
        return Batch(self._wire, self.transport)

    @overload
    async def call(
        self,
        method: str,
        params: Params = None,
        *,
        idempotency_key: str | None = None,
        fallback: Callable[[Exception], Any] | None = None,
    ) -> Any: ...
    @overload
    async def call(
        self,
        method: str,
        params: Params = None,
        *,
        result_type: type[T],
        idempotency_key: str | None = None,
        fallback: Callable[[Exception], T] | None = None,
    ) -> T: ...
    async def call(
        self,
        method: str,
        params: Params = None,
        *,
        result_type: type[Any] | None = None,
        idempotency_key: str | None = None,
        fallback: Callable[[Exception], Any] | None = None,
    ) -> Any:
        """Call ``method``; return its result, as plain JSON values unless converted.

        Args:
            method: the method's name.
            params: by name (a dict) or by position (a list); dataclasses in them are sent as
                objects.
            result_type: the type to convert the result to (a dataclass, ``list[int]``...).
            idempotency_key: the call's key, which makes it run once however often it is
                sent (see docs/reference/idempotency.md): a keyed call is tried again after
                a failure that may pass.
            fallback: what to return instead when the call fails: called with the error
                when nothing answered (:class:`~atoll.errors.RemoteUnavailableError`: down,
                too slow, its breaker open, its bulkhead full) or the service failed
                (-32603); an error the service declared is raised.

        Raises:
            RemoteError: the service answered an error, or no valid answer.
            RemoteUnavailableError: no answer came.
            TypeError: ``params`` is not a dict, a list or None, or holds what JSON cannot.
        """
        protection = self.protection
        try:
            if protection is None:
                result = await self._call(method, params, idempotency_key)
            else:
                keyed = idempotency_key is not None
                result = await protection.call(
                    lambda: self._call(method, params, idempotency_key),
                    repeatable=protection.repeatable(method, keyed=keyed),
                )
        except RemoteUnavailableError as error:
            if fallback is None:
                raise
            return fallback(error)
        except RemoteError as error:
            if fallback is None or error.code != INTERNAL_ERROR:
                raise
            return fallback(error)
        return result if result_type is None else self._wire.convert(result, method, result_type)

    async def _call(self, method: str, params: Params, key: str | None) -> Any:
        """One request of ``method``, sent and answered: its result."""
        rid, body = self._wire.request(method, params, key)
        answer = await self.transport.exchange(body, notification=False)
        return self._wire.result(answer, rid, method)

    async def notify(self, method: str, params: Params = None) -> None:
        """Send a notification of ``method``: the service answers nothing, not even an error.

        Raises:
            RemoteError: the notification was refused (an HTTP error status).
            RemoteUnavailableError: it could not be delivered.
        """
        await self.transport.exchange(_request(method, params, None), notification=True)

    async def raw(self, body: bytes) -> bytes | None:
        """Send ``body`` as it is; return the answer's body, or None when there is none."""
        return await self.transport.exchange(body, notification=False)

    async def name(self) -> str:
        """The service's name, from its ``rpc.discover`` document (fetched once)."""
        return (await self._discovered()).info.title

    async def method_names(self) -> list[str]:
        """The service's methods, from its ``rpc.discover`` document (fetched once)."""
        return [method.name for method in (await self._discovered()).methods]

    async def _discovered(self) -> _Document:
        if self._document is None:
            document = await self.call("rpc.discover")
            self._document = self._wire.convert(document, "rpc.discover", _Document)
        return self._document

    async def aclose(self) -> None:
        """Close the connections."""
        await self.transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"RemoteService({self.url!r})"


class SyncRemoteService:
    """:class:`RemoteService`, blocking: for scripts, the REPL and ``atoll call``.

    Never use it in ``async def`` code, whose event loop it would block. ``name`` is a
    property here, as in gemstone's client.

    Args:
        target: the URL of the service's JSON-RPC endpoint, or a :class:`SyncHttpTransport`.
        timeout: seconds an HTTP call may take at each step, for a URL.

    Raises:
        ConfigError: ``target`` is not an http(s) URL.
    """

    def __init__(
        self, target: str | SyncHttpTransport, *, timeout: float = 10.0, token: str | None = None
    ) -> None:
        self.transport = (
            SyncHttpTransport(target, timeout=timeout, token=token)
            if isinstance(target, str)
            else target
        )
        self._wire = _Wire(self.transport.url)
        self._document: _Document | None = None

    @property
    def url(self) -> str:
        """Where the calls go (a password masked)."""
        return self.transport.url

    @property
    def methods(self) -> MethodNamespace[Any]:
        """The methods: ``service.methods.weekly_meters(user_id=1)`` returns the result."""
        return MethodNamespace(self.call)

    @property
    def notifications(self) -> MethodNamespace[None]:
        """Notifications: ``service.notifications.touch(x=1)`` sends one."""
        return MethodNamespace(self.notify)

    def batch(self) -> SyncBatch:
        """Calls to send in one request: ``with service.batch() as batch:``."""
        return SyncBatch(self._wire, self.transport)

    @overload
    def call(self, method: str, params: Params = None) -> Any: ...
    @overload
    def call(self, method: str, params: Params = None, *, result_type: type[T]) -> T: ...
    def call(
        self, method: str, params: Params = None, *, result_type: type[Any] | None = None
    ) -> Any:
        """Call ``method``; return its result. See :meth:`RemoteService.call`."""
        rid, body = self._wire.request(method, params)
        answer = self.transport.exchange(body, notification=False)
        result = self._wire.result(answer, rid, method)
        return result if result_type is None else self._wire.convert(result, method, result_type)

    def notify(self, method: str, params: Params = None) -> None:
        """Send a notification of ``method``: the service answers nothing, not even an error."""
        self.transport.exchange(_request(method, params, None), notification=True)

    def raw(self, body: bytes) -> bytes | None:
        """Send ``body`` as it is; return the answer's body, or None when there is none."""
        return self.transport.exchange(body, notification=False)

    @property
    def name(self) -> str:
        """The service's name, from its ``rpc.discover`` document (fetched once)."""
        return self._discovered().info.title

    def method_names(self) -> list[str]:
        """The service's methods, from its ``rpc.discover`` document (fetched once)."""
        return [method.name for method in self._discovered().methods]

    def _discovered(self) -> _Document:
        if self._document is None:
            document = self.call("rpc.discover")
            self._document = self._wire.convert(document, "rpc.discover", _Document)
        return self._document

    def close(self) -> None:
        """Close the connections."""
        self.transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SyncRemoteService({self.url!r})"
