"""The test harness: a service, or a system of them, running in the test's process.

::

    async with atoll.testing.run(service, argv=["--runs-page", "5"]) as harness:
        run_id = await harness.send(RecordRun(user_id=1, meters=5000, seconds=1500))
        assert harness.events_of(RunRecorded) == [RunRecorded(run_id, 1, 5000.0)]
        response = await harness.client.get(f"/runs/{run_id}")        # REST, in process
        total = await harness.rpc.methods.weekly_meters(user_id=1)   # JSON-RPC, in process
        with harness.override(Clock, FrozenClock(...)):
            ...

It runs what ``atoll run`` runs, minus the network: the same composition, the same
configuration rules, the same container, the same lifecycle (components started in
dependency order, background tasks supervised, everything stopped at the end of the block),
but no port is opened. What it adds is for tests:

- the configuration comes from ``argv`` alone, the service's own flags, and an empty
  environment, so that a developer's variables and config file never change a test's result;
  one default differs: a failed message is delivered again at once
  (``--broker-retry-backoff 0``), so that a test waits for no backoff; ``argv`` may set it;
- ``overrides`` replace providers before anything is made, so no real adapter is ever built;
- every event raised or published on the bus is recorded, in the order the bus handles them
  (:attr:`ServiceHarness.events`), including events no handler of this process listens to:
  those another service would consume are what a test of this one asserts on;
- an HTTP client and a JSON-RPC client reach the service in the process; with
  ``--no-server`` (a worker) only the JSON-RPC client does, and no HTTP app is built.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from atoll.endpoints.http.asgi import HttpApp
from atoll.endpoints.rpc.engines import RpcEngines
from atoll.errors import ConfigError, DatabaseUnavailableError
from atoll.kernel.entrypoint import load_config, running
from atoll.messaging.broker import Broker
from atoll.messaging.bus import MessageBus
from atoll.messaging.envelope import message_name, message_type, open_envelope
from atoll.messaging.memory_broker import MemoryBroker
from atoll.persistence.relay import OutboxRelay
from atoll.security.auth import acting_as
from atoll.service.broker_link import BrokerLink
from atoll.service.composition import compose_target, serves_http
from atoll.testing.client import TEST_BASE_URL

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping, Sequence

    from atoll.clients.remote import RemoteService
    from atoll.clients.transports import LocalTransport
    from atoll.endpoints.http.types import ASGIApp
    from atoll.kernel.app import App
    from atoll.kernel.container import Container
    from atoll.messaging.bus import Call, Middleware, Next
    from atoll.messaging.envelope import Envelope
    from atoll.messaging.publishing import Publisher
    from atoll.security.identity import Identity
    from atoll.service.runnable import Service, System

__all__ = ["ServiceHarness", "run"]

E = TypeVar("E")

_TEST_DEFAULTS = ("--broker-retry-backoff", "0")
"""Flags put before a test's own ``argv``: a failed message is delivered again at once."""


