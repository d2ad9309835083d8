"""A service's definition: its handlers, endpoints, options and providers, declared once.

:class:`ServiceDefinition` is all of ``atoll.Service`` (:mod:`atoll.service.runnable`) but how
it runs; the composition reads it, and never the other way round.

::

    service = atoll.Service("runs", version="1.0.0")

    @service.command(RecordRun)          # JSON-RPC "record_run", REST POST /record-run
    async def record_run(cmd: RecordRun, repo: RunRepository) -> int: ...

    @service.on(UserRegistered)          # every UserRegistered, from any service
    async def open_log(evt: UserRegistered, repo: RunRepository) -> None: ...

    service.publishes(RunRecorded)       # what its aggregates raise, for its AsyncAPI document

    @service.rpc                         # JSON-RPC "weekly_meters"
    async def weekly_meters(user_id: int, runs: Runs) -> float: ...

    @service.get("/runs/{run_id}")       # REST
    async def get_run(run_id: int, runs: Runs) -> RunView: ...

    atoll.main(service)                  # python -m runs --help; serves on :8000

Message types are plain (frozen) dataclasses; they never import atoll. A parameter is the
caller's or the container's depending on whether the container provides its type (see
:mod:`atoll.messaging.handlers`).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar, overload

from atoll.endpoints.api import METHODS, Api, Method, Route, Wrapper, kebab, snake
from atoll.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConfigError,
    DeadlineExceededError,
    ForbiddenError,
    IdempotencyKeyInUseError,
    IdempotencyKeyReusedError,
    InvalidPageError,
    MalformedCredentialsError,
    OutOfRangeError,
    ProviderError,
    RateLimitedError,
    TooManyConflictsError,
)
from atoll.kernel.app import App, Declarations
from atoll.messaging.faults import FaultMap
from atoll.messaging.handlers import Handler, HandlerKind
from atoll.resilience.deadlines import DEADLINE_TITLE
from atoll.service.schedules import Cron, Every, Schedule, Timer
from atoll.service.wrapping import AsgiWrapping

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from pathlib import Path

    from atoll.endpoints.graphql.declaration import GraphQLDeclaration, ObjectField, Subscription
    from atoll.endpoints.http.types import ASGIApp
    from atoll.frontends.component import Component
    from atoll.frontends.serving import ComponentAssets
    from atoll.frontends.shell import Shell, Slot
    from atoll.messaging.bus import Middleware
    from atoll.messaging.handlers import Policy
    from atoll.security.limits import Limit

    Limits: TypeAlias = Limit | Sequence[Limit] | None
    from atoll.persistence.declaration import DatabaseDeclaration
    from atoll.persistence.repository import Repository
    from atoll.persistence.schema import Schema
    from atoll.persistence.unit_of_work import UnitOfWork

__all__ = [
    "ALREADY_EXISTS_CODE",
    "CONFLICT_CODE",
    "DEADLINE_EXCEEDED_CODE",
    "FORBIDDEN_CODE",
    "IDEMPOTENCY_KEY_IN_USE_CODE",
    "IDEMPOTENCY_KEY_REUSED_CODE",
    "INVALID_PAGE_CODE",
    "OUT_OF_RANGE_CODE",
    "RATE_LIMITED_CODE",
    "UNAUTHENTICATED_CODE",
    "ServiceDefinition",
]

CONFLICT_CODE = -32009
"""The JSON-RPC code of a change that lost to concurrent ones on every run (REST: 409)."""

ALREADY_EXISTS_CODE = -32010
"""The JSON-RPC code of an addition whose key or unique value exists (REST: 409)."""

OUT_OF_RANGE_CODE = -32011
"""The JSON-RPC code of a value out of the range its database column holds (REST: 422)."""

INVALID_PAGE_CODE = -32014
"""The JSON-RPC code of a page asked with a bad cursor, size or order (REST: 422)."""

UNAUTHENTICATED_CODE = -32012
"""The JSON-RPC code of a call whose caller is unknown: no, bad or malformed credentials
(REST: 401, or 400 when malformed); broker RPC and in-process clients answer it too."""

RATE_LIMITED_CODE = -32015
"""The JSON-RPC code of a call over a rate limit (REST: 429, with Retry-After); its data
holds ``retry_after``, in seconds."""

FORBIDDEN_CODE = -32013
"""The JSON-RPC code of a call a handler's policy refused (REST: 403); broker RPC and
in-process clients answer it too."""

IDEMPOTENCY_KEY_REUSED_CODE = -32016
"""The JSON-RPC code of a call whose idempotency key came with another request before (REST:
422)."""

IDEMPOTENCY_KEY_IN_USE_CODE = -32017
"""The JSON-RPC code of a call whose idempotency key's first request has no answer to replay:
it runs still, or its answer was lost (REST: 409)."""

DEADLINE_EXCEEDED_CODE = -32018
"""The JSON-RPC code of a call whose deadline passed, its own or a remote call's (REST: 504)."""

