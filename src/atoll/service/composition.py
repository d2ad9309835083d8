"""Composition: one or more services made into one runnable application.

The kernel runs an :class:`~atoll.App`: options, providers, tasks. A service adds handlers and
endpoints; composing it gives the App that runs them: the services' own declarations, plus a
message bus bound to the container once it is built, the ``broker`` options with the broker and
what uses it (:mod:`atoll.service.broker_link`), the ``server`` options, the JSON-RPC engines
(:class:`~atoll.endpoints.rpc.engines.RpcEngines`, which HTTP, broker RPC and the clients all
answer through), the ``clients``, and, unless ``--no-server`` turns HTTP off, the ASGI
app and (unless an outside ASGI server serves it) the HTTP server component.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import os
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

from atoll.clients.directory import ClientOptions, Clients
from atoll.endpoints.api import Api, Method, read_only
from atoll.endpoints.graphql.declaration import GraphQLDeclaration
from atoll.endpoints.graphql.engine import graphql_engine
from atoll.endpoints.graphql.feed import EventFeed
from atoll.endpoints.graphql.fields import fields_of_objects, root_fields, subscription_fields
from atoll.endpoints.graphql.http import GraphQLEndpoint, GraphQLServing
from atoll.endpoints.graphql.options import GraphQLOptions
from atoll.endpoints.graphql.page import graphql_page
from atoll.endpoints.graphql.persisted import PersistedQueries
from atoll.endpoints.graphql.ws import GraphQLWebSocket
from atoll.endpoints.http.asgi import HttpApp
from atoll.endpoints.http.cors import CorsOptions
from atoll.endpoints.http.health import HealthOptions
from atoll.endpoints.http.metrics import MetricsServer
from atoll.endpoints.http.problems import HTTPError
from atoll.endpoints.http.responses import send_problem
from atoll.endpoints.http.server import HttpServer, ServerOptions
from atoll.endpoints.rpc.engines import RpcEngines
from atoll.errors import ConfigError
from atoll.frontends.options import UiOptions
from atoll.frontends.serving import Frontends
from atoll.kernel.app import App
from atoll.kernel.entrypoint import load_config, running
from atoll.kernel.health import About, Readiness
from atoll.kernel.lifecycle import Lifecycle, State
from atoll.kernel.options import masked_url
from atoll.kernel.providers import Named
from atoll.kernel.providers import Scope as Lifetime
from atoll.messaging.broker import Broker  # noqa: TC001 - the container reads hints at run time
from atoll.messaging.bus import MessageBus
from atoll.messaging.options import BrokerOptions  # noqa: TC001 - as Broker
from atoll.observability.access import AccessLog
from atoll.observability.metrics import Metrics, MetricsOptions
from atoll.observability.tracing import TracesOptions, Tracing
from atoll.persistence.inboxes import Inboxes  # noqa: TC001 - the container reads the hint
from atoll.persistence.options import database_section
from atoll.persistence.ports import Database
from atoll.resilience.registration import (
    Discovery,
    Registration,
    RegistryOptions,
    advertised,
    instance_id,
)
from atoll.resilience.registry import Instance
from atoll.security.api_tokens import ApiTokens, ApiTokenStore, api_token_store_for
from atoll.security.auth import Authenticator, AuthOptions, authenticator_for, identity_of_call
from atoll.security.idempotency import Idempotency, IdempotencyOptions
from atoll.security.identity import Identity
from atoll.security.limits import Limiter, LimitOptions, MemoryRateLimiter
from atoll.security.policies import DENY, Authorizer
from atoll.service.broker_link import Signatures, install_broker
from atoll.service.definition import ServiceDefinition
from atoll.service.system import SystemDefinition
from atoll.service.timers import Timers, TimersOptions

if TYPE_CHECKING:
    from collections.abc import Sequence

    from atoll.endpoints.api import Wrapper
    from atoll.endpoints.http.types import Receive, Scope, Send
    from atoll.kernel.config import Config
    from atoll.kernel.container import Container
    from atoll.messaging.bus import Middleware

__all__ = [
    "ServiceApp",
    "api_of",
    "asgi_app",
    "compose",
    "compose_target",
    "make_readiness",
    "serves_http",
    "system_api",
]

_KERNEL_SECTIONS = frozenset({"shutdown", "log", "loop"})


def compose(
    name: str,
    services: Sequence[ServiceDefinition],
    *,
    serve: bool,
    version: str | None = None,
    description: str | None = None,
    env_prefix: str | None = None,
    extra: App | None = None,
    middleware: Sequence[Middleware] = (),
    wrappers: Sequence[Wrapper] = (),
) -> App:
    """The application that runs ``services`` in one process.

    Args:
        name: the application's name: the service's, or the system's.
        services: what to run; their handlers share one bus, their providers one container.
        serve: whether to serve HTTP itself; False when an outside ASGI server does.
        version: the application's version; the first service's by default.
        description: its description; the first service's by default.
        env_prefix: the prefix of its environment variables.
        extra: declarations of the system's own (options, providers, tasks) to include.
        middleware: more middleware, inside the services' own (a test's recorder).
        wrappers: the system's own ASGI middleware, outside the services'.

    Raises:
        ConfigError: no service is given, two declare one option section differently, or one
            route.
        ProviderError: two services provide one type differently.
    """
    if not services:
        raise ConfigError(f"{name} has no service to run; compose at least one")
    first = services[0]
    app = App(
        name,
        version=version or first.version,
        description=description if description is not None else first.description,
        env_prefix=env_prefix or (first.app.env_prefix if len(services) == 1 else None),
    )
    if extra is not None:
        _include(app, extra, f"system {name!r}")
    for service in services:
        _include(app, service.app, f"service {service.name!r}")
    bus = _bus(services, middleware)
    bus.register(app.registry)
    app.on_build(functools.partial(_authorize_on, bus))
    app.on_build(bus.bind)
    alone = len(services) == 1 and extra is None  # a system of one is still a system
    for service in services:
        if service.database_declaration is not None:
            section = database_section(service.name, alone=alone)
            service.database_declaration.install(app, service=service.name, section=section)
    api = services[0].api() if alone else system_api(name, app.version, services, app.description)
    api.wrappers[:0] = wrappers  # the system's own, outermost
    install_broker(app, services)
    _install_timers(app, services)
    _install_registry(app, services)
    # A system keeps its API tokens in the first database of its services: see api_tokens.
    keeper = next((s.name for s in services if s.database_declaration is not None), None)
    _install_endpoints(app, api)
    _install_frontends(app, services, api, system=not alone)
    _install_limits(app, services)
    _install_api_tokens(app, keeper)
    app.options("clients", ClientOptions)
    prefix = app.env_prefix

    def make_clients(
        engines: RpcEngines,
        options: ClientOptions,
        broker: Broker,
        *,
        broker_options: BrokerOptions,
        metrics: Metrics,
        discovery: Discovery,
    ) -> Clients:
        # The very engines HTTP and the broker serve: a call in the process is decoded,
        # checked and answered as one over the network is.
        remote = None if broker_options.private else broker
        watched = metrics.counted if metrics.enabled else None
        return Clients(
            options,
            engines,
            env_prefix=prefix,
            broker=remote,
            watched=watched,
            discovery=discovery,
        )

    app.provide(make_clients)
    if serve:
        app.provide(_server_for_http_app, when=serves_http)
    return app


def _install_registry(app: App, services: Sequence[ServiceDefinition]) -> None:
    """The ``[registry]`` options, the registry, and the registration of each service.

    Without ``--registry-url`` nothing is made; with one, the registry and the registration
    are made as the application is built, so that they start and stop with it.
    """
    app.options("registry", RegistryOptions)
    app.provide(Discovery.of, provides=Discovery)
    alone = len(services) == 1

    def registration(
        discovery: Discovery, server: ServerOptions, broker: BrokerOptions, lifecycle: Lifecycle
    ) -> Registration:
        if discovery.registry is None or not server.enabled:
            return Registration(discovery, [])
        origin = advertised(discovery.options, server.host, server.port)
        base = origin + server.rpc_path
        ident = instance_id()
        urls = {} if broker.private else {"broker": masked_url(broker.url)}
        return Registration(
            discovery,
            [
                Instance(
                    service.name,
                    ident,
                    version=service.version,
                    urls={
                        **urls,
                        "http": base if alone else f"{base}/{service.name}",
                        # where a shell finds the components it ships, when it ships some
                        **({"ui": f"{origin}/ui/{service.name}"} if service.frontend else {}),
                    },
                )
                for service in services
            ],
            lifecycle,
        )

    def made(container: Container) -> None:
        if container.get(RegistryOptions).url:
            container.get(Registration)  # a component: it starts and stops with the app

    app.provide(registration)
    app.on_build(made)


def _install_frontends(
    app: App, services: Sequence[ServiceDefinition], api: Api, *, system: bool
) -> None:
    """The ``[ui]`` options, and the builds of the services' components, made as they start.

    ``api``: what the process serves. ``system``: whether it runs a system, whose JSON-RPC
    methods are named ``<service>.<method>``: the components call theirs so.
    """
    served = [(s.name, s.frontend) for s in services if s.frontend is not None]
    shells = [s.shell_page for s in services if s.shell_page is not None]
    if not served and not shells:
        return
    app.options("ui", UiOptions)
    # The methods only reading, as the endpoint names them: a shell's worker keeps their
    # answers for offline, by the rule that makes them GraphQL Query fields.
    own_parts = list(zip(services, api.parts if system else [api], strict=True))
    reads = {
        service.name: sorted(
            (f"{service.name}." if system else "") + name
            for name in read_only(part, part.methods, part.graphql.queries if part.graphql else ())
        )
        for service, part in own_parts
    }

    # The services serving GraphQL, where their components subscribe: a system serves one
    # endpoint for all, at the [graphql] path (read where the options are, at the start).
    with_graphql = [service.name for service, part in own_parts if part.graphql is not None]

    def frontends(
        options: UiOptions, server: ServerOptions, discovery: Discovery, graphql: str = ""
    ) -> Frontends:
        made = Frontends(
            served,
            options,
            rpc=(server.rpc_path, system),
            reads=reads,
            registry=discovery.registry,
            graphql=dict.fromkeys(with_graphql, graphql),
        )
        for shell in shells:
            made.compose(shell)
        return made

    def make_frontends(
        options: UiOptions, server: ServerOptions, discovery: Discovery
    ) -> Frontends:
        return frontends(options, server, discovery)

    def make_frontends_serving_graphql(
        options: UiOptions, server: ServerOptions, discovery: Discovery, graphql: GraphQLOptions
    ) -> Frontends:
        return frontends(options, server, discovery, graphql.path)

    def made(container: Container) -> None:
        container.get(Frontends)  # a component: it starts with the app

    app.provide(make_frontends_serving_graphql if with_graphql else make_frontends)
    app.on_build(made)


def _install_timers(app: App, services: Sequence[ServiceDefinition]) -> None:
    """The ``[timers]`` options and the background task running the services' timers.

    Raises:
        ConfigError: a singleton timer's service has no database to keep its lease in.
    """
    timers = [timer for service in services for timer in service.timers]
    if not timers:
        return
    for service in services:
        lone = next((t for t in service.timers if t.singleton), None)
        if lone is not None and service.database_declaration is None:
            raise ConfigError(
                f"timer {lone.label} runs on one instance (singleton=True), whose "
                f"lease is kept in {service.name}'s database, and it has none: declare "
                f"{service.name}.database(...), or drop singleton=True"
            )
    app.options("timers", TimersOptions)

    def make_timers(options: TimersOptions, bus: MessageBus) -> Timers:
        return Timers(timers, options, bus)

    async def run_timers(runner: Timers) -> None:
        await runner.run()

    app.provide(make_timers)
    app.task(name="timers")(run_timers)
    app.on_build(lambda container: container.get(Timers).bind(container))


def _authorize_on(bus: MessageBus, container: Container) -> None:
    """Have ``bus`` judge its handlers' policies with the service's authorizer.

    Before the bus is bound, which reads the default policy: ``--auth-default-deny``'s.
    """
    options = container.get(AuthOptions)
    bus.default_policy = DENY if options.default_deny else None
    bus.authorize = Authorizer(container.get(Authenticator)).authorize


def _install_limits(app: App, services: Sequence[ServiceDefinition]) -> None:
    """The ``[limits]`` options, and the :class:`Limiter` of the services' rate limits.

    Counted in the process's memory, or, for a Redis storage, by the rate limiting adapter
    (``atoll[limits]``), loaded then alone.
    """
    app.options("limits", LimitOptions)
    shared = {service.name: tuple(service.limits) for service in services if service.limits}
    declared = bool(shared) or any(h.limits for s in services for h in s.handlers)

    def limiter(options: LimitOptions) -> Limiter:
        if not declared or not options.enabled:
            return Limiter(None, shared)
        if options.storage.startswith("memory://"):
            return Limiter(MemoryRateLimiter(options.strategy), shared)
        adapter = importlib.import_module("atoll.adapters.limits")  # atoll[limits], for Redis
        return Limiter(adapter.LimitsRateLimiter(options.storage, options.strategy), shared)

    app.provide(limiter)


def _install_endpoints(app: App, api: Api) -> None:
    """The options and providers of the endpoints serving ``api``: HTTP, JSON-RPC, identity."""
    app.options("server", ServerOptions)
    app.options("health", HealthOptions)
    app.options("cors", CorsOptions)
    app.options("auth", AuthOptions)
    app.options("idempotency", IdempotencyOptions)
    name, version = app.name, app.version
    here = ServedHere()
    app.on_build(here.keep)

    def make_authenticator(  # noqa: PLR0917 - what judges a call, each by type
        options: AuthOptions,
        readiness: Readiness,
        api_tokens: ApiTokens,
        server: ServerOptions,
        limiter: Limiter,
        idempotency: Idempotency,
    ) -> Authenticator:
        def jwks_app_for(url: str) -> ServedHere | None:
            return here if serves_itself(url, server) else None

        return authenticator_for(
            options,
            name,
            readiness,
            api_tokens,
            jwks_app_for=jwks_app_for,
            limiter=limiter,
            idempotency=idempotency,
        )

    def make_idempotency(options: IdempotencyOptions, databases: Inboxes) -> Idempotency:
        return Idempotency(options, databases)

    def make_rpc_engines(  # noqa: PLR0917 - what the engines are made of, each by type
        bus: MessageBus,
        options: ServerOptions,
        authenticator: Authenticator,
        access: AccessLog,
        metrics: Metrics,
        tracing: Tracing,
    ) -> RpcEngines:
        if tracing.tracer is not None:  # before any caller of a handler is made
            bus.trace()
        return RpcEngines(
            api,
            bus,
            max_batch=options.max_batch,
            limits=options.json_limits(),
            authenticator=authenticator,
            access=access,
            metrics=metrics,
            tracer=tracing.tracer,
        )

    def make_http_app(  # noqa: PLR0917 - what the app is made of, each by type
        bus: MessageBus,
        options: ServerOptions,
        engines: RpcEngines,
        readiness: Readiness,
        cors: CorsOptions,
        authenticator: Authenticator,
        health: HealthOptions,
        broker: BrokerOptions,
        access: AccessLog,
        metrics: Metrics,
        tracing: Tracing,
        graphql: GraphQLServing,
    ) -> HttpApp:
        about = None
        if health.details:  # its version may be read from the installed packages: once, here
            about = About.of(
                name,
                version,
                [getattr(h.function, "__module__", None) or "" for h in bus.handlers],
                commit=health.commit,
                build_date=health.build_date,
            )
        return HttpApp(
            api,
            bus,
            options,
            engines,
            readiness=readiness,
            about=about,
            cors=cors,
            authenticator=authenticator,
            broker=broker,
            access=access,
            metrics=metrics,
            tracer=tracing.tracer,
            graphql=graphql,
        )

    app.provide(make_authenticator)
    app.provide(make_idempotency)
    app.provide(identity_of_call, scope=Lifetime.REQUEST, provides=Identity)
    app.provide(make_readiness)
    app.provide(make_rpc_engines)
    app.provide(AccessLog.of, provides=AccessLog)
    app.provide(make_http_app, when=serves_http)
    _install_graphql(app, api)
    _install_metrics(app)
    _install_traces(app)


def _no_graphql() -> GraphQLServing:
    """What a process serving no GraphQL serves of it: nothing."""
    return GraphQLServing()


def _install_graphql(app: App, api: Api) -> None:
    """The ``[graphql]`` options and the GraphQL endpoint, when a service declares one.

    The schema is made (and checked) with the HTTP app, and graphql-core loaded only then.
    """
    declaration = api.graphql
    if declaration is None:
        app.provide(_no_graphql)
        return
    app.options("graphql", GraphQLOptions)
    streamed = [subscription.event for subscription in api.subscriptions]

    def make_feed(broker: Broker, bus: MessageBus, signatures: Signatures) -> EventFeed:
        feed = EventFeed(broker, streamed, signatures.verifier)
        for kind in streamed:  # what handlers raise is handled in the process alone
            bus.observe(kind, feed.offer)
        return feed

    def make_graphql(  # noqa: PLR0917 - what the endpoint is made of, from the container
        bus: MessageBus,
        authenticator: Authenticator,
        options: GraphQLOptions,
        server: ServerOptions,
        feed: EventFeed,
        access: AccessLog,
    ) -> GraphQLServing:
        fields = root_fields(api, bus, authenticator, sorted(declaration.queries))
        objects = fields_of_objects(api, bus, authenticator)
        subscriptions = subscription_fields(api, bus, authenticator)
        engine = graphql_engine(
            declaration,
            fields,
            api.faults,
            options,
            api.title,
            objects,
            subscriptions,
            feed,
            authorizer=Authorizer(authenticator),
        )
        # The page sends to the endpoint by the last part of its path, relative to itself,
        # so that it works behind a proxy serving the service under a prefix.
        endpoint_name = "./" + options.path.rsplit("/", 1)[-1]
        page = graphql_page(api.title, endpoint_name) if options.page else None
        endpoint = GraphQLEndpoint(
            engine,
            server.max_body,
            server.body_timeout,
            page=page,
            persisted=PersistedQueries() if options.persisted_queries else None,
            access=access,
        )
        websocket = (
            GraphQLWebSocket(engine, init_timeout=options.connection_timeout)
            if subscriptions
            else None
        )
        return GraphQLServing(options.path, endpoint, websocket)

    def made(container: Container) -> None:
        if streamed:
            container.get(EventFeed)  # a component: it starts and stops with the app

    app.provide(make_feed)
    app.provide(make_graphql)
    app.on_build(made)


def _install_traces(app: App) -> None:
    """The ``[traces]`` options, and the :class:`Tracing` they ask for.

    Enabled, the OpenTelemetry adapter (``atoll[otel]``) is loaded, then alone, and the
    tracer made when the application is built, as it starts: never at import.
    """
    app.options("traces", TracesOptions)
    name = app.name

    def tracing(options: TracesOptions) -> Tracing:
        if not options.enabled:
            return Tracing()
        adapter = importlib.import_module("atoll.adapters.opentelemetry")  # atoll[otel]
        return Tracing(adapter.tracer_of(name, options))

    app.provide(tracing)


def _install_metrics(app: App) -> None:
    """The ``[metrics]`` options, the :class:`Metrics`, and their own server when asked for.

    Enabled, the Prometheus adapter (``atoll[metrics]``) is loaded, then alone, to render
    what is scraped: on the service's port (``/metrics``), or on ``--metrics-port``, by a
    :class:`MetricsServer` of its own, which runs without the service's HTTP too.
    """
    app.options("metrics", MetricsOptions)

    def metrics(options: MetricsOptions, server: ServerOptions, inboxes: Inboxes) -> Metrics:
        if options.enabled and not options.port and not server.enabled:
            raise ConfigError(
                "--metrics serves /metrics on the service's port, but --no-server opens none; "
                "give /metrics a port of its own with --metrics-port, such as 9100"
            )
        made = Metrics.of(options)
        if options.enabled:
            adapter = importlib.import_module("atoll.adapters.prometheus")  # atoll[metrics]
            made.exposition = adapter.exposition_of(made)
            made.watch_outboxes(inboxes.databases)  # each service's database, once made
        return made

    def metrics_server(made: Metrics, server: ServerOptions) -> MetricsServer:
        assert made.exposition is not None  # noqa: S101 - enabled, so the adapter rendered it
        return MetricsServer(
            made.exposition, server.host, made.port, server.impl, refresh=made.refresh
        )

    app.provide(metrics)
    app.provide(metrics_server, when=_serves_metrics_apart)


def _serves_metrics_apart(config: Config) -> bool:
    """Whether ``/metrics`` is served on a port of its own (``--metrics-port``)."""
    options: MetricsOptions = config.section("metrics")
    return options.enabled and options.port != 0


def _install_api_tokens(app: App, service: str | None) -> None:
    """The application's :class:`ApiTokens`, kept in the database of ``service``, if any.

    Without a database (or on ``memory://``) they are kept in memory, for as long as the
    process lives.
    """
    if service is None:

        def memory_store() -> ApiTokenStore:
            return api_token_store_for(None)

        app.provide(memory_store, provides=ApiTokenStore)
    else:

        def database_store(database: Database) -> ApiTokenStore:
            return api_token_store_for(database)

        # The service's database is named after it, which a hint cannot say in a module
        # whose annotations are strings: the hint is given as an object.
        database_store.__annotations__["database"] = Annotated[Database, Named(service)]
        app.provide(database_store, provides=ApiTokenStore)

    def api_tokens(store: ApiTokenStore, options: AuthOptions) -> ApiTokens:
        return ApiTokens(store, cache=options.api_token_cache)

    app.provide(api_tokens)


def compose_target(
    target: ServiceDefinition | SystemDefinition[ServiceDefinition],
    *,
    serve: bool,
    middleware: Sequence[Middleware] = (),
) -> App:
    """The application of a service or a system, as ``atoll run`` runs it when ``serve``.

    Raises:
        TypeError: ``target`` is neither a service nor a system.
    """
    if isinstance(target, ServiceDefinition):
        return compose(target.name, [target], serve=serve, middleware=middleware)
    if isinstance(target, SystemDefinition):
        return compose(
            target.name,
            target.services,
            serve=serve,
            version=target.version,
            description=_description_of(target),
            extra=target.app,
            middleware=middleware,
            wrappers=target.wrappers,
        )
    raise TypeError(
        f"expected an atoll.Service or an atoll.System; got {type(target).__name__} {target!r:.60}"
    )


def api_of(target: ServiceDefinition | SystemDefinition[ServiceDefinition]) -> Api:
    """What ``target`` exposes: the API its application (:func:`compose_target`) serves.

    Raises:
        ConfigError: two services of a system declare the same route.
    """
    if isinstance(target, ServiceDefinition):
        return target.api()
    return system_api(target.name, target.version, target.services, _description_of(target))


def _description_of(system: SystemDefinition[ServiceDefinition]) -> str:
    return system.description or f"The {system.name} system."


class ServedHere:
    """The process's own HTTP app, as an ASGI app reached without the network.

    A system that holds its token service trusts the JWKS it serves itself: its verifier
    reads it through this, at start and later, with no port open yet and none needed. The
    app is looked up in the container at each request, once the container is built.
    """

    def __init__(self) -> None:
        self._container: Container | None = None

    def keep(self, container: Container) -> None:
        """Keep the container the app comes from (an ``on_build`` hook)."""
        self._container = container

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request with the process's HTTP app."""
        if self._container is None:
            raise ConfigError("the HTTP app is asked for before its container is built")
        http = await self._container.aget(HttpApp)
        await http.entry(scope, receive, send)


def serves_itself(url: str, server: ServerOptions) -> bool:
    """Whether ``url`` is one of this process's own server: http, its port, a local host."""
    parts = urlsplit(url)
    try:
        port = parts.port or 80
    except ValueError:
        return False
    local = {"127.0.0.1", "localhost", "::1", server.host}
    return (
        server.enabled
        and parts.scheme == "http"
        and port == server.port
        and parts.hostname in local
    )


def serves_http(config: Config) -> bool:
    """Whether the configuration asks for HTTP (``--no-server`` says no)."""
    options: ServerOptions = config.section("server")
    return options.enabled


def make_readiness(lifecycle: Lifecycle) -> Readiness:
    """What ``/health/ready`` reports; each database adds its check when it is made."""
    return Readiness(lifecycle)


def _server_for_http_app(app: HttpApp, options: ServerOptions) -> HttpServer:
    return HttpServer(app.entry, options)


def _bus(services: Sequence[ServiceDefinition], middleware: Sequence[Middleware]) -> MessageBus:
    """A bus with every service's handlers and middleware, then ``middleware`` innermost."""
    bus = MessageBus()
    used: list[Middleware] = []
    for wrapper in [m for service in services for m in service.middleware] + list(middleware):
        if wrapper not in used:  # one middleware shared by services wraps a call once
            used.append(wrapper)
            bus.use(wrapper)
    for service in services:
        for handler in service.handlers:
            bus.add(handler)
    return bus


def _include(app: App, part: App, label: str) -> None:
    declared = dict(app.sections)
    for section, options in part.sections:
        if section in _KERNEL_SECTIONS:
            continue
        if section in declared:
            if declared[section] is not options:
                raise ConfigError(
                    f"option section {section!r} is declared by {label} as "
                    f"{options.__qualname__} and before as {declared[section].__qualname__}; "
                    "rename one section"
                )
            continue
        app.options(section, options)
    # The system's defaults are included first, and win over its services' own.
    app.defaults({**part.option_defaults, **app.option_defaults})
    app.registry.include(part.registry, label=label)
    for task in part.tasks:
        app.task(name=task.name)(task.function)
    for hook in part.build_hooks:
        app.on_build(hook)
    for conditional in part.conditional_providers:
        app.provide(conditional.factory, when=conditional.when, **conditional.arguments)


def system_api(
    name: str, version: str, services: Sequence[ServiceDefinition], description: str = ""
) -> Api:
    """What a system exposes: every service's routes, and its methods as ``service.method``.

    Raises:
        ConfigError: two services declare the same route.
    """
    api = Api(
        title=name,
        version=version,
        description=description or f"The services {_names(services)}.",
    )
    seen: dict[tuple[str, str], str] = {}
    for service in services:
        own = service.api()
        for route in own.routes:
            key = (route.method, route.path)
            if key in seen:
                raise ConfigError(
                    f"route {route.method} {route.path} is declared by service {seen[key]!r} "
                    f"and by service {service.name!r}; one process serves one of them: "
                    "change one path"
                )
            seen[key] = service.name
            api.routes.append(route)
        api.methods.extend(Method(f"{service.name}.{m.name}", m.handler) for m in own.methods)
        api.faults.update(own.faults)
        api.mounts.extend(own.mounts)
        api.pages.extend(own.pages)
        api.wrappers.extend(own.wrappers)
        api.consumes.extend(own.consumes)
        api.publishes.extend(t for t in own.publishes if t not in api.publishes)
        api.object_fields.extend(own.object_fields)
        api.subscriptions.extend(own.subscriptions)
        api.parts.append(own)
    api.graphql = _system_graphql([part for part in api.parts if part.graphql is not None])
    return api


def _system_graphql(parts: Sequence[Api]) -> GraphQLDeclaration | None:
    """The GraphQL schema of a system: one of every service's fields, or one service's SDL.

    Raises:
        ConfigError: several services state an SDL, or one does beside generated ones.
    """
    if not parts:
        return None
    stated = [part.title for part in parts if part.graphql and part.graphql.sdl is not None]
    if not stated:
        return GraphQLDeclaration(
            queries=frozenset(
                name for part in parts if part.graphql for name in part.graphql.queries
            ),
            nodes={
                cls: name
                for part in parts
                if part.graphql
                for cls, name in part.graphql.nodes.items()
            },
        )
    if len(parts) == 1:
        return parts[0].graphql
    raise ConfigError(
        f"the services {', '.join(part.title for part in parts)} each declare a GraphQL "
        f"schema, and {', '.join(stated)} in SDL: one process serves one schema; generate it "
        "for them all (service.graphql() without sdl), or serve the SDL's service alone"
    )


def _names(services: Sequence[ServiceDefinition]) -> str:
    return ", ".join(service.name for service in services)


class ServiceApp:
    """An ASGI app whose lifespan runs the services, for an outside ASGI server.

    The configuration is read when the server sends the lifespan's startup (from the
    environment and the config file; there are no command-line flags), never at import.
    """

    def __init__(self, target: ServiceDefinition | SystemDefinition[ServiceDefinition]) -> None:
        self.target = target
        self.name = target.name
        self.http: HttpApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the lifespan, or serve a connection once it has started the services."""
        http = self.http
        if http is not None and scope["type"] == "http":  # the hot path first
            if http.entry is http:
                await http.handle_http(scope, receive, send)
            else:  # through the ASGI middleware declared around it
                await http.entry(scope, receive, send)
            return
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if http is None:
            if scope["type"] == "http":
                await send_problem(
                    send,
                    HTTPError(
                        503,
                        f"{self.name} is not started: the ASGI server must run the lifespan "
                        "(uvicorn: --lifespan on)",
                    ),
                )
            return
        await http(scope, receive, send)

    async def _serve_until_stopping(self, lifecycle: Lifecycle) -> None:
        await lifecycle.wait_state(State.STOPPING)
        self.http = None

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        stack = contextlib.AsyncExitStack()
        try:
            app = compose_target(self.target, serve=False)
            config = _config_for_an_asgi_server(app)
            container = await stack.enter_async_context(running(app, config))
            self.http = await container.aget(HttpApp)
            lifecycle = container.get(Lifecycle)
        except Exception as error:  # noqa: BLE001 - reported to the server, which stops
            await stack.aclose()
            await send({"type": "lifespan.startup.failed", "message": f"{self.name}: {error}"})
            return
        # A failed background task stops the lifecycle: from then on, answer 503 rather than
        # serve with stopped components, until the server's shutdown.
        watcher = asyncio.create_task(self._serve_until_stopping(lifecycle))
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        watcher.cancel()
        self.http = None
        try:
            await stack.aclose()
        except Exception as error:  # noqa: BLE001 - as above
            await send({"type": "lifespan.shutdown.failed", "message": f"{self.name}: {error}"})
            return
        await send({"type": "lifespan.shutdown.complete"})


def _config_for_an_asgi_server(app: App) -> Config:
    """The configuration of ``app`` from the environment, which must not turn HTTP off.

    Raises:
        ConfigError: an option is invalid, or turns HTTP off, which an ASGI server serves.
    """
    config = load_config(app, [], os.environ)
    if not serves_http(config):
        raise ConfigError(
            f"{app.env_prefix}_SERVER_ENABLED turns HTTP off, but an ASGI server serves "
            f"{app.name}; unset it, or run {app.name} without HTTP with `atoll run`"
        )
    return config


def asgi_app(target: ServiceDefinition | SystemDefinition[ServiceDefinition]) -> ServiceApp:
    """An ASGI app running ``target``; see :class:`ServiceApp`."""
    return ServiceApp(target)
