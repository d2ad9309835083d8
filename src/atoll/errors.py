"""Every error atoll raises, under one root.

Catch :class:`AtollError` to catch them all, or the builtin a caller would expect: each error
also inherits it (a :class:`ConfigError` is a :class:`ValueError`). Every message says what
was asked, what was found, and the fix; ``docs/errors.md`` lists them all.

::

    AtollError
    ├── ConfigError(ValueError)                 a bad option value, file or key
    ├── ContainerError
    │   ├── GraphError(TypeError)               the provider graph is invalid (found at build)
    │   │   ├── MissingProviderError(LookupError)   a dependency has no provider
    │   │   ├── CycleError                          providers depend on each other in a ring
    │   │   └── ScopeMismatchError                  a long-lived provider needs a short-lived one
    │   ├── ProviderError(TypeError)            a factory cannot be registered as given
    │   └── ScopeError(RuntimeError)            resolution in the wrong scope or mode
    ├── LifecycleError(RuntimeError)
    │   ├── TaskFailedError                     a supervised background task died
    │   └── ShuttingDownError                   new work was refused while stopping
    ├── NoHandlerError(LookupError)             a command or query nothing handles
    ├── DuplicateMessageError(RuntimeError)     a message's effect is already committed
    ├── DeliveryError(RuntimeError)             a handler of a delivered message failed
    ├── UnavailableError(ConnectionError)      something a service needs cannot be reached
    │   ├── DatabaseUnavailableError(PersistenceError)  the database cannot be reached
    │   ├── BrokerUnavailableError(BrokerError)         the broker cannot be reached
    │   └── RemoteUnavailableError              a remote service could not be reached in time
    │       ├── DeadlineExceededError(TimeoutError)     the call's deadline passed
    │       ├── CircuitOpenError                        the remote's breaker refused the call
    │       └── BulkheadFullError                       its remote has all the calls it may
    ├── PersistenceError(RuntimeError)
    │   ├── ConflictError                       a concurrent change won; the call is retried
    │   │   └── TooManyConflictsError           ...until the retries ran out
    │   ├── AlreadyExistsError                  a key or unique value added twice: never retried
    │   ├── OutOfRangeError(ValueError)         a value too big for its column: the caller's 422
    │   └── InvalidPageError(ValueError)        a page asked with a bad cursor, size or order
    ├── BrokerError                             a message broker refused what was asked
    ├── RemoteError                             a remote service answered with an error
    ├── AuthenticationError(PermissionError)    who is calling could not be established
    │   ├── UnauthenticatedError                    a call that needs credentials had none
    │   ├── InvalidTokenError                       the credentials given do not verify
    │   ├── MalformedCredentialsError               the credentials are not sent as they must be
    │   ├── CredentialsRefusedError                 a token endpoint refused this client
    │   └── UnverifiedMessageError                  a message's signature is missing or wrong
    ├── ForbiddenError(PermissionError)         the caller is known, and may not do this
    ├── ServerOwnedFieldError(ValueError)       a caller set a field only the server sets
    ├── RateLimitedError                        a caller went over a rate limit
    ├── IdempotencyKeyError                     a call's idempotency key cannot be honoured
    │   ├── IdempotencyKeyReusedError(ValueError)   the key came with another request
    │   └── IdempotencyKeyInUseError                the key's first request has no answer yet
    ├── TargetError(ImportError)                ``MODULE:OBJECT`` names nothing runnable
    ├── BuildError(RuntimeError)                a service's UI components could not be built
    └── MissingDependencyError(ImportError)     an optional extra is not installed
"""

from __future__ import annotations