@contextlib.asynccontextmanager
async def run(
    target: Service | System,
    *,
    argv: Sequence[str] = (),
    overrides: Mapping[Any, object] | None = None,
) -> AsyncIterator[ServiceHarness]:
    """Run ``target`` for the block, started as ``atoll run`` starts it, with no port opened.

    Args:
        target: an :class:`atoll.Service` or an :class:`atoll.System`.
        argv: command-line flags of the service, such as ``["--runs-page-size", "5"]``
            (``atoll run MODULE:OBJECT --help`` lists them). They are the only source of
            configuration besides the defaults: the environment is taken to be empty.
        overrides: instances to provide instead of the providers of their keys, from the
            start: a type, or ``Annotated[T, Named("name")]`` for a named provider. Nothing
            is made from an overridden provider, not even once.

    Raises:
        ConfigError: a flag is unknown or its value invalid.
        ContainerError: the providers do not fit together, or an override has no provider.
        Exception: what a factory or a component's ``start`` raised; on leaving, what a
            component's ``stop`` raised, or :class:`~atoll.errors.TaskFailedError` if a
            background task failed.
    """
    recorder = _EventRecorder()
    app = _composed(target, recorder)
    config = load_config(app, [*_TEST_DEFAULTS, *argv], {})  # argv's own flags win

    with contextlib.ExitStack() as overriding:  # undone last, once everything has stopped

        def prepare(container: Container) -> None:
            recorder.bus = container.get(MessageBus)
            for key, value in (overrides or {}).items():
                overriding.enter_context(container.override(key, value))

        app.on_build(prepare)
        async with running(app, config) as container:
            relays = _relays(container)
            for relay in relays:
                relay.publisher = _RecordingPublisher(relay.publisher, recorder)
            settling = _Settling(relays, _queues(container))
            async with contextlib.AsyncExitStack() as serving:
                http = client = None
                if serves_http(config):  # not with --no-server: a worker has no HTTP app
                    http = await container.aget(HttpApp)
                    transport = _SettlingTransport(http.entry, settling)
                    client = await serving.enter_async_context(
                        httpx.AsyncClient(transport=transport, base_url=TEST_BASE_URL)
                    )
                harness = ServiceHarness(container, recorder, http, client, settling)
                try:
                    yield harness
                finally:
                    await harness.aclose()


def _composed(target: Service | System, recorder: Middleware) -> App:
    """The application ``atoll run`` would run for ``target``, without its HTTP server.

    The recorder is the innermost middleware of the bus, so it sees what the handlers return.

    Raises:
        TypeError: ``target`` is neither a service nor a system.
    """
    return compose_target(target, serve=False, middleware=[recorder])


