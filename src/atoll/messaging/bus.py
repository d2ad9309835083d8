"""The in-process message bus: commands to their one handler, events to all of theirs.

Every handler call goes through the bus, whatever brought it (a REST request, a JSON-RPC call,
a message, another handler), so that every transport gets the same behaviour:

- each call runs in its own request scope, whose dependencies are filled from the container;
- the events it raises (added to :class:`Events`, collected by a unit of work, or returned) are
  handled after it, in order, within the same call; the events those handlers raise follow;
- a failing command or query handler's error reaches the caller; a failing event handler is
  logged with the event's and the handler's names, and the other handlers still run;
- middleware wraps every call: the hook for logging, tracing, authorization and retries;
- a call whose unit of work met a concurrent change (:class:`~atoll.errors.ConflictError`)
  runs again in a fresh scope, with backoff, as many times as its database allows;
- a delivered message (:meth:`MessageBus.deliver`, from an outbox relay or a broker) reaches
  each handler with its :class:`~atoll.messaging.envelope.Delivery` in the scope, so that a
  unit of work skips a message it has seen (:class:`~atoll.errors.DuplicateMessageError`).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from atoll.errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    DuplicateMessageError,
    ForbiddenError,
    NoHandlerError,
    ScopeError,
    TooManyConflictsError,
)
from atoll.kernel.container import ScopedContainer
from atoll.kernel.providers import Scope
from atoll.kernel.spans import current_span
from atoll.messaging.conflicts import retrying_conflicts
from atoll.messaging.context import Request, Response, request_of_call, response_of_call
from atoll.messaging.delivery import Deliverer
from atoll.messaging.dispatch import RAISING, Dispatch
from atoll.messaging.envelope import NO_DELIVERY, Delivery
from atoll.messaging.handlers import Handler, Policy
from atoll.messaging.outage import out_of_reach

if TYPE_CHECKING:
    from collections.abc import Collection, Coroutine, Iterator, Sequence

    from atoll.kernel.container import Container
    from atoll.kernel.registry import Registry
    from atoll.messaging.envelope import Envelope
    from atoll.messaging.handlers import Signature

__all__ = ["Authorize", "Call", "Events", "MessageBus", "Middleware", "Next"]

logger = logging.getLogger("atoll.bus")


class Events:
    """The events raised while one handler runs; the bus handles them after it returns.

    Ask for it by type hint in a handler (or in a unit of work) and add to it::

        async def record_run(cmd: RecordRun, repo: RunRepository, events: atoll.Events) -> int:
            run = repo.add(...)
            events.add(RunRecorded(run.id, cmd.user_id, cmd.meters))
            return run.id
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: list[object] = []

    def add(self, *events: object) -> None:
        """Raise ``events``, to be handled once the current handler has returned."""
        self._pending.extend(events)

    def __iter__(self) -> Iterator[object]:
        return iter(self._pending)

    def __len__(self) -> int:
        return len(self._pending)

    def __repr__(self) -> str:
        return f"Events({self._pending!r})"


def _no_delivery() -> Delivery:
    return NO_DELIVERY


def _events_outside_a_handler() -> Events:
    raise ScopeError(
        "atoll.Events exist only while a handler runs; ask for them in a handler's "
        "parameters, or in a request-scoped provider a handler uses"
    )


@dataclass(slots=True)
class Call:
    """One call of a handler, as middleware sees it.

    Attributes:
        handler: the handler called.
        arguments: the caller's inputs by parameter name (a message handler's message is
            under its first parameter's name).
        seeds: instances the transport gives the call's scope by type (the HTTP request,
            later the caller's identity).
        events: the events the call raised, once it has returned.
    """

    handler: Handler
    arguments: dict[str, Any]
    seeds: dict[Any, Any] = field(default_factory=dict)
    events: list[object] = field(default_factory=list)


Authorize: TypeAlias = Callable[
    [Handler, Policy, Delivery, dict[str, Any], ScopedContainer], Awaitable[None]
]
"""``await authorize(handler, policy, delivery, arguments, scope)``: returns if the call may
run, in the call's scope, before the handler's dependencies are made; raises if not."""

Next: TypeAlias = Callable[[Call], Awaitable[Any]]
Middleware: TypeAlias = Callable[[Call, Next], Awaitable[Any]]
"""``async def middleware(call, call_next) -> result``: runs around every handler call."""