__all__ = [
    "AtollError",
    "AuthenticationError",
    "BrokerError",
    "BrokerUnavailableError",
    "BuildError",
    "BulkheadFullError",
    "CircuitOpenError",
    "ConfigError",
    "ConflictError",
    "ContainerError",
    "CredentialsRefusedError",
    "CycleError",
    "DatabaseUnavailableError",
    "DeadlineExceededError",
    "DeliveryError",
    "DuplicateMessageError",
    "ForbiddenError",
    "GraphError",
    "IdempotencyKeyError",
    "IdempotencyKeyInUseError",
    "IdempotencyKeyReusedError",
    "InvalidPageError",
    "InvalidTokenError",
    "LifecycleError",
    "MalformedCredentialsError",
    "MissingDependencyError",
    "MissingProviderError",
    "NoHandlerError",
    "PersistenceError",
    "ProviderError",
    "RateLimitedError",
    "RemoteError",
    "RemoteUnavailableError",
    "ScopeError",
    "ScopeMismatchError",
    "ServerOwnedFieldError",
    "ShuttingDownError",
    "TargetError",
    "TaskFailedError",
    "TooManyConflictsError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnverifiedMessageError",
]


class AtollError(Exception):
    """The root of every error atoll raises."""


class ConfigError(AtollError, ValueError):
    """A configuration value, file or key is invalid.

    The message names the option, where its value came from (default, file, environment,
    flag), the value (masked if secret) and what is expected. The entrypoint prints it and
    exits with status 2.
    """


class ContainerError(AtollError):
    """The dependency-injection container cannot do what was asked."""


class GraphError(ContainerError, TypeError):
    """The provider graph is invalid; found when the container is built."""


class MissingProviderError(GraphError, LookupError):
    """A dependency, or a requested type, has no provider."""


class CycleError(GraphError):
    """Providers depend on each other in a ring; the message names its members."""


class ScopeMismatchError(GraphError):
    """A provider depends on one that lives shorter (app-scoped on request-scoped)."""


class ProviderError(ContainerError, TypeError):
    """A factory cannot be registered: no return type, unresolvable hints, bad arguments."""


class ScopeError(ContainerError, RuntimeError):
    """A resolution was asked in the wrong scope or mode (sync for an async factory)."""


class LifecycleError(AtollError, RuntimeError):
    """The application's lifecycle cannot proceed."""


class TaskFailedError(LifecycleError):
    """A supervised background task raised; the application stops because of it.

    Attributes:
        task: the task's name.
    """

    def __init__(self, task: str, error: BaseException) -> None:
        super().__init__(f"background task {task!r} failed: {type(error).__name__}: {error}")
        self.task = task
        self.__cause__ = error


class ShuttingDownError(LifecycleError):
    """New work was refused because the application is stopping."""


class TargetError(AtollError, ImportError):
    """A ``MODULE:OBJECT`` target does not name an importable, runnable object."""


class BuildError(AtollError, RuntimeError):
    """A service's UI components could not be built into JavaScript.

    The message says which step failed (the lint pass, the compile, the check in Node, the
    packages from npm), with the tool's own words and the fix.
    """


class MissingDependencyError(AtollError, ImportError):
    """An optional library is not installed; the message names the extra to install.

    ``hint`` adds what else would do.
    """

    def __init__(self, library: str, extra: str, *, hint: str = "") -> None:
        super().__init__(
            f'{library} is not installed; install it with: pip install "atoll[{extra}]"{hint}'
        )
        self.library = library
        self.extra = extra


class NoHandlerError(AtollError, LookupError):
    """A command or query was sent, and nothing handles its type."""


class DuplicateMessageError(AtollError, RuntimeError):
    """A message was delivered again, and its handler's effect is already committed.

    A unit of work raises it on entering (or, if a twin delivery won the race, on commit) when
    the inbox holds the message's id for this consumer; the bus then acknowledges the message
    and skips the handler, which is the point of an idempotent consumer.
    """


class DeliveryError(AtollError, RuntimeError):
    """A handler of a delivered message failed, so the message is not acknowledged.

    The bus raises it after every handler has run (each failure is logged with its traceback);
    the consumer delivers the message again later, to the handlers that failed.

    Attributes:
        failed: the consumers (``service.handler``) that failed.
        causes: what each of them raised, in the same order.
    """

    def __init__(
        self,
        message: str,
        *,
        failed: tuple[str, ...] = (),
        causes: tuple[BaseException, ...] = (),
    ) -> None:
        super().__init__(message)
        self.failed = failed
        self.causes = causes


