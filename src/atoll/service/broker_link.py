"""The broker of a process, installed: the ``broker`` options, the broker, and what uses it.

Composing an application installs, beside the services' own declarations:

- the ``broker`` options section (:class:`~atoll.messaging.options.BrokerOptions`);
- the :class:`~atoll.messaging.broker.Broker` chosen by ``--broker-url``, an app-scoped
  component whose ``ping`` joins the readiness checks (``/health/ready`` answers 503 while the
  broker is out of reach); one out of reach at start is connected in the background
  (:class:`~atoll.messaging.connecting.ConnectingBroker`), so that the service starts anyway.
  For ``memory://``, a :class:`~atoll.messaging.memory_broker.MemoryBroker` of the
  application's own, up while the process is (no readiness check), whose publish returns once
  the message's first delivery is settled (it has no store that outlives the process: the
  outbox keeps the event until then);
- the :class:`~atoll.messaging.publishing.Publisher` every outbox relay hands its events to:
  the broker, whatever the URL;
- :class:`BrokerLink`, an entrypoint: each service consumes its own messages (the events it
  handles, what is sent to it) through a :class:`~atoll.messaging.consumer.BrokerConsumer`,
  whose ``ping`` joins the readiness checks (``consumer <service>`` fails while its handlers
  cannot reach a dependency, such as their database), and, on a broker other processes
  reach, answers the JSON-RPC calls that come over it (broker RPC) with its own engine: a
  call's headers are its :class:`~atoll.messaging.context.Request`'s, so that the
  :class:`~atoll.security.auth.Authenticator` reads its credentials as over HTTP.
"""

# No `from __future__ import annotations` here: the container reads the hints of the
# factories below when they are registered, so the types they name are imported for real.

import asyncio
import contextlib
import functools
import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from atoll.clients.directory import ClientOptions
from atoll.clients.transports import RpcEngine
from atoll.endpoints.rpc.engines import RpcEngines
from atoll.errors import BrokerUnavailableError, ConfigError, DeadlineExceededError
from atoll.kernel.app import App
from atoll.kernel.health import Readiness
from atoll.kernel.logs import reset_log_context, set_log_context
from atoll.messaging.broadcast_consumer import BroadcastConsumer
from atoll.messaging.broker import Broker, Responder, Serving, Subscription, open_broker
from atoll.messaging.bus import MessageBus
from atoll.messaging.connecting import ConnectingBroker
from atoll.messaging.consumer import BrokerConsumer
from atoll.messaging.context import (
    BROKER_REQUEST,
    CallContext,
    Headers,
    Request,
    enter,
    leave,
)
from atoll.messaging.envelope import message_name
from atoll.messaging.handlers import HandlerKind
from atoll.messaging.memory_broker import MemoryBroker
from atoll.messaging.options import BrokerOptions
from atoll.messaging.publishing import Publisher
from atoll.messaging.signing import (
    EnvelopeSigner,
    EnvelopeVerifier,
    SigningOptions,
    SigningPublisher,
)
from atoll.observability.access import AccessLog
from atoll.observability.correlation import REQUEST_ID, RequestContext, made_id, taken_id
from atoll.observability.metrics import Metrics
from atoll.observability.tracing import (
    TracedPublisher,
    Tracer,
    Tracing,
    consumer_spans,
    messaging_system,
)
from atoll.persistence.inboxes import Inboxes
from atoll.resilience.deadlines import carried_timeout, within
from atoll.security.auth import KEY_MEMBER, Authenticator, reads_call_context, takes_keys
from atoll.service.definition import ServiceDefinition

if TYPE_CHECKING:
    from atoll.kernel.spans import Attribute

__all__ = ["BrokerLink", "Signatures", "install_broker", "signatures_of", "subscription_of"]

logger = logging.getLogger("atoll.broker")

_LONGEST_PAUSE = 10.0
"""Seconds between two attempts at the most to start a link whose broker is out of reach."""