F = TypeVar("F", bound="Callable[..., Any]")

_CONSUMED = frozenset({HandlerKind.COMMAND, HandlerKind.EVENT})
"""The handlers of what a service takes from a broker: what is sent to it, what it consumes."""


class ServiceDefinition(Declarations, AsgiWrapping):
    """A service: handlers and endpoints over its own options, providers and tasks.

    Args:
        name: lower-case name; the environment prefix, the API's title, the name clients use.
        version: shown by ``--version`` and in the API documents.
        description: the first paragraph of ``--help`` and of the API page.
        env_prefix: the prefix of environment variables; the upper-cased name by default.
    """

    def __init__(
        self,
        name: str,
        *,
        version: str = "0.0.0",
        description: str = "",
        env_prefix: str | None = None,
    ) -> None:
        self.app = App(name, version=version, description=description, env_prefix=env_prefix)
        self.handlers: list[Handler] = []
        self.timers: list[Timer] = []
        """The timers of the service (:meth:`every`, :meth:`cron`), in the order declared."""
        self.published: list[type] = []
        """The event types the service publishes (:meth:`publishes`), in the order declared."""
        self.routes: list[Route] = []
        self.methods: list[Method] = []
        self.faults = FaultMap()
        self._default_faults = FaultMap()
        self._default_faults.add(
            AuthenticationError, status=401, code=UNAUTHENTICATED_CODE, title="unauthenticated"
        )
        self._default_faults.add(ForbiddenError, status=403, code=FORBIDDEN_CODE, title="forbidden")
        self._default_faults.add(
            RateLimitedError, status=429, code=RATE_LIMITED_CODE, title="rate limited"
        )
        self._default_faults.add(
            IdempotencyKeyReusedError,
            status=422,
            code=IDEMPOTENCY_KEY_REUSED_CODE,
            title="idempotency key reused",
        )
        self._default_faults.add(
            IdempotencyKeyInUseError,
            status=409,
            code=IDEMPOTENCY_KEY_IN_USE_CODE,
            title="idempotency key in use",
        )
        self._default_faults.add(
            DeadlineExceededError,
            status=504,
            code=DEADLINE_EXCEEDED_CODE,
            title=DEADLINE_TITLE,
        )
        self._default_faults.add(
            MalformedCredentialsError,
            status=400,
            code=UNAUTHENTICATED_CODE,
            title="malformed credentials",
        )
        self.middleware: list[Middleware] = []
        self.limits: list[Limit] = []
        """The rate limits of every handler of the service (:meth:`limit`)."""
        self.mounts: list[tuple[str, ASGIApp]] = []
        self.pages: list[tuple[str, ASGIApp]] = []
        """ASGI apps answering one path each (:meth:`page`)."""
        self.wrappers: list[Wrapper] = []
        self.database_declaration: DatabaseDeclaration | None = None
        self.graphql_declaration: GraphQLDeclaration | None = None
        self.object_fields: list[ObjectField] = []
        """The GraphQL fields of object types its handlers resolve (:meth:`field`)."""
        self.subscriptions: list[Subscription] = []
        """The GraphQL subscriptions to its events (:meth:`subscription`)."""
        self.frontend: ComponentAssets | None = None
        """What serves its UI components at ``/ui/<name>`` (:meth:`components`)."""
        self.shell_page: Shell | None = None
        """The shell page it serves, composing services' components (:meth:`shell`)."""

    # -- messages ------------------------------------------------------------------------------

    def command(
        self,
        message: type,
        *,
        name: str | None = None,
        path: str | Literal[False] | None = None,
        status: int = 200,
        public: bool = False,
        policy: Policy | None = None,
        limit: Limits = None,
    ) -> Callable[[F], F]:
        """Handle the command ``message``: its one handler, on the bus and every transport.

        Args:
            message: the command's type, a plain dataclass.
            name: the JSON-RPC method; the type's name in snake case by default.
            path: the REST route (POST); the type's name in kebab case by default, or False
                for none.
            status: the status of a successful REST response.
            public: serve anonymous callers even where the service refuses them.
            policy: who may run it, on every transport (``atoll.allow(...)``).
            limit: how often a caller may (``atoll.limit(...)``, or a list of them).
        """
        return self._message(
            HandlerKind.COMMAND, message, name, path, "POST", status, public, policy, limit
        )

    def query(
        self,
        message: type,
        *,
        name: str | None = None,
        path: str | Literal[False] | None = None,
        public: bool = False,
        policy: Policy | None = None,
        limit: Limits = None,
    ) -> Callable[[F], F]:
        """Handle the query ``message``: like a command, but over GET and changing nothing."""
        return self._message(
            HandlerKind.QUERY, message, name, path, "GET", 200, public, policy, limit
        )

    def on(
        self, event: type, *, policy: Policy | None = None, broadcast: bool = False
    ) -> Callable[[F], F]:
        """Handle every ``event`` raised in this process or delivered by a broker.

        ``policy`` says whose events it takes, such as ``atoll.allow(services=["runs"])``:
        one refused goes to the dead-letter queue. ``broadcast=True`` runs the handler on
        every running instance of the service, where the others run on one of them: at most
        once per instance (see :mod:`atoll.messaging.broadcast`).
        """
        _check_message_type(event, "event")

        def register(function: F) -> F:
            handler = Handler(
                function,
                HandlerKind.EVENT,
                function.__name__,
                self.name,
                event,
                policy=policy,
                broadcast=broadcast,
            )
            self.handlers.append(handler)
            return function

        return register

    # -- timers ---------------------------------------------------------------------------------

    def every(
        self, seconds: float, *, name: str | None = None, singleton: bool = False
    ) -> Callable[[F], F]:
        """Run the decorated function every ``seconds``, at their multiples since the epoch.

        It runs through the bus like any handler (its own scope and unit of work), with every
        parameter provided. ``singleton=True`` runs each tick on one instance of the fleet,
        which needs the service's database (its lease is kept there). See
        :mod:`atoll.service.timers`.
        """
        return self._timer(Every(seconds), name, singleton)

    def cron(
        self, expression: str, *, name: str | None = None, singleton: bool = False
    ) -> Callable[[F], F]:
        """Run the decorated function at the times ``expression`` names, in UTC.

        ``"*/5 * * * *"``: every five minutes; ``"0 3 * * 1"``: Mondays at 03:00. Needs
        ``atoll[cron]``. Otherwise as :meth:`every`.
        """
        return self._timer(Cron(expression), name, singleton)

    def _timer(self, schedule: Schedule, name: str | None, singleton: bool) -> Callable[[F], F]:  # noqa: FBT001 - private
        def register(function: F) -> F:
            label = name or function.__name__
            if not inspect.iscoroutinefunction(function):
                raise ProviderError(
                    f"timer {label!r} of {self.name} is not an async function; declare it with "
                    "`async def`"
                )
            handler = Handler(function, HandlerKind.TIMER, label, self.name)
            if any(timer.handler.name == label for timer in self.timers):
                raise ConfigError(
                    f"{self.name} has two timers named {label!r}; give one another name "
                    "(every(..., name=...))"
                )
            self.handlers.append(handler)
            self.timers.append(Timer(handler, schedule, singleton))
            return function

        return register

    def publishes(self, *events: type) -> None:
        """Declare the event types this service publishes, for its AsyncAPI document.

        What a handler's aggregates raise is known once they run, so the service says it:
        ``service.publishes(RunRecorded, RunChanged)``. The declaration documents; it does
        not limit what the service may publish. A type declared twice is listed once.
        """
        for event in events:
            _check_message_type(event, "event")
        self.published.extend(dict.fromkeys(e for e in events if e not in self.published))

    def _message(  # noqa: PLR0917 - private, called from two places
        self,
        kind: HandlerKind,
        message: type,
        name: str | None,
        path: str | Literal[False] | None,
        method: str,
        status: int,
        public: bool,  # noqa: FBT001 - private, passed on by command() and query()
        policy: Policy | None,
        limit: Limits,
    ) -> Callable[[F], F]:
        _check_message_type(message, kind.value)
        rpc_name = name or snake(message.__name__)

        def register(function: F) -> F:
            handler = Handler(
                function, kind, rpc_name, self.name, message, public, policy, _listed(limit)
            )
            self._check_method_name(rpc_name, handler)
            default = f"/{kebab(message.__name__)}"
            route = None if path is False else _route(method, path or default, handler, status)
            self.handlers.append(handler)
            self.methods.append(Method(rpc_name, handler))
            if route is not None:
                self.routes.append(route)
            return function

        return register

    # -- RPC and REST --------------------------------------------------------------------------

    @overload
    def rpc(self, function: F, /) -> F: ...

    @overload
    def rpc(
        self,
        function: None = None,
        /,
        *,
        name: str | None = None,
        public: bool = False,
        policy: Policy | None = None,
        limit: Limits = None,
    ) -> Callable[[F], F]: ...

    def rpc(
        self,
        function: F | None = None,
        /,
        *,
        name: str | None = None,
        public: bool = False,
        policy: Policy | None = None,
        limit: Limits = None,
    ) -> Any:
        """Expose ``function`` as a JSON-RPC method, named after it unless ``name`` is given.

        ``public=True`` serves anonymous callers even where the service refuses them;
        ``policy`` says who may call it (``atoll.allow(...)``), ``limit`` how often
        (``atoll.limit(...)``).
        """

        def register(function: F) -> F:
            method = name or function.__name__
            handler = Handler(
                function,
                HandlerKind.RPC,
                method,
                self.name,
                public=public,
                policy=policy,
                limits=_listed(limit),
            )
            self._check_method_name(method, handler)
            self.handlers.append(handler)
            self.methods.append(Method(method, handler))
            return function

        return register if function is None else register(function)

    def route(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        name: str | None = None,
        public: bool = False,
        policy: Policy | None = None,
        limit: Limits = None,
    ) -> Callable[[F], F]:
        """Answer ``method path`` with the decorated function.

        Path parameters (``/runs/{run_id}``) and query parameters are the function's
        parameters of scalar types; a parameter of a dataclass type is the JSON body.
        ``public=True`` serves anonymous callers even where the service refuses them;
        ``policy`` says who may call it (``atoll.allow(...)``).
        """
        verb = method.upper()
        if verb not in METHODS:
            raise ConfigError(
                f"HTTP method {method!r} for {path!r} is not one atoll routes; use one of "
                f"{', '.join(sorted(METHODS))}"
            )

        def register(function: F) -> F:
            handler = Handler(
                function,
                HandlerKind.ROUTE,
                name or function.__name__,
                self.name,
                public=public,
                policy=policy,
                limits=_listed(limit),
            )
            route = _route(verb, path, handler, status)
            self.handlers.append(handler)
            self.routes.append(route)
            return function

        return register

    def get(
        self,
        path: str,
        *,
        status: int = 200,
        name: str | None = None,
        public: bool = False,
        policy: Policy | None = None,
        limit: Limits = None,
    ) -> Callable[[F], F]:
        """Answer ``GET path``; see :meth:`route`."""
        return self.route(
            "GET", path, status=status, name=name, public=public, policy=policy, limit=limit
        )

    def post(
        self,
        path: str,
        *,
        status: int = 200,
        name: str | None = None,
        public: bool = False,
        policy: Policy | None = None,
        limit: Limits = None,
    ) -> Callable[[F], F]:
        """Answer ``POST path``; see :meth:`route`."""
        return self.route(
            "POST", path, status=status, name=name, public=public, policy=policy, limit=limit
        )

    def put(
        self,
        path: str,
        *,
        status: int = 200,
        name: str | None = None,
        public: bool = False,
        policy: Policy | None = None,
        limit: Limits = None,
    ) -> Callable[[F], F]:
        """Answer ``PUT path``; see :meth:`route`."""
        return self.route(
            "PUT", path, status=status, name=name, public=public, policy=policy, limit=limit
        )

    def patch(
        self,
        path: str,
        *,
        status: int = 200,
        name: str | None = None,
        public: bool = False,
        policy: Policy | None = None,
        limit: Limits = None,
    ) -> Callable[[F], F]:
        """Answer ``PATCH path``; see :meth:`route`."""
        return self.route(
            "PATCH", path, status=status, name=name, public=public, policy=policy, limit=limit
        )

    def delete(
        self,
        path: str,
        *,
        status: int = 200,
        name: str | None = None,
        public: bool = False,
        policy: Policy | None = None,
        limit: Limits = None,
    ) -> Callable[[F], F]:
        """Answer ``DELETE path``; see :meth:`route`."""
        return self.route(
            "DELETE", path, status=status, name=name, public=public, policy=policy, limit=limit
        )

    # Every check comes before any list changes, so a refused declaration leaves no trace.
    def _check_method_name(self, name: str, handler: Handler) -> None:
        for existing in self.methods:
            if existing.name == name:
                raise ConfigError(
                    f"JSON-RPC method {name!r} of service {self.name!r} is declared twice: by "
                    f"{existing.handler.label} and {handler.label}; pass name=... to one"
                )

    # -- errors, middleware, mounts ------------------------------------------------------------

    def error(
        self,
        error: type[BaseException],
        *,
        status: int = 400,
        code: int = -32000,
        title: str | None = None,
    ) -> None:
        """Let callers see ``error`` with this HTTP status and JSON-RPC code.

        Any exception not declared this way is unexpected: callers get a 500 (or -32603) with
        a correlation id, and the traceback is logged, never sent.
        """
        self.faults.add(error, status=status, code=code, title=title)

    def limit(self, *limits: Limit) -> None:
        """Limit how often a caller may call each handler of this service, together.

        Each of ``limits`` (``atoll.limit("100/second", per="ip")``) counts the calls of
        one key to every handler of the service in the same windows, besides a handler's
        own ``limit=``.
        """
        self.limits.extend(_listed(list(limits)))

    def use(self, middleware: Middleware) -> None:
        """Wrap every handler call of the process in ``middleware``; see :class:`Middleware`."""
        self.middleware.append(middleware)

    def mount(self, prefix: str, app: ASGIApp) -> None:
        """Serve any ASGI app (Starlette, FastAPI...) under ``prefix``."""
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ConfigError(
                f"mount prefix {prefix!r} must start with '/' and not end with one, like '/legacy'"
            )
        self.mounts.append((prefix, app))

    # -- UI components -------------------------------------------------------------------------

    def components(self, *components: type[Component]) -> None:
        """Ship these UI components: built for the browser, served at ``/ui/<service name>``.

        Each is a :class:`~atoll.frontends.component.Component` subclass defined at the top of
        a module of its own, in the Python Transcrypt compiles rightly. As the service starts
        (``--ui-build auto``) the components are built when their build is older than their
        sources; ``/ui/<name>/`` shows them, ``/ui/<name>/fragments.json`` is their manifest
        for a shell. See ``docs/reference/frontends.md``.

        Raises:
            ConfigError: the service declared its components already, or gave none, or gave
                something that is not a component.
        """
        from atoll.frontends.component import Component  # noqa: PLC0415 - `import atoll` stays light
        from atoll.frontends.serving import ComponentAssets  # noqa: PLC0415

        if self.frontend is not None:
            raise ConfigError(
                f"service {self.name!r} declared its components already; call "
                "service.components(...) once, with every component"
            )
        if not components:
            raise ConfigError(
                f"service {self.name!r} declares no component: give the classes, like "
                "service.components(RunList, RecordRun)"
            )
        for given in components:
            if not (isinstance(given, type) and issubclass(given, Component)):  # type: ignore[redundant-expr] # the hint is not checked at run time
                raise ConfigError(
                    f"service {self.name!r} was given {given!r} as a component; give "
                    "subclasses of atoll.frontends.component.Component"
                )
        self.frontend = ComponentAssets(self.name, components)
        self.mount(f"/ui/{self.name}", self.frontend)

    def shell(
        self,
        title: str,
        slots: Sequence[Slot],
        *,
        path: str = "/",
        styles: str = "",
        offline: bool = True,
    ) -> None:
        """Serve a shell page at ``path``: the components of several services, composed.

        Each of ``slots`` (``Slot("runs", "runs-run-list")``) shows an element of a service:
        one this process runs, or one whose address ``--ui-fragments runs=http://...``
        gives. A service that does not answer is shown by a placeholder, and the rest of the
        page works (see :mod:`atoll.frontends.shell`).

        With ``offline`` (the default), the page works offline too: atoll's service worker,
        ``offline.js``, the web app manifest and its icon are served beside it (``/sw.js``,
        or ``/app/sw.js`` for a shell at ``/app``), the page registers the worker, which
        precaches the page and the builds it loads, and keeps the last answer of each
        method that only reads (see :mod:`atoll.frontends.offline`).

        Raises:
            ConfigError: the service declared a shell already, gave no slot, or a bad path.
        """
        from atoll.frontends.offline import FILES, OfflineAssets, ShellWorker  # noqa: PLC0415 - `import atoll` stays light
        from atoll.frontends.shell import Shell  # noqa: PLC0415

        if self.shell_page is not None:
            raise ConfigError(f"service {self.name!r} declared its shell already; call it once")
        if not slots:
            raise ConfigError(
                f"the shell of service {self.name!r} shows nothing: give its slots, like "
                'Slot("runs", "runs-run-list")'
            )
        shell = Shell(title, slots, {}, styles=styles)
        self.page(path, shell)
        self.shell_page = shell
        if offline:
            at = path.rstrip("/")
            own = [at + name for name in FILES if name != "/sw.js"]
            assets = OfflineAssets(
                title, configure=ShellWorker(shell, path, own), scope=path, at=at
            )
            shell.head = assets.links()
            for each in assets.paths:
                self.page(each, assets)

    def page(self, path: str, app: ASGIApp) -> None:
        """Answer the requests of exactly ``path`` (``/``, say) with the ASGI ``app``.

        Raises:
            ConfigError: ``path`` does not start with ``/``, or is answered already.
        """
        if not path.startswith("/"):
            raise ConfigError(f"page path {path!r} must start with '/', like '/'")
        if any(path == taken for taken, _ in self.pages):
            raise ConfigError(f"service {self.name!r} answers {path} with a page already")
        self.pages.append((path, app))

    # -- GraphQL -------------------------------------------------------------------------------

    def graphql(
        self,
        sdl: str | Path | None = None,
        *,
        bind: Mapping[str, str | Callable[..., Any]] | None = None,
        queries: Iterable[str | Callable[..., Any]] = (),
        nodes: Mapping[type, str | Callable[..., Any]] | None = None,
    ) -> None:
        """Serve this service's handlers over GraphQL too, at ``/graphql`` (``atoll[graphql]``).

        Without ``sdl``, the schema is generated: a query (and a JSON-RPC method a GET route
        serves, or one ``queries`` names) is a ``Query`` field, a command or any other
        JSON-RPC method a ``Mutation`` field, with its parameters as arguments and its result
        as type. With ``sdl`` (its text, or the ``Path`` of a file), the schema is that one,
        each root field resolved by the handler of its name (``weeklyMeters``:
        ``weekly_meters``) or the one ``bind`` gives it (``{"Query.run": get_run}``), and
        checked against it when the application is built.

        ``nodes`` makes classes Relay nodes of a generated schema, each found by the query
        given (``{Run: get_run}``, which takes the key): their types implement ``Node``, their
        ``id`` is a global id (their own is ``databaseId``), and ``node(id:)`` finds any.

        Raises:
            ConfigError: the service declared its GraphQL schema already, or gives ``nodes``
                to an SDL.
        """
        from atoll.endpoints.graphql.declaration import GraphQLDeclaration  # noqa: PLC0415 - `import atoll` stays light

        if self.graphql_declaration is not None:
            raise ConfigError(
                f"service {self.name!r} declared its GraphQL schema already; call "
                "service.graphql(...) once"
            )
        for cls in nodes or {}:
            if not isinstance(cls, type):
                raise ConfigError(
                    f"graphql(nodes=...) of service {self.name!r} has the key {cls!r}; key each "
                    "query by the class it finds: nodes={Run: get_run}"
                )
        if nodes and sdl is not None:
            raise ConfigError(
                f"service {self.name!r} gives nodes= to an SDL, which states its own types; "
                "declare interface Node and node(id:) in it, or generate the schema"
            )
        self.graphql_declaration = GraphQLDeclaration(
            sdl,
            {place: self._method_name(given) for place, given in (bind or {}).items()},
            frozenset(self._method_name(given) for given in queries),
            {cls: self._method_name(given) for cls, given in (nodes or {}).items()},
        )

    def field(
        self,
        parent: type,
        *,
        name: str | None = None,
        batched: bool = False,
        public: bool = False,
        policy: Policy | None = None,
    ) -> Callable[[F], F]:
        """Resolve a GraphQL field of ``parent``'s object type with the decorated function.

        The function's first parameter is the parent object (a ``parent``), its other inputs
        the field's arguments, and the container gives the rest, as to any handler::

            @service.field(User)
            async def runs(user: User, last: int, uow: RunsUnitOfWork) -> list[Run]: ...

        With ``batched=True`` its first parameter is the list of parents of a level of the
        document, and it returns the field's value for each, in order: one call where there
        would be one per parent (the N+1 queries of a list become one). ``policy`` says who may
        read the field: another caller gets null and a ``FORBIDDEN`` error, the rest of the
        document still answers.

        Raises:
            ConfigError: ``parent`` is no dataclass, or the function takes no parent.
        """
        from atoll.endpoints.graphql.declaration import ObjectField  # noqa: PLC0415 - `import atoll` stays light

        if not hasattr(parent, "__annotations__"):
            raise ConfigError(
                f"service.field({parent!r}) names no class; give the dataclass whose GraphQL "
                "object type has the field, such as service.field(User)"
            )

        def register(function: F) -> F:
            field_name = name or function.__name__
            handler = Handler(
                function,
                HandlerKind.FIELD,
                f"{parent.__name__}.{field_name}",
                self.name,
                public=public,
                policy=policy,
            )
            self.handlers.append(handler)
            self.object_fields.append(ObjectField(parent, field_name, handler, batched))
            return function

        return register

    def subscription(
        self,
        event: type,
        *,
        name: str | None = None,
        public: bool = False,
        policy: Policy | None = None,
    ) -> Callable[[F], F]:
        """Offer each ``event`` to GraphQL subscribers, as the decorated function shows it.

        The function's first parameter is the event, its other inputs the field's arguments,
        and the container gives the rest; it runs for each event and each subscriber, in the
        subscriber's call context (its identity), and returns what the subscriber gets, or
        ``None`` to skip the event for it::

            @service.subscription(RunRecorded, policy=A_RUNNER)
            async def run_recorded(
                event: RunRecorded, identity: atoll.Identity
            ) -> RunRecorded | None:
                return event if event.user_id == runner_of(identity) else None

        The field is ``Subscription.runRecorded``, served over a WebSocket at the GraphQL
        path (the ``graphql-transport-ws`` protocol). Every instance offers every event
        published, from the broker (see :mod:`atoll.messaging.broadcast`): at most once.

        Raises:
            ConfigError: ``event`` is no message type.
        """
        from atoll.endpoints.graphql.declaration import Subscription  # noqa: PLC0415 - `import atoll` stays light

        _check_message_type(event, "event")

        def register(function: F) -> F:
            field_name = name or function.__name__
            handler = Handler(
                function,
                HandlerKind.SUBSCRIPTION,
                f"Subscription.{field_name}",
                self.name,
                public=public,
                policy=policy,
            )
            self.handlers.append(handler)
            self.subscriptions.append(Subscription(event, field_name, handler))
            return function

        return register

    def _method_name(self, given: str | Callable[..., Any]) -> str:
        """The JSON-RPC method (or subscription) ``given`` names, or is the function of."""
        if isinstance(given, str):
            return given
        for method in self.methods:
            if method.handler.function is given:
                return method.name
        for subscription in self.subscriptions:
            if subscription.handler.function is given:
                return subscription.name
        raise ConfigError(
            f"{getattr(given, '__qualname__', given)!r} is no JSON-RPC method or subscription "
            f"of service {self.name!r}; declare it with @service.rpc, @service.query, "
            "@service.command or @service.subscription before service.graphql(...), or give "
            "its name"
        )

    # -- persistence ---------------------------------------------------------------------------

    def database(
        self,
        schema: Schema,
        unit_of_work: type[UnitOfWork] | None = None,
        *,
        repositories: dict[Any, type[Repository[Any]]] | None = None,
    ) -> None:
        """Keep ``schema``'s aggregates in a database of this service's own.

        The service gets the ``db`` options (``<service>_db`` in a system, with flags
        ``--<service>-db-...``; SQLite under ``data/`` by default), the database as a
        component, an outbox relay, and ``unit_of_work`` (``UnitOfWork`` by default) for its
        handlers, new for each call.

        Raises:
            ConfigError: the service has a database already, or ``unit_of_work`` annotates
                what is no repository.
        """
        from atoll.persistence.declaration import DatabaseDeclaration  # noqa: PLC0415 - `import atoll` stays light
        from atoll.persistence.unit_of_work import UnitOfWork  # noqa: PLC0415 - as above

        if self.database_declaration is not None:
            raise ConfigError(
                f"service {self.name!r} has a database already; a service keeps one database "
                "(map every aggregate in its one schema)"
            )
        self.database_declaration = DatabaseDeclaration(
            schema, unit_of_work or UnitOfWork, repositories
        )
        # A change that lost to concurrent ones on every run is the caller's to try again; a
        # service's own rule for it, declared before or after, wins.
        self._default_faults.add(TooManyConflictsError, status=409, code=CONFLICT_CODE)
        self._default_faults.add(AlreadyExistsError, status=409, code=ALREADY_EXISTS_CODE)
        self._default_faults.add(OutOfRangeError, status=422, code=OUT_OF_RANGE_CODE)
        self._default_faults.add(InvalidPageError, status=422, code=INVALID_PAGE_CODE)

    # -- running -------------------------------------------------------------------------------

    def api(self) -> Api:
        """What this service exposes, for the transports and the documents."""
        return Api(
            title=self.name,
            version=self.version,
            description=self.description,
            routes=list(self.routes),
            methods=list(self.methods),
            faults=self._faults(),
            mounts=list(self.mounts),
            pages=list(self.pages),
            wrappers=list(self.wrappers),
            consumes=[h for h in self.handlers if h.kind in _CONSUMED],
            publishes=list(self.published),
            graphql=self.graphql_declaration,
            object_fields=list(self.object_fields),
            subscriptions=list(self.subscriptions),
        )

    def _faults(self) -> FaultMap:
        """What callers may see: atoll's rules for this service's parts, then its own."""
        faults = FaultMap()
        faults.update(self._default_faults)
        faults.update(self.faults)
        return faults

    def __repr__(self) -> str:
        return f"Service({self.name!r}, version={self.version!r})"


def _route(method: str, path: str, handler: Handler, status: int) -> Route:
    if not path.startswith("/"):
        raise ConfigError(f"route path {path!r} of {handler.label} must start with '/'")
    if not 200 <= status <= 299:  # noqa: PLR2004 - the success range
        raise ConfigError(
            f"status {status} of {handler.label} is not a success status; use 200..299 "
            "(errors come from service.error(...))"
        )
    return Route(method, path, handler, status)


def _check_message_type(message: object, kind: str) -> None:
    if not inspect.isclass(message):
        raise ProviderError(
            f"the {kind} type must be a class, such as a frozen dataclass; got {message!r}"
        )


def _listed(limit: Limits) -> tuple[Limit, ...]:
    """The limits ``limit`` gives: none, one, or each of a list.

    Raises:
        ConfigError: something else than what ``atoll.limit(...)`` makes.
    """
    if limit is None:
        return ()
    listed: list[Any] = [limit] if not isinstance(limit, list | tuple) else list(limit)
    for item in listed:
        if not hasattr(item, "windows") or not hasattr(item, "per"):
            raise ConfigError(
                f"limit takes what atoll.limit(...) makes, or a list of them; got {item!r:.60}"
            )
    return tuple(listed)