class UnavailableError(AtollError, ConnectionError):
    """Something a service needs (its database, its broker, another service) cannot be reached.

    Not the fault of the code that met it: what asked may succeed once the dependency answers
    again. A consumer whose handler fails with it (or with a :class:`ConnectionError` or
    :class:`TimeoutError` of its own) pauses until the dependency is back and runs the message
    again, without spending one of its deliveries. A handler may raise it for a dependency of
    its own, such as an HTTP API that does not answer.
    """


class PersistenceError(AtollError, RuntimeError):
    """The database could not do what a unit of work asked."""


class ConflictError(PersistenceError):
    """A concurrent change to the same data won: a version conflict or a serialization failure.

    The bus runs the handler again in a fresh unit of work, with backoff, up to the
    database's ``conflict-retries``.

    Attributes:
        retries: how many more times a handler may be run after this conflict.
        backoff: the first wait between runs, in seconds; it doubles each time.
    """

    def __init__(self, message: str, *, retries: int = 0, backoff: float = 0.0) -> None:
        super().__init__(message)
        self.retries = retries
        self.backoff = backoff


class TooManyConflictsError(ConflictError):
    """A handler met a conflict on every run, and the retries ran out."""


class AlreadyExistsError(PersistenceError):
    """What a unit of work adds has the key (or a unique value) of a row that exists.

    Never run again, unlike a :class:`ConflictError`: running the handler again would add the
    same again. A caller sees a 409 (JSON-RPC -32010) naming the constraint, unless the service
    maps it (or checks first and raises a domain error of its own).

    Attributes:
        constraint: the unique constraint or key it broke, as the database names it.
    """

    def __init__(self, message: str, *, constraint: str = "") -> None:
        super().__init__(message)
        self.constraint = constraint


class OutOfRangeError(PersistenceError, ValueError):
    """A value is out of the range its database column holds (a number too big for it).

    The caller's input, not a fault of the service: a 422 (JSON-RPC -32011) unless mapped.
    """


class InvalidPageError(PersistenceError, ValueError):
    """A page was asked for with a cursor, a size or an order a repository cannot serve.

    A cursor that does not decode, or that belongs to pages in another order; ``first`` or
    ``last`` negative, above the repository's most per page, both given or neither; an order
    by an attribute the aggregate does not have. The message names the argument and the fix.
    The caller's input, like :class:`OutOfRangeError`: a 422 (JSON-RPC -32014) unless mapped.
    """


class DatabaseUnavailableError(PersistenceError, UnavailableError):
    """The database cannot be reached; the message names its host (never its password)."""


class BrokerError(AtollError, RuntimeError):
    """A message broker refused what was asked; the message names its URL (never its password)."""


class BrokerUnavailableError(BrokerError, UnavailableError):
    """The broker cannot be reached; the message names its URL and what to check."""


class RemoteError(AtollError):
    """A remote service answered a call with an error.

    Attributes:
        code: the JSON-RPC error code (-32601 method not found, -32602 invalid params,
            -32000..-32099 the service's own errors...).
        message: the error's short message.
        data: the error's details, as the service sent them.
    """

    def __init__(self, code: int, message: str, data: object = None) -> None:
        super().__init__(f"{message} (code {code})" + (f": {data}" if data is not None else ""))
        self.code = code
        self.message = message
        self.data = data

    def __reduce__(self) -> tuple[type[RemoteError], tuple[int, str, object]]:
        # Pickled and copied from its three fields, so that it crosses process pools.
        return type(self), (self.code, self.message, self.data)


class RemoteUnavailableError(UnavailableError):
    """A remote service could not be reached, or did not answer within its timeout."""


class DeadlineExceededError(RemoteUnavailableError, TimeoutError):
    """A call's deadline passed: before it was sent, while it waited, or on the receiver.

    A deadline is the time a call may take, carried from the first caller to every service
    the call reaches; what is left of it bounds each later call.
    """


class CircuitOpenError(RemoteUnavailableError):
    """A remote service's circuit breaker refused the call without sending it.

    The breaker opened after too many of the service's calls failed; the message says how many,
    and when it lets a probe through.

    Attributes:
        service: the remote service's name.
        probe_in: seconds until the breaker lets a probe through; 0 while probes are in flight.
    """

    def __init__(self, message: str, *, service: str, probe_in: float) -> None:
        super().__init__(message)
        self.service = service
        self.probe_in = probe_in