class ServiceHarness:
    """A running service (or system) and the ways a test reaches it; made by :func:`run`.

    Attributes:
        container: the started container: ``await harness.container.aget(Repo)``.
        bus: the message bus every handler call goes through.
    """

    def __init__(
        self,
        container: Container,
        recorder: _EventRecorder,
        http: HttpApp | None,
        client: httpx.AsyncClient | None,
        settling: _Settling | None = None,
    ) -> None:
        self.container = container
        self.bus = recorder.bus
        self._http = http
        self._client = client
        self._recorder = recorder
        self._settling = settling or _Settling([], None)
        self._rpc: RemoteService | None = None

    @property
    def http(self) -> HttpApp:
        """The service's ASGI app; :attr:`client` sends requests to its ``entry``.

        ``entry`` is the app inside the ASGI middleware it declares and CORS, if any.

        Raises:
            ConfigError: the service runs with ``--no-server``, so it has no HTTP app.
        """
        if self._http is None:
            raise _no_http("http")
        return self._http

    @property
    def client(self) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` on the service, with base URL ``http://testserver``.

        ``await harness.client.get("/runs/1")``. Like :meth:`send`, it returns once the events
        the request committed are handled.

        Raises:
            ConfigError: the service runs with ``--no-server``, so it has no HTTP app.
        """
        if self._client is None:
            raise _no_http("client")
        return self._client

    @property
    def events(self) -> list[object]:
        """Every event raised or published on the bus since the start, in order.

        An event counts when a handler raises it (with :class:`atoll.Events`, or by returning
        it), when it is published (:meth:`publish`, or :meth:`send` given an event), or when
        an outbox relay publishes it once a unit of work committed it; whether or not a
        handler of this process handles it. Those of a handler that failed are not raised, so
        not counted.
        """
        return [_opened(event) for event in self._recorder.events]

    def events_of(self, event_type: type[E]) -> list[E]:
        """The events of :attr:`events` that are instances of ``event_type``, in order.

        An event a relay published counts when its name on the wire is ``event_type``'s, and
        is read as one: another type of the process may carry the same name (a consumer's
        own declaration of a producer's event).
        """
        name = message_name(event_type)
        found: list[E] = []
        for event in self._recorder.events:
            if isinstance(event, _Relayed):
                if event.envelope.type == name:
                    found.append(open_envelope(event.envelope, event_type))  # type: ignore[arg-type]
            elif isinstance(event, event_type):
                found.append(event)
        return found

    async def send(self, message: object) -> Any:
        """Handle a command or query through the bus and return its handler's result.

        Given an event, publish it, as the bus does. The events raised on the way are handled,
        and recorded, before this returns; so are those committed to an outbox, which
        :meth:`settle` relays.

        Raises:
            NoHandlerError: nothing handles ``message``'s type.
            Exception: what the handler raised.
        """
        bus = self.bus
        if bus.handler_for(type(message)) is None and bus.event_handlers(type(message)):
            self._recorder.events.append(message)
        result = await bus.handle(message)
        await self.settle()
        return result

    async def publish(self, *events: object) -> None:
        """Publish ``events`` on the bus; their handlers, and those of what they raise, run."""
        self._recorder.events.extend(events)
        await self.bus.publish(*events)
        await self.settle()

    async def settle(self) -> int:
        """Relay what units of work committed to the outboxes, until none is left.

        The events relayed are handled, and recorded, before this returns; so are those
        their handlers commit in turn. On a broker in memory (``memory://``, the default, or
        ``memory://NAME``), so is every message its consumers here hold: one whose handler
        fails is delivered again until it is handled or, past ``--broker-deliveries``, in the
        dead-letter queue. A relay turned off (``--no-db-relay``) is left alone.

        Returns:
            How many events were relayed.
        """
        return await self._settling.settle()

    def override(
        self, tp: object, value: object, /, *, name: str | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """Provide ``value`` for ``tp`` until the block ends; see :meth:`atoll.Container.override`.

        Every handler call made in the block gets ``value``, and so do app-scoped instances
        made in the block that depend on ``tp``. Components keep what they were started with:
        replace what a component holds with ``overrides=`` of :func:`run`.
        """
        return self.container.override(tp, value, name=name)

    @contextlib.contextmanager
    def acting_as(self, identity: Identity) -> Iterator[None]:
        """Call as ``identity`` until the block ends, as a caller whose token proved it.

        :attr:`rpc`, :meth:`send` and :meth:`publish` carry it: a guarded method serves it,
        and a handler asking for :class:`atoll.Identity` gets it. :attr:`client` does not:
        an HTTP request proves who it is with its own ``Authorization`` header.
        """
        with acting_as(identity):
            yield

    @property
    def rpc(self) -> RemoteService:
        """A JSON-RPC client of the service, through its JSON-RPC engine, in the process.

        The same encoding, validation and errors as over HTTP:
        ``await harness.rpc.methods.weekly_meters(user_id=1)``; a system's methods are
        ``harness.rpc.methods.runs.weekly_meters(...)``. Like :meth:`send`, a call returns
        once the events it committed are handled.
        """
        if self._rpc is None:
            from atoll.clients.remote import RemoteService  # noqa: PLC0415 - on first use
            from atoll.clients.transports import LocalTransport  # noqa: PLC0415 - on first use

            engines = self.container.get(RpcEngines)
            local = LocalTransport(engines.whole, name=engines.api.title)
            self._rpc = RemoteService(_SettlingRpc(local, self._settling))
        return self._rpc

    async def aclose(self) -> None:
        """Close the JSON-RPC client, if one was made; :func:`run` calls it on leaving."""
        if self._rpc is not None:
            await self._rpc.aclose()
            self._rpc = None

    def __repr__(self) -> str:
        return f"<ServiceHarness of {self.container.get(RpcEngines).api.title!r}>"


def _no_http(asked: str) -> ConfigError:
    return ConfigError(
        f"harness.{asked} reaches the service over HTTP, which --no-server turned off; drop "
        "the flag to test HTTP, or reach the service with harness.send, harness.rpc or a "
        "client over its broker"
    )


class _Settling:
    """Waits until what was committed and published here is handled, or dead-lettered.

    Args:
        relays: the outbox relays of the application.
        queues: its broker, if in memory, and the services whose consumers run here.
    """

    def __init__(
        self,
        relays: Sequence[OutboxRelay],
        queues: tuple[MemoryBroker, tuple[str, ...]] | None,
    ) -> None:
        self.relays = list(relays)
        self.queues = queues
        self._turn = asyncio.Lock()

    async def settle(self) -> int:
        async with self._turn:  # one flush of a relay at a time: concurrent sends take turns
            return await self._settle()

    async def _settle(self) -> int:
        total = 0
        while True:
            count = 0
            for relay in self.relays:
                if relay.enabled:
                    count += await relay.flush()
            if self.queues is not None:
                broker, services = self.queues
                await broker.settled(services)
            if not count:
                return total
            total += count


class _SettlingTransport(httpx.ASGITransport):
    """Calls the app in the process, then relays what the request committed to an outbox."""

    def __init__(self, app: ASGIApp, settling: _Settling) -> None:
        super().__init__(app=app)
        self._settling = settling

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        # The response is what the test asked for: a database out of reach (the test may have
        # cut it) leaves the outbox to the background relay rather than fail the request.
        with contextlib.suppress(DatabaseUnavailableError):
            await self._settling.settle()
        return response


class _SettlingRpc:
    """A JSON-RPC transport in the process that relays what each call committed, after it."""

    def __init__(self, transport: LocalTransport, settling: _Settling) -> None:
        self._transport = transport
        self._settling = settling
        self.url = transport.url

    async def exchange(self, body: bytes, *, notification: bool) -> bytes | None:
        answer = await self._transport.exchange(body, notification=notification)
        with contextlib.suppress(DatabaseUnavailableError):  # as for the HTTP client
            await self._settling.settle()
        return answer

    async def aclose(self) -> None:
        await self._transport.aclose()


def _relays(container: Container) -> list[OutboxRelay]:
    found: list[OutboxRelay] = []
    for instance in container.instances().values():
        if isinstance(instance, OutboxRelay) and not any(instance is r for r in found):
            found.append(instance)
    return found


def _queues(container: Container) -> tuple[MemoryBroker, tuple[str, ...]] | None:
    """The broker, if in memory, and the services consuming from it here."""
    broker = container.get(Broker)
    if not isinstance(broker, MemoryBroker):
        return None
    link = container.get(BrokerLink)
    return broker, tuple(consumer.service for consumer in link.consumers)


class _RecordingPublisher:
    """Records each event a relay publishes, by its importable type, then publishes it."""

    def __init__(self, publisher: Publisher, recorder: _EventRecorder) -> None:
        self.publisher = publisher
        self.recorder = recorder
        self._seen: set[str] = set()

    def publish(self, envelope: Envelope) -> Awaitable[None]:
        # Recorded before its handlers run, so that it precedes what they raise; and once,
        # however often it is published again after a handler failed.
        if envelope.id not in self._seen and message_type(envelope.type) is not None:
            self._seen.add(envelope.id)
            self.recorder.events.append(_Relayed(envelope))
        return self.publisher.publish(envelope)  # as it is: a future stays one


@dataclass(frozen=True, slots=True)
class _Relayed:
    """An event a relay published: read as the type asked for, or the one its name gives."""

    envelope: Envelope


def _opened(event: object) -> object:
    if isinstance(event, _Relayed):
        kind = message_type(event.envelope.type)
        assert kind is not None  # noqa: S101 - recorded only when a type has the name
        return open_envelope(event.envelope, kind)
    return event


class _EventRecorder:
    """Middleware recording the events each handler call raised, in the order they were raised.

    The bus handles the events a call raised after it, in a first-in first-out queue, so the
    order they are raised in is the order they are handled in. It is the innermost middleware,
    so it sees the calls other middleware let through, and their events as the bus does.
    """

    bus: MessageBus

    def __init__(self) -> None:
        self.events: list[object] = []

    async def __call__(self, call: Call, call_next: Next) -> Any:
        result = await call_next(call)
        self.events.extend(call.events)
        self.events.extend(
            item
            for item in self.bus.returned_events(call.handler, result)
            if self.bus.event_handlers(type(item))  # an event, not a chained command
        )
        return result