def _told(
    access: AccessLog | None, metrics: Metrics | None
) -> Callable[[str, str, int, str, float, float | None], None] | None:
    """What the consumers tell of each message settled: its access line, its counts, or both."""
    hooks = []
    if access is not None and access.messages:
        hooks.append(access.message)
    if metrics is not None and metrics.enabled:
        hooks.append(metrics.message)
    if len(hooks) < 2:  # noqa: PLR2004 - both
        return hooks[0] if hooks else None
    line, count = hooks

    def both(  # noqa: PLR0917 - the hook's parts, passed on
        kind: str, service: str, attempt: int, outcome: str, seconds: float, lag: float | None
    ) -> None:
        line(kind, service, attempt, outcome, seconds, lag)
        count(kind, service, attempt, outcome, seconds, lag)

    return both


def _in_hand(consumer: BrokerConsumer) -> Callable[[], int]:
    """What ``consumer`` holds, received and not settled, read when asked."""

    def count() -> int:
        return consumer.in_hand

    return count


def broadcast_topics_of(service: ServiceDefinition) -> list[str]:
    """The topics of the events ``service`` handles on every instance (``broadcast=True``)."""
    return sorted(
        {
            message_name(handler.message)
            for handler in service.handlers
            if handler.broadcast and handler.message is not None
        }
    )


def subscription_of(service: ServiceDefinition, options: BrokerOptions) -> Subscription | None:
    """What ``service`` takes from a broker: the events it handles and what is sent to it.

    ``None`` for a service that handles no event and no command.
    """
    events: set[str] = set()
    commands = False
    for handler in service.handlers:
        if (
            handler.kind is HandlerKind.EVENT
            and handler.message is not None
            and not handler.broadcast
        ):
            events.add(message_name(handler.message))
        elif handler.kind is HandlerKind.COMMAND:
            commands = True
    if not events and not commands:
        return None
    return Subscription(
        service.name,
        tuple(sorted(events)),
        deliveries=options.deliveries,
        ack_wait=options.ack_wait,
        prefetch=options.prefetch,
    )