class MessageBus:
    """Routes messages to handlers and runs every handler call.

    A bus is filled while the application is declared (:meth:`add`, :meth:`use`) and bound to
    the container once that is built (:meth:`bind`); it handles messages from then on. Which
    handler takes which message is its :class:`~atoll.messaging.dispatch.Dispatch`; a call
    that met a concurrent change runs again by
    :func:`~atoll.messaging.conflicts.retrying_conflicts`; a delivered message reaches its
    handlers through a :class:`~atoll.messaging.delivery.Deliverer`. Every handler call goes
    through :meth:`_run`, the one place a handler runs directly (nothing to inject, no
    middleware: no scope to open) or in a scope, under the middleware.

    Args:
        middleware: wrappers around every handler call, outermost first.
    """

    def __init__(self, middleware: Sequence[Middleware] = ()) -> None:
        self._dispatch = Dispatch()
        self._middleware: list[Middleware] = list(middleware)
        self._container: Container | None = None
        self._signatures: dict[Handler, Signature] = {}
        self._direct: frozenset[Handler] = frozenset()
        self._reaching: dict[type, set[Any]] = {}
        """For :meth:`asks_for`: each key asked about, with the providers that need it."""
        self._deliverer = Deliverer(self._dispatch, self._run_logged, self._drain, self._is_direct)
        self._policies: dict[Handler, Policy] = {}
        self.authorize: Authorize | None = None
        """Judges a handler's policy before each of its calls (the service's authorizer,
        set as the application is built); needed once a handler declares a policy."""
        self.default_policy: Policy | None = None
        """The policy of every handler declaring none and not public (a service refusing
        by default); set before :meth:`bind`."""
        self._observers: dict[type, list[Callable[[object], None]]] = {}

    # -- declaring ---------------------------------------------------------------------------

    def add(self, handler: Handler) -> None:
        """Route ``handler``'s message to it; RPC and route handlers are only remembered.

        Raises:
            ConfigError: a command or query already has a handler, or the bus is bound.
        """
        if self._container is not None:
            raise ConfigError(f"cannot add {handler.label}: the bus is already running")
        self._dispatch.add(handler)

    def use(self, middleware: Middleware) -> None:
        """Wrap every handler call in ``middleware`` (inside those added before).

        Raises:
            ConfigError: the bus is already bound: middleware is declared before it runs.
        """
        if self._container is not None:
            raise ConfigError("cannot add middleware: the bus is already running")
        self._middleware.append(middleware)

    def register(self, registry: Registry) -> None:
        """Provide this bus, and the :class:`Events` and :class:`Delivery` of each call."""
        registry.value(self)
        registry.provide(_events_outside_a_handler, scope=Scope.REQUEST, provides=Events)
        registry.provide(_no_delivery, scope=Scope.REQUEST, provides=Delivery)
        registry.provide(request_of_call, scope=Scope.REQUEST, provides=Request)
        registry.provide(response_of_call, scope=Scope.REQUEST, provides=Response)

    @property
    def handlers(self) -> list[Handler]:
        """Every handler, commands and queries first, then events, then the rest."""
        return self._dispatch.handlers

    def handler_for(self, message_type: type) -> Handler | None:
        """The command or query handler of ``message_type``, if any."""
        return self._dispatch.commands.get(message_type)

    def event_handlers(self, event_type: type) -> list[Handler]:
        """The handlers of ``event_type``, in the order they were added."""
        return list(self._dispatch.events.get(event_type, ()))

    # -- running -----------------------------------------------------------------------------

    def bind(self, container: Container) -> None:
        """Check every handler against the container, and handle messages with it from now on.

        Raises:
            MissingProviderError: a message handler needs what nothing provides.
            ScopeMismatchError: cannot happen for handlers; they run in a request scope.
        """
        provided = container.graph.providers.keys()
        self._signatures = {handler: handler.signature(provided) for handler in self.handlers}
        policies = {handler: self._policy_of(handler) for handler in self.handlers}
        self._policies = {handler: policy for handler, policy in policies.items() if policy}
        for handler, policy in self._policies.items():
            policy.prepare(handler, provided)
        if self._policies and self.authorize is None:
            first = next(iter(self._policies))
            raise ConfigError(
                f"{first.label} declares who may run it, but nothing judges it on this bus: "
                "run the service (atoll.main, atoll run, atoll.testing.run), which sets the "
                "bus's authorizer, or set bus.authorize before binding it"
            )
        if not self._middleware:
            self._direct = frozenset(
                handler
                for handler, signature in self._signatures.items()
                if handler.is_async and not signature.dependencies and handler not in self._policies
            )
        self._dispatch.index()
        self._container = container
        self._reaching = {}

    def _policy_of(self, handler: Handler) -> Policy | None:
        if handler.policy is not None:
            return handler.policy
        return None if handler.public else self.default_policy

    def policy_of(self, handler: Handler) -> Policy | None:
        """Who may run ``handler``: its own policy, or the default one; once bound."""
        self._bound(f"read the policy of {handler.label}")
        return self._policies.get(handler)

    def signature(self, handler: Handler) -> Signature:
        """The inputs and dependencies of ``handler``, once the bus is bound.

        Raises:
            ConfigError: the bus is not bound yet.
        """
        if self._container is None:
            self._bound(f"read the signature of {handler.label}")
        return self._signatures[handler]

    def asks_for(self, handler: Handler, *keys: type) -> bool:
        """Whether a call of ``handler`` makes any of ``keys``: as a parameter, or for a provider.

        A transport asks once, to set up what only such a call reads (the
        :class:`~atoll.messaging.context.CallContext`) for those handlers alone.
        """
        container = self._bound(f"read what {handler.label} asks for")
        wanted: set[object] = set(keys)
        for key in keys:
            reaching = self._reaching.get(key)
            if reaching is None:  # the graph is fixed once bound: walked once per key
                reaching = self._reaching[key] = container.graph.dependents(key)
            wanted |= reaching
        return any(dependency.key in wanted for dependency in self.signature(handler).dependencies)

    def _bound(self, what: str) -> Container:
        """The container; asking before :meth:`bind` is an error that says how to run."""
        if self._container is None:
            raise ConfigError(
                f"cannot {what}: the bus is not bound to a container yet; run the service "
                "(atoll.main, atoll run), or build its container and call bus.bind(container)"
            )
        return self._container

    async def handle(self, message: object) -> Any:
        """Handle a command or query and return its handler's result; or publish an event.

        The events raised on the way are handled before this returns.

        Raises:
            NoHandlerError: ``message`` is of a type nothing handles, and not an event type
                with handlers (an event without handlers is published to nobody, silently).
            Exception: what the command's handler raised.
        """
        self._bound(f"handle {type(message).__qualname__}")
        handler = self._dispatch.commands.get(type(message))
        if handler is None:
            if type(message) in self._dispatch.events:
                await self.publish(message)
                return None
            raise NoHandlerError(self._dispatch.no_handler(message))
        return await self.call(handler, {handler_message_parameter(self, handler): message})

    async def publish(self, *events: object) -> None:
        """Handle ``events`` and every event their handlers raise, in order."""
        self._bound("publish " + ", ".join(type(event).__qualname__ for event in events))
        await self._drain(collections.deque(events))

    def deliver(
        self,
        envelope: Envelope,
        *,
        only: Collection[str] | None = None,
        service: str | None = None,
        broadcast: bool = False,
    ) -> Coroutine[Any, Any, bool]:
        """Handle a delivered event or command: each handler gets the delivery in its scope.

        An event goes to each of its handlers, a command to its one handler. A handler whose
        unit of work has seen the message already is skipped; one that fails is logged, and
        the others still run, as for :meth:`publish`. The events they raise follow. Unlike
        :meth:`publish`, a failure is raised once every handler has run, so that the message
        is not acknowledged.

        Args:
            envelope: the event or command, sealed.
            only: the consumers (``service.handler``) to deliver to; all by default. A
                redelivery after a failure goes to those that failed.
            service: deliver to that service's handlers only: a broker delivers to each
                service apart, even when several run in one process.
            broadcast: deliver to the handlers that run on every instance (``on(...,
                broadcast=True)``), where the others run on one; a delivery from the
                service's queue goes to the others only.

        The deliverer's own coroutine, returned as it is (no frame of this method's in
        between, on the path of every delivered message).

        Returns:
            (awaited) Whether a handler here took it (one of ``service``'s, among
            ``only``): False for a type nobody here handles.

        Raises:
            DeliveryError: a handler failed (it is logged); the message must be delivered
                again, so that its effect is not lost.
        """
        if self._container is None:
            self._bound(f"deliver {envelope.type}")
        return self._deliverer.deliver(envelope, only=only, service=service, broadcast=broadcast)

    def consumers(self, envelope: Envelope, service: str | None = None) -> list[str]:
        """The consumers (``service.handler``) :meth:`deliver` would hand ``envelope`` to."""
        return self._deliverer.consumers(envelope, service)

    async def call(
        self, handler: Handler, arguments: dict[str, Any], seeds: dict[Any, Any] | None = None
    ) -> Any:
        """Call ``handler`` with the caller's ``arguments``, then handle the events it raised.

        Args:
            handler: any handler of this bus.
            arguments: its inputs, by parameter name, already of the right types.
            seeds: instances the call's scope gets by type, such as the HTTP request.
        """
        if self._container is None:
            self._bound(f"call {handler.label}")
        result, raised = await self._run(handler, arguments, seeds)
        if result is not None and self._dispatch.events:
            raised.extend(self._dispatch.returned_events(handler, result))
        if raised:
            await self._drain(collections.deque(raised))
        return result

    def caller(self, handler: Handler) -> Callable[[dict[str, Any]], Awaitable[Any]]:
        """The cheapest call of ``handler`` that behaves as :meth:`call` (without seeds).

        A transport asks once and calls it per request. A handler whose result is never
        raised (not a command's, not an event handler's) is called through :meth:`_run` alone:
        nothing else would happen after it.
        """
        if self._container is None:
            self._bound(f"call {handler.label}")
        if handler.kind in RAISING:
            return functools.partial(self.call, handler)
        run = self._run

        async def plain(arguments: dict[str, Any]) -> Any:
            result, _ = await run(handler, arguments)
            return result

        return plain

    def _is_direct(self, handler: Handler) -> bool:
        """Whether :meth:`_run` calls ``handler`` directly: it would see no scope at all."""
        return handler in self._direct

    async def _run(
        self, handler: Handler, arguments: dict[str, Any], seeds: dict[Any, Any] | None = None
    ) -> tuple[Any, list[object]]:
        """Run one call of ``handler``: its result, and the events it raised.

        The one place a handler runs. One that needs nothing from the container, under no
        middleware, is called directly: there is no scope to open and no events to collect
        (nothing it asks for could hold them), so ``seeds`` could reach nothing either.
        """
        if handler in self._direct:
            return await handler.function(**arguments), []
        call = Call(handler, arguments, seeds or {})
        return await self._through_middleware(call), call.events

    def trace(self) -> None:
        """Run each handler in a span of its own, under the span in progress (traces on).

        Asked once, before the first call: with traces off, a run pays nothing for them.
        """
        self._run = self._run_in_span  # type: ignore[method-assign]

    async def _run_in_span(
        self, handler: Handler, arguments: dict[str, Any], seeds: dict[Any, Any] | None = None
    ) -> tuple[Any, list[object]]:
        """:meth:`_run`, in a span (INTERNAL) under the current one: ``runs.record_run``."""
        parent = current_span()
        if parent is None:  # work begun outside any span: a test's, a task's
            return await MessageBus._run(self, handler, arguments, seeds)
        span = parent.child(
            f"{handler.service}.{handler.name}",
            "internal",
            {
                "code.function.name": getattr(handler.function, "__qualname__", handler.name),
                "atoll.handler.kind": handler.kind.value,
            },
        )
        try:
            return await MessageBus._run(self, handler, arguments, seeds)
        except Exception as error:
            span.fail(error)
            raise
        finally:
            span.end()

    async def _through_middleware(self, call: Call) -> Any:
        if not self._middleware:
            return await self._invoke(call)
        chain: Next = self._invoke
        for middleware in reversed(self._middleware):
            chain = _link(middleware, chain)
        return await chain(call)

    async def _invoke(self, call: Call) -> Any:
        """The innermost step, run again after a conflict while its database allows."""
        try:
            return await self._invoke_once(call)
        except TooManyConflictsError:  # a call inside gave up: not run again
            raise
        except ConflictError as conflict:  # the first run is not wrapped: it is the hot path
            return await retrying_conflicts(
                lambda: self._invoke_once(call), call.handler.label, first=conflict
            )

    async def _invoke_once(self, call: Call) -> Any:
        """A scope, the dependencies, the handler itself."""
        container = self._container
        assert container is not None  # noqa: S101 - call() checked it
        handler = call.handler
        signature = self._signatures[handler]
        events = Events()
        async with container.scope() as scope:
            scope.seed(Events, events)
            for tp, instance in call.seeds.items():
                scope.seed(tp, instance)
            policy = self._policies.get(handler)
            if policy is not None and self.authorize is not None:  # bind() checked it is set
                delivery = call.seeds.get(Delivery, NO_DELIVERY)
                await self.authorize(handler, policy, delivery, call.arguments, scope)
            arguments = call.arguments
            if signature.dependencies:
                arguments = {**arguments, **await scope.afill(signature.dependencies)}
            if handler.is_async:
                result = await handler.function(**arguments)
            else:
                result = await asyncio.to_thread(handler.function, **arguments)
        call.events.extend(events)
        return result

    def returned_events(self, handler: Handler, result: object) -> list[object]:
        """What the bus handles next of what ``handler`` returned: events, chained commands.

        See :meth:`~atoll.messaging.dispatch.Dispatch.returned_events`.
        """
        return self._dispatch.returned_events(handler, result)

    def observe(self, kind: type, observer: Callable[[object], None]) -> None:
        """Show ``observer`` each event of ``kind`` raised in the process, before its handlers.

        The events a handler raises (``atoll.Events``, or returns) are handled in the
        process, and never reach the broker; GraphQL subscriptions see them so. An
        observer runs on the event loop, and must return at once.
        """
        self._observers.setdefault(kind, []).append(observer)

    async def _drain(self, pending: collections.deque[object]) -> None:
        commands, events = self._dispatch.commands, self._dispatch.events
        observers = self._observers
        while pending:
            message = pending.popleft()
            if observers:
                for observe in observers.get(type(message), ()):
                    observe(message)
            if type(message) in commands:  # an event handler chained a command
                await self._run_logged(commands[type(message)], message, pending)
                continue
            for handler in events.get(type(message), ()):
                await self._run_logged(handler, message, pending)

    async def _run_logged(
        self,
        handler: Handler,
        message: object,
        pending: collections.deque[object],
        seeds: dict[Any, Any] | None = None,
        *,
        delivered: Envelope | None = None,
    ) -> Exception | None:
        """Run one handler of ``message``; what it raised, or None (done, or done before).

        A handler of a ``delivered`` message that failed because a dependency is out of reach
        is logged at DEBUG only: whoever delivered it tells the outage, once.
        """
        name = self._signatures[handler].inputs[0].name
        try:
            result, raised = await self._run(handler, {name: message}, seeds)
        except DuplicateMessageError:
            logger.debug(
                "%s skipped %s: its effect is already committed",
                handler.label,
                type(message).__qualname__,
            )
            return None
        except Exception as error:  # noqa: BLE001 - logged by _failed, and returned
            return self._failed(handler, message, error, delivered)
        pending.extend(raised)
        if result is not None:
            pending.extend(self._dispatch.returned_events(handler, result))
        return None

    @staticmethod
    def _failed(
        handler: Handler, message: object, error: Exception, delivered: Envelope | None = None
    ) -> Exception:
        if isinstance(error, ForbiddenError | AuthenticationError):  # a policy's refusal
            logger.warning(
                "%s refused %s%s: %s",
                handler.label,
                type(message).__qualname__,
                "" if delivered is None else f" (message {delivered.id})",
                error,
            )
            return error
        if delivered is not None and out_of_reach(error):
            logger.debug(
                "%s could not handle %s (message %s): %s: %s",
                handler.label,
                delivered.type,
                delivered.id,
                type(error).__name__,
                error,
            )
            return error
        logger.error(
            "%s failed handling %s%s; the other handlers go on",
            handler.label,
            type(message).__qualname__,
            "" if delivered is None else f" (message {delivered.id})",
            exc_info=error,
        )
        return error


def _link(middleware: Middleware, call_next: Next) -> Next:
    def step(call: Call) -> Awaitable[Any]:
        return middleware(call, call_next)

    return step


def handler_message_parameter(bus: MessageBus, handler: Handler) -> str:
    """The name of the parameter a message handler receives its message in."""
    return bus.signature(handler).inputs[0].name
