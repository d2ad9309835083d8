"""The JSON-RPC engines of a process: one per service, made once, shared by every transport.

An engine (:class:`~atoll.endpoints.rpc.jsonrpc.JsonRpc`) knows no transport, so none of them owns
it: the composition makes :class:`RpcEngines` once, and HTTP (the ASGI app's ``/rpc``), broker
RPC (the broker link's servings) and in-process clients
(:class:`~atoll.clients.directory.Clients`) all answer through the same objects. A process that
serves no HTTP still has them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from atoll.endpoints.fields import message_fields
from atoll.endpoints.rpc.jsonrpc import InvalidParamsError, JsonRpc
from atoll.endpoints.rpc.methods import Param, RpcMethod
from atoll.errors import ServerOwnedFieldError
from atoll.messaging.context import CallContext, Request, Response, current_call, enter, leave
from atoll.persistence.shown import showing, shown

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from atoll.endpoints.api import Api, Method
    from atoll.endpoints.json_limits import JsonLimits
    from atoll.messaging.bus import MessageBus
    from atoll.messaging.handlers import Handler
    from atoll.observability.access import AccessLog
    from atoll.observability.metrics import Metrics
    from atoll.observability.tracing import Tracer
    from atoll.security.auth import Authenticator

__all__ = ["RpcEngines", "rpc_engine", "rpc_methods"]

_Call: TypeAlias = "Callable[[dict[str, Any]], Awaitable[Any]]"


class RpcEngines(Mapping[str, JsonRpc]):
    """The JSON-RPC engine of each service of an :class:`~atoll.endpoints.api.Api`, by name.

    ``engines["runs"]`` answers the methods of the service ``runs`` by their plain names: what
    clients in the process call and what broker RPC serves. :attr:`whole` answers every method
    of the API: the service's own engine for a service, and for a system each service's methods
    as ``service.method``; HTTP serves it at the RPC path.

    Args:
        api: the API of a service, or of a system (whose ``parts`` are its services' APIs).
        bus: the bound bus the handlers are called through.
        max_batch: the most calls one JSON-RPC batch may hold, on every transport.
        limits: how deep a body may nest and how long its params' strings and arrays may be,
            on every transport; the defaults of ``JsonLimits`` without it.
        authenticator: authenticates the calls of the handlers it guards; none without it.
        access: writes a line per call, when it logs ``rpc``.
        metrics: counts each call, when enabled.
        tracer: starts a span per call, when traces are on.

    Raises:
        ConfigError: a method cannot be served (see :class:`~atoll.endpoints.rpc.jsonrpc.JsonRpc`).
    """

    def __init__(
        self,
        api: Api,
        bus: MessageBus,
        *,
        max_batch: int = 100,
        limits: JsonLimits | None = None,
        authenticator: Authenticator | None = None,
        access: AccessLog | None = None,
        metrics: Metrics | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.api = api
        self.whole = rpc_engine(
            api,
            bus,
            max_batch=max_batch,
            limits=limits,
            authenticator=authenticator,
            access=access,
            metrics=metrics,
            tracer=tracer,
        )
        self._engines: dict[str, JsonRpc] = (
            {
                part.title: rpc_engine(
                    part,
                    bus,
                    max_batch=max_batch,
                    limits=limits,
                    authenticator=authenticator,
                    access=access,
                    metrics=metrics,
                    tracer=tracer,
                )
                for part in api.parts
            }
            if api.parts
            else {api.title: self.whole}
        )

    def __getitem__(self, name: str) -> JsonRpc:
        return self._engines[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._engines)

    def __len__(self) -> int:
        return len(self._engines)

    def __repr__(self) -> str:
        return f"RpcEngines({', '.join(self._engines)})"


def rpc_methods(
    methods: Iterable[Method], bus: MessageBus, authenticator: Authenticator | None = None
) -> list[RpcMethod]:
    """The JSON-RPC methods of ``methods``, each calling its handler through ``bus``."""
    return [_rpc_method(method.name, method.handler, bus, authenticator) for method in methods]


def rpc_engine(
    api: Api,
    bus: MessageBus,
    *,
    max_batch: int = 100,
    limits: JsonLimits | None = None,
    authenticator: Authenticator | None = None,
    access: AccessLog | None = None,
    metrics: Metrics | None = None,
    tracer: Tracer | None = None,
) -> JsonRpc:
    """A JSON-RPC engine answering ``api``'s methods through ``bus``."""
    return JsonRpc(
        rpc_methods(api.methods, bus, authenticator),
        faults=api.faults,
        max_batch=max_batch,
        limits=limits,
        title=api.title,
        version=api.version,
        description=api.description,
        access=access,
        metrics=metrics,
        tracer=tracer,
    )


def _server_owned_as_invalid_params(
    call: Callable[[dict[str, Any]], Awaitable[Any]],
) -> Callable[[dict[str, Any]], Awaitable[Any]]:
    """``call``, a server-owned field set by the caller answered as invalid params (-32602)."""

    async def checked(arguments: dict[str, Any]) -> Any:
        try:
            return await call(arguments)
        except ServerOwnedFieldError as error:
            raise InvalidParamsError(str(error), f"$.{error.field}") from error

    return checked


def _rpc_method(
    name: str, handler: Handler, bus: MessageBus, authenticator: Authenticator | None
) -> RpcMethod:
    if handler.message is not None:
        message = handler.message
        parameter = bus.signature(handler).inputs[0].name
        fields = message_fields(message)

        async def call_with_message(arguments: dict[str, Any]) -> Any:
            try:
                built = message(**arguments)
            except (TypeError, ValueError) as error:  # the message's own check refused them
                raise InvalidParamsError(str(error), "$") from error
            return await bus.call(handler, {parameter: built})

        params = fields
        call: Callable[[dict[str, Any]], Awaitable[Any]] = call_with_message
    else:
        params = list(bus.signature(handler).inputs)
        call = bus.caller(handler)
    if bus.asks_for(handler, Request, Response):
        call = _apart(call)

    def chain(*, keyed: bool) -> _Call:
        made = call
        if keyed and authenticator is not None:
            made = authenticator.keyed(handler, made)
        if bus.policy_of(handler) is not None:
            made = _server_owned_as_invalid_params(made)
        return showing(made, handler.returns)

    takes_keys = authenticator is not None and authenticator.keys(handler)
    shown_as = shown(handler.returns)
    return RpcMethod(
        name=name,
        params=tuple(
            Param(item.name, item.hint, positional=not item.keyword_only)
            if item.required
            else Param(item.name, item.hint, item.default, positional=not item.keyword_only)
            for item in params
        ),
        call=chain(keyed=False),
        keyed_call=chain(keyed=True) if takes_keys else None,
        # Before the params are read: a caller who must prove who they are learns nothing of
        # them without; a batch's members share one authentication (the context's).
        admit=None if authenticator is None else authenticator.admission(handler, bus),
        result=shown_as.type,
        summary=handler.summary,
        description=handler.description,
        policy=_policy_of(bus, handler),
    )


def _policy_of(bus: MessageBus, handler: Handler) -> str:
    """Who may call ``handler``, in a few words; ``""`` for whoever the service serves."""
    policy = bus.policy_of(handler)
    return "" if policy is None else policy.describe()


def _apart(call: _Call) -> _Call:
    """``call`` in a call context of its own, whose responses join the transport's on success.

    The members of a batch share their transport's context; a member that fails adds no
    header nor cookie to the HTTP response that carries the others.
    """

    async def apart(arguments: dict[str, Any]) -> Any:
        outer = current_call()
        if outer is None:
            return await call(arguments)
        inner = CallContext(outer.request, outer.identity)
        token = enter(inner)
        try:
            result = await call(arguments)
        finally:
            leave(token)
        outer.responses.extend(inner.responses)
        return result

    return apart