class BrokerLink:
    """The services of this process on the broker: their consumers and their RPC servings.

    An entrypoint: it starts once every other component has, and stops before them, so that
    messages in hand find what their handlers use. On ``memory://``, which no other
    application reaches, it serves no RPC.

    Args:
        options: the ``broker`` options.
        broker: the broker.
        bus: who handles what the consumers take.
        services: the services of this process.
        engines: the JSON-RPC engines of the services, by name, which answer broker RPC: the
            ones HTTP and in-process clients answer through too.
        inboxes: the services' inboxes, asked of a message delivered more often than allowed.
        authenticator: who authenticates the engines' calls, if any: a call over the broker
            then carries its headers to it, for its credentials.
        verifier: what checks the signature of each message consumed, when the process
            takes signed messages only.
        signs: whether the process signs what it publishes: without a verifier, it then
            takes no subject from the messages it consumes, which it would vouch for.
        access: writes a line per message handled, when it logs ``messages``.
        metrics: counts each message handled, and reads what each consumer holds, when
            enabled.
    """

    atoll_entrypoint = True

    def __init__(
        self,
        options: BrokerOptions,
        broker: Broker,
        bus: MessageBus,
        services: Sequence[ServiceDefinition],
        engines: Mapping[str, RpcEngine],
        *,
        inboxes: Inboxes | None = None,
        authenticator: Authenticator | None = None,
        verifier: EnvelopeVerifier | None = None,
        signs: bool = False,
        access: AccessLog | None = None,
        metrics: Metrics | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.broker = broker
        self._tracer = tracer
        system = messaging_system(broker.describe())
        self._system = system
        self._bus = bus
        self._authenticator = authenticator
        self.consumers: list[BrokerConsumer] = []
        self.broadcasts: list[BroadcastConsumer] = []
        """The consumers of the services' broadcast handlers, one per service having some."""
        policy = options.policy()
        handled = _told(access, metrics)
        if metrics is not None and metrics.enabled and not options.private:
            metrics.watch_broker(broker.describe(), functools.partial(_reached, broker))
        traced = None if tracer is None else consumer_spans(tracer, system)
        for service in services:
            subscription = subscription_of(service, options)
            if subscription is not None:
                self.consumers.append(
                    BrokerConsumer(
                        broker,
                        bus,
                        subscription,
                        policy,
                        concurrency=options.concurrency,
                        committed=None if inboxes is None else inboxes.committed,
                        verifier=verifier,
                        forget_subjects=signs,
                        handled=handled,
                        traced=traced,
                    )
                )
                if metrics is not None and metrics.enabled:
                    metrics.watch_in_flight(service.name, _in_hand(self.consumers[-1]))
                    count = functools.partial(broker.dead_letter_count, service.name)
                    metrics.watch_dead_letters(service.name, count)
            topics = broadcast_topics_of(service)
            if topics:
                self.broadcasts.append(
                    BroadcastConsumer(
                        broker,
                        bus,
                        service.name,
                        topics,
                        verifier=verifier,
                        forget_subjects=signs,
                    )
                )
        self._engines: dict[str, RpcEngine] = (
            {s.name: engines[s.name] for s in services if s.name in engines}
            if options.rpc and not options.private
            else {}
        )
        self._servings: list[Serving] = []
        self._starting: asyncio.Task[None] | None = None
        self.backoff = 0.5
        """Seconds before the first attempt again to start, if the broker was out of reach."""

    async def start(self) -> None:
        """Serve RPC and start consuming, for each service; all of it, or nothing.

        With the broker out of reach, it starts all of it in the background instead, with
        backoff, once the broker answers: the service runs meanwhile (its broker readiness
        check fails), where it would otherwise not start at all.
        """
        try:
            await self._start_all()
        except BrokerUnavailableError:
            await self._stop_all()
            self._starting = asyncio.create_task(self._start_later(), name=repr(self))
        except BaseException:
            await self._stop_all()  # what started, stopped: a unit whose start failed is not
            raise

    async def _start_all(self) -> None:
        for name, engine in self._engines.items():
            self._servings.append(await self.broker.serve(name, self._responder(engine, name)))
        for consumer in self.consumers:
            await consumer.start()
        for broadcast in self.broadcasts:
            await broadcast.start()

    async def _start_later(self) -> None:
        failures = 0
        while True:
            failures += 1
            if isinstance(self.broker, ConnectingBroker) and not self.broker.connected:
                await self.broker.wait_connected()  # it tells the outage; start as it ends
            else:
                await asyncio.sleep(min(self.backoff * 2 ** (failures - 1), _LONGEST_PAUSE))
            try:
                await self._start_all()
            except BrokerUnavailableError as error:  # the broker's outage is told by itself
                logger.debug("%r cannot start yet: %s", self, error)
                await self._stop_all()
                continue
            except Exception:
                logger.exception("%r could not start; its services take nothing", self)
                await self._stop_all()
                return
            logger.info("%r started, once the broker answered", self)
            return

    async def stop(self) -> None:
        """Take no more calls and messages; finish those in hand, every service at once."""
        starting, self._starting = self._starting, None
        if starting is not None:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
        await self._stop_all()

    async def _stop_all(self) -> None:
        servings, self._servings = self._servings, []
        await asyncio.gather(*(serving.close() for serving in servings))
        await asyncio.gather(*(consumer.stop() for consumer in self.consumers))
        await asyncio.gather(*(broadcast.stop() for broadcast in self.broadcasts))

    def kill(self) -> None:
        """Stop at once: the messages in hand are delivered again, as after a crash."""
        if self._starting is not None:
            self._starting.cancel()
        for consumer in self.consumers:
            consumer.kill()
        for broadcast in self.broadcasts:
            broadcast.kill()

    def _responder(self, engine: RpcEngine, name: str) -> Responder:
        """Answer broker RPC with ``engine``, in a call context where a handler may need one.

        The context holds the request as the broker carried it (``transport == "broker"``, its
        headers): for a handler asking for atoll.Request, atoll.Response or atoll.Identity,
        and for the authenticator guarding a handler, which reads ``authorization`` there.
        A service needing neither answers without one, at no cost, but a call that carries an
        idempotency key (whose caller it is the key of).
        """
        keyed = takes_keys(self._bus, self._authenticator)

        async def respond(body: bytes, headers: Mapping[str, str]) -> bytes:
            if keyed and KEY_MEMBER in body:  # whose key it is: the context tells
                return await respond_in_context(body, headers)
            logged = set_log_context(RequestContext.carrying(_correlation(headers)))
            try:
                return await engine.handle(body) or b""  # a notification's answer is empty
            finally:
                reset_log_context(logged)

        async def respond_in_context(body: bytes, headers: Mapping[str, str]) -> bytes:
            request = (
                Request("broker", headers=Headers(headers.items())) if headers else BROKER_REQUEST
            )
            logged = set_log_context(RequestContext.carrying(_correlation(headers)))
            token = enter(CallContext(request))
            try:
                return await engine.handle(body) or b""
            finally:
                leave(token)
                reset_log_context(logged)

        chosen = _by_deadline(respond_in_context if self._needs_context() else respond)
        return chosen if self._tracer is None else self._traced(chosen, name)

    def _traced(self, respond: Responder, name: str) -> Responder:
        """``respond``, each request a span (SERVER) under the caller's ``traceparent``."""
        tracer = self._tracer
        assert tracer is not None  # noqa: S101 - with traces on only
        attributes: dict[str, Attribute] = {
            "rpc.system": "jsonrpc",
            "rpc.service": name,
            "messaging.system": self._system,
            "messaging.destination.name": name,
            "messaging.operation.type": "process",
        }

        async def traced(body: bytes, headers: Mapping[str, str]) -> bytes:
            span = tracer.incoming(f"{name} request", "server", headers, attributes)
            try:
                return await respond(body, headers)
            except Exception as error:
                span.fail(error)
                raise
            finally:
                span.end()

        return traced

    def _needs_context(self) -> bool:
        """Whether a handler of the bus may read the call's context: its request or identity."""
        bus, authenticator = self._bus, self._authenticator
        return any(reads_call_context(handler, bus, authenticator) for handler in bus.handlers)

    def __repr__(self) -> str:
        return f"BrokerLink({self.broker.describe()}, {len(self.consumers)} consumer(s))"


def _by_deadline(respond: Responder) -> Responder:
    """``respond``, within the deadline a request carries (``x-timeout-ms``), if it does.

    A request whose caller stopped waiting is not run, and one whose time runs out is
    cancelled; either gets an empty answer, which no one waits for. The work's calls to other
    services get what is left.
    """

    async def bounded(body: bytes, headers: Mapping[str, str]) -> bytes:
        timeout = carried_timeout(headers)
        if timeout is None:
            return await respond(body, headers)
        try:
            return await within(timeout, respond, body, headers)
        except DeadlineExceededError:
            return b""

    return bounded


def _reached(broker: Broker) -> bool:
    """Whether ``broker`` answers now, as far as the process knows: connected, or always."""
    return not isinstance(broker, ConnectingBroker) or broker.connected


def _correlation(headers: Mapping[str, str]) -> str:
    """The correlation id a broker RPC request carries, or a new one."""
    return taken_id(headers.get(REQUEST_ID)) or made_id()


class Signatures:
    """The process's signer and verifier of envelopes, as ``[messages]`` asks; a component.

    It starts before the relays and the consumers that use them, and stops after them.
    """

    def __init__(
        self, signer: EnvelopeSigner | None = None, verifier: EnvelopeVerifier | None = None
    ) -> None:
        self.signer = signer
        self.verifier = verifier

    async def start(self) -> None:
        """Start the verifier (it fetches the keys), then the signer (it registers its key)."""
        if self.verifier is not None:
            await self.verifier.start()
        if self.signer is not None:
            try:
                await self.signer.start()
            except BaseException:
                if self.verifier is not None:
                    await self.verifier.stop()
                raise

    async def stop(self) -> None:
        """Stop both."""
        if self.signer is not None:
            await self.signer.stop()
        if self.verifier is not None:
            await self.verifier.stop()

    def __repr__(self) -> str:
        return f"Signatures(signer={self.signer!r}, verifier={self.verifier!r})"


def signatures_of(options: SigningOptions, clients: ClientOptions) -> Signatures:
    """The signer and verifier ``options`` ask for, the signer with the client credentials.

    Raises:
        ConfigError: ``--messages-sign`` without ``--clients-client-id`` and
            ``--clients-client-secret``, which register the key.
        MissingDependencyError: the JWT adapter (``atoll[jwt]``) is not installed.
    """
    if not options.sign and not options.require_signed:
        return Signatures()
    if options.sign and (not clients.client_id or clients.client_secret is None):
        raise ConfigError(
            "--messages-sign registers this process's message key at the token service as "
            "its client: set --clients-client-id and --clients-client-secret (the secret "
            "best in the environment)"
        )
    adapter = importlib.import_module("atoll.adapters.jwt.envelopes")  # atoll[jwt], if used
    signer = (
        adapter.KeySigner(
            options.keys_endpoint,
            clients.client_id,
            clients.client_secret,
            timeout=options.timeout,
        )
        if options.sign
        else None
    )
    verifier = (
        adapter.KeyVerifier(options.jwks_url, timeout=options.timeout)
        if options.require_signed
        else None
    )
    return Signatures(signer, verifier)


def _broker_of(options: BrokerOptions, services: Sequence[ServiceDefinition]) -> Broker:
    """The broker ``--broker-url`` names, as the services of this process use it."""
    if options.private:
        opened: Broker = MemoryBroker(options.url, until_handled=True)
    else:
        opened = open_broker(options.url)
    if not isinstance(opened, MemoryBroker):
        return ConnectingBroker(opened)  # the only brokers that can be away
    # Its queues keep what the relays publish before the consumers start, as a real broker's
    # durable queues do.
    for service in services:
        subscription = subscription_of(service, options)
        if subscription is not None:
            opened.declare(subscription)
    return opened


def install_broker(app: App, services: Sequence[ServiceDefinition]) -> None:
    """Provide the ``broker`` options, the broker, the relays' publisher and the link."""
    app.options("broker", BrokerOptions)
    app.options("messages", SigningOptions)

    def broker(options: BrokerOptions, readiness: Readiness) -> Broker:
        opened = _broker_of(options, services)
        if not options.private:  # one in this process's memory is up while the process is

            async def ping() -> None:
                await opened.ping()

            readiness.add("broker", ping)
        return opened

    def publisher(broker: Broker, signatures: Signatures, tracing: Tracing) -> Publisher:
        # The one place that decides where the relays publish, whether signed and traced.
        signed: Publisher = (
            broker if signatures.signer is None else SigningPublisher(broker, signatures.signer)
        )
        if tracing.tracer is None:
            return signed
        # Outside the signing: the publish's traceparent is in what is signed.
        return TracedPublisher(signed, tracing.tracer, messaging_system(broker.describe()))

    def link(
        options: BrokerOptions,
        broker: Broker,
        bus: MessageBus,
        engines: RpcEngines,
        *,
        inboxes: Inboxes,
        readiness: Readiness,
        authenticator: Authenticator,
        signatures: Signatures,
        access: AccessLog,
        metrics: Metrics,
        tracing: Tracing,
    ) -> BrokerLink:
        made = BrokerLink(
            options,
            broker,
            bus,
            services,
            engines,
            inboxes=inboxes,
            authenticator=authenticator,
            verifier=signatures.verifier,
            signs=signatures.signer is not None,
            access=access,
            metrics=metrics,
            tracer=tracing.tracer,
        )
        for consumer in made.consumers:  # not ready while its handlers' dependency is away
            readiness.add(f"consumer {consumer.service}", consumer.ping)
        return made

    if Inboxes not in app.registry:  # no service keeps a database
        app.provide(Inboxes)
    app.provide(signatures_of)
    app.provide(broker, provides=Broker)
    app.provide(publisher, provides=Publisher)
    app.provide(link)