class BulkheadFullError(RemoteUnavailableError):
    """A remote service had as many calls in flight as its bulkhead holds, and no room came.

    Attributes:
        service: the remote service's name.
        limit: the calls in flight the bulkhead holds.
    """

    def __init__(self, message: str, *, service: str, limit: int) -> None:
        super().__init__(message)
        self.service = service
        self.limit = limit


class AuthenticationError(AtollError, PermissionError):
    """Who is calling could not be established: answered 401 (400 when malformed).

    The message is for the caller (RFC 6750's ``error_description``): it never holds a token,
    a key or any part of them.

    Attributes:
        code: RFC 6750's ``error`` of the ``WWW-Authenticate`` challenge (``invalid_token``,
            ``invalid_request``), or ``""`` when no credentials were given.
    """

    code = ""


class UnauthenticatedError(AuthenticationError):
    """A call that needs an identity came without credentials (``--auth-anonymous`` off)."""


class InvalidTokenError(AuthenticationError):
    """The token given is expired, revoked, malformed or not for this service."""

    code = "invalid_token"


class MalformedCredentialsError(AuthenticationError):
    """The credentials are not sent as they must be: answered 400 (``invalid_request``).

    Two ``Authorization`` headers, a token in the URL, ``Bearer`` without a token.
    """

    code = "invalid_request"


class CredentialsRefusedError(AuthenticationError):
    """A token endpoint refused to give this client a token (``invalid_client``...).

    Raised to the caller of a remote service whose client credentials did not get a token;
    the message names the endpoint and the option to check, never the secret.
    """


class UnverifiedMessageError(AuthenticationError):
    """A message consumed is unsigned, altered, or signed by a key not published.

    Raised where the consumer takes signed messages only (``--messages-require-signed``):
    the key must be one the token service publishes. The consumer sends the message to the
    dead-letter queue at once, with this error's message as the reason.
    """


class ForbiddenError(AtollError, PermissionError):
    """A handler's policy refused the caller: answered 403 (JSON-RPC -32013).

    The caller proved who it is (an anonymous caller a policy refuses gets an
    :class:`UnauthenticatedError` instead, 401), and may not run this handler: a scope, a
    role, a claim or the calling service is missing. A delivered message whose handler's
    policy refuses its sender goes to the dead-letter queue at once, with this message.
    """


class ServerOwnedFieldError(AtollError, ValueError):
    """A caller set a field its handler's policy marks server-owned: answered 422 (-32602).

    ``policy=atoll.allow(server_owned=["owner_id"])``: the server fills the field in (from
    the caller's identity, say), and a caller giving it a value other than its default is
    refused, naming it, before the handler runs (mass assignment).

    Attributes:
        field: the field's name.
    """

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class RateLimitedError(AtollError):
    """A call went over a rate limit: answered 429 with ``Retry-After`` (JSON-RPC -32015).

    The handler never ran. The message names the limit; ``retry_after`` says when a call
    may be served again.

    Attributes:
        retry_after: whole seconds until the limit lets a call through again.
        policy: the limit's rates, as declared (``10/second; 1000/hour``).
        name: the limit's name, in the ``RateLimit-Policy`` header.
        window: the seconds of the window that refused the call.
        quota: the calls that window lets through.
    """

    def __init__(
        self, message: str, *, retry_after: int, policy: str, name: str, window: int, quota: int
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.policy = policy
        self.name = name
        self.window = window
        self.quota = quota
        self.fault_data = {"retry_after": retry_after}


class IdempotencyKeyError(AtollError):
    """A call's ``Idempotency-Key`` cannot be honoured; the handler did not run."""


class IdempotencyKeyReusedError(IdempotencyKeyError, ValueError):
    """The key was used before with another request: answered 422 (JSON-RPC -32016).

    Another operation, other arguments or another body: a client reuses a key for a retry of
    the same request only, and makes a new one for each new request.
    """


class IdempotencyKeyInUseError(IdempotencyKeyError):
    """The key's first request has no answer to replay: answered 409 (JSON-RPC -32017).

    Either it is still running (try again once it has answered), or it took effect and its
    answer was lost (its process stopped in between): then it never runs again, and the
    message says so.
    """
