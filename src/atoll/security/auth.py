"""Authentication: the identity a call's credentials prove, established once per request.

The ``[auth]`` option section says which credentials a service accepts (JWT issuers, under
``[auth.jwt]``; API tokens, with ``--auth-api-tokens``) and whether a call without any is
served (``--auth-anonymous``, on by default). The :class:`Authenticator` reads the
credentials of the call in progress (its :class:`~atoll.messaging.context.Request`), verifies
them, and keeps the identity on the
call's context, so that a JSON-RPC batch is authenticated once and every handler of the call
sees the same identity.

Every transport admits a call through :meth:`Authenticator.admission` before it reads the
call's input: REST routes, JSON-RPC methods over HTTP, broker RPC and in-process clients
(their engine is the same). There is an admission only where there is something to do: the
handler asks for :class:`Identity` (directly or through a provider), a policy or a rate
limit judges its calls, or the service refuses anonymous calls and the handler is not marked
``public=True``. A service that does none of these pays nothing.

Credentials are read as RFC 6750 says, and no other way:

- ``Authorization: Bearer <token>``, once; another scheme is no credentials of atoll's;
- two ``Authorization`` headers, ``Bearer`` without a token, or a token holding spaces:
  :class:`~atoll.errors.MalformedCredentialsError` (400, ``invalid_request``);
- a token in the URL (``?access_token=``): refused the same way, since URLs end up in logs.

With API tokens on (:mod:`atoll.security.api_tokens`), a bearer token starting with ``atl_``
is one, and so is the value of the ``api-key-header`` (``X-API-Key``) or of the
``api-key-cookie``, when those are named. A request carries its credentials one way: two of
them (a bearer token and an ``X-API-Key``, say) are refused as malformed.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from atoll.errors import AuthenticationError, MalformedCredentialsError, UnauthenticatedError
from atoll.kernel.options import option
from atoll.messaging.context import (
    IDEMPOTENCY_KEY,
    LOCAL_REQUEST,
    CallContext,
    Request,
    Response,
    current_call,
    enter,
    leave,
)
from atoll.messaging.envelope import Delivery  # noqa: TC001 - the container reads the hint
from atoll.messaging.signing import SIGNED_BY
from atoll.security.api_tokens import API_TOKEN_PREFIX
from atoll.security.identity import ANONYMOUS, Identity, identity_of_claims
from atoll.security.tokens import JwtOptions

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from atoll.kernel.health import Readiness
    from atoll.messaging.bus import MessageBus
    from atoll.messaging.handlers import Handler
    from atoll.security.api_tokens import ApiTokens
    from atoll.security.idempotency import Idempotency
    from atoll.security.limits import Limiter
    from atoll.security.tokens import TokenVerifier

__all__ = [
    "KEY_MEMBER",
    "AuthOptions",
    "Authenticator",
    "acting_as",
    "authenticator_for",
    "bearer_token",
    "identity_of_call",
    "reads_call_context",
    "takes_keys",
]

_LONGEST_CACHE = 3600.0
_TOKEN_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class AuthOptions:
    """Which credentials the service accepts, and whether calls without any are served."""

    anonymous: bool = option(
        default=True,
        help="serve calls without credentials; off: every endpoint not marked public needs "
        "an identity (401 without one)",
    )
    default_deny: bool = option(
        default=False,
        help="refuse every call and message whose handler declares no policy= (403), "
        "unless it is public",
    )
    jwt: JwtOptions = option(default_factory=JwtOptions)
    api_tokens: bool = option(
        default=False,
        help="accept the service's API tokens (atl_...): as a bearer token, or in the "
        "api-key header or cookie",
    )
    api_key_header: str = option(
        "x-api-key", help="the header an API token may come in; empty: none is read"
    )
    api_key_cookie: str = option("", help="the cookie an API token may come in; empty: none")
    api_token_cache: float = option(
        5.0,
        help="seconds a token found is served without asking the database again: how long "
        "another process may still accept a token revoked elsewhere",
    )

    def __post_init__(self) -> None:
        if not (
            math.isfinite(self.api_token_cache) and 0 <= self.api_token_cache <= _LONGEST_CACHE
        ):
            msg = (
                f"api_token_cache must be between 0 and {_LONGEST_CACHE:.0f} seconds, such as 5: "
                "it is how long a revoked token may still be accepted by another process; "
                f"got {self.api_token_cache}"
            )
            raise ValueError(msg)
        for name in ("api_key_header", "api_key_cookie"):
            value = getattr(self, name)
            if value and not _TOKEN_NAME.fullmatch(value):
                msg = (
                    f"{name} must be a header or cookie name (letters, digits, - and _), such "
                    f"as x-api-key; got {value!r}"
                )
                raise ValueError(msg)


class Authenticator:
    """Establishes who is calling, and refuses a call that must say and did not.

    Args:
        options: the ``[auth]`` section.
        realm: what the ``WWW-Authenticate`` challenge names: the service or system.
        verifier: verifies bearer tokens; ``None`` when no issuer is configured, and a
            bearer token is then no credential of this service (the call is anonymous).
        api_tokens: the service's API tokens, read when ``options.api_tokens`` is on.
        limiter: judges the rate limits of each call a transport brings, as it guards it.
        idempotency: runs a call that carries an idempotency key once per caller and key.
    """

    def __init__(  # noqa: PLR0917 - what judges a call before it runs, each optional
        self,
        options: AuthOptions,
        realm: str,
        verifier: TokenVerifier | None = None,
        api_tokens: ApiTokens | None = None,
        limiter: Limiter | None = None,
        idempotency: Idempotency | None = None,
    ) -> None:
        self.options = options
        self.realm = realm
        self.verifier = verifier
        self.api_tokens = api_tokens if options.api_tokens else None
        self.limiter = limiter
        self.idempotency = idempotency

    async def start(self) -> None:
        """Start the verifier (a JWT verifier loads its keys, and fetches its JWKS)."""
        if self.verifier is not None:
            await self.verifier.start()

    async def stop(self) -> None:
        """Stop the verifier."""
        if self.verifier is not None:
            await self.verifier.stop()

    async def ping(self) -> None:
        """Readiness: raise why the verifier is degraded (its JWKS out of reach), if it is."""
        if self.verifier is not None:
            state = self.verifier.check()
            if state != "ok":
                raise RuntimeError(state)

    @property
    def required(self) -> bool:
        """Whether a call must prove who it is, unless its handler is public."""
        return not self.options.anonymous

    def guards(self, handler: Handler, bus: MessageBus) -> bool:
        """Whether a call of ``handler`` is authenticated: it asks, meets a policy, or must."""
        return (
            (self.required and not handler.public)
            or bus.policy_of(handler) is not None
            or bus.asks_for(handler, Identity)
        )

    def counts_alone(self, handler: Handler, bus: MessageBus) -> bool:
        """Whether the transport may count ``handler``'s calls with no call context.

        So when they are counted per address only, and nothing else reads the context: the
        call is not authenticated, and asks for no atoll.Request nor atoll.Response.
        """
        limiter = self.limiter
        return (
            limiter is not None
            and limiter.counts(handler)
            and not limiter.needs_identity(handler)
            and not self.guards(handler, bus)
            and not bus.asks_for(handler, Request, Response)
        )

    def keys(self, handler: Handler) -> bool:
        """Whether a call of ``handler`` may carry an idempotency key."""
        return self.idempotency is not None and self.idempotency.serves(handler)

    def limits(self, handler: Handler) -> bool:
        """Whether a rate limit counts the calls of ``handler`` (its own, or its service's)."""
        return self.limiter is not None and self.limiter.counts(handler)

    def keyed(self, handler: Handler, call: Any) -> Any:
        """``call``, run once per caller and idempotency key when its transport gave one.

        ``call`` itself when the handler takes no key (:meth:`keys`). The caller's identity
        is the call context's: established by the admission, or here when none needed it, and
        then anonymous if the credentials sent do not hold (the call needs none: a stale
        token refuses no call without a key, nor with one).
        """
        keys = self.idempotency
        if keys is None or not self.keys(handler):
            return call
        identify, key_of_call = self.identify, IDEMPOTENCY_KEY.get

        async def once(arguments: dict[str, Any]) -> Any:
            key = key_of_call()
            if key is None:
                return await call(arguments)
            try:
                identity = await identify(current_call())  # whose key it is
            except AuthenticationError:  # credentials the call does not need, and which fail
                identity = ANONYMOUS
            return await keys.call(handler, identity, key, arguments, call)

        return once

    def admission(
        self, handler: Handler, bus: MessageBus, *, counted: bool = False
    ) -> Callable[[], Awaitable[None]] | None:
        """What admits a call of ``handler``, before its input is read; ``None``: nothing.

        Its rate limits count it first (:meth:`limits`; not a call in the process), then
        it is authenticated where :meth:`guards` says so. The transport must have set the
        call's context (its request); without one (a call in the process that carried
        none) the call is anonymous, and not counted. Counted here, before any scope is
        opened, a limit costs a call no more than it must. A transport admits a call before
        it decodes the call's input, so that a caller who must prove who they are learns
        nothing of an operation's input rules without doing so (a 401, never a 422).

        ``counted``: the transport counted the call's limits itself (all per address, see
        :meth:`counts_alone`), so they are not counted again here.

        Raises (the admission):
            UnauthenticatedError: the call needs credentials and carries none.
            AuthenticationError: the credentials are malformed or do not verify.
            RateLimitedError: a limit of the handler is reached.
        """
        guards, limiter = self.guards(handler, bus), self.limiter
        if counted or limiter is None or not limiter.counts(handler):
            limiter = None
        if not guards and limiter is None:
            return None
        needs = self.required and not handler.public
        identify = self.identify
        identified = guards or (limiter is not None and limiter.needs_identity(handler))

        async def admit() -> None:
            context = current_call()
            identity = await identify(context) if identified else ANONYMOUS
            if limiter is not None and context is not None:
                await limiter.check(handler, identity, context.request)
            if needs and not identity.authenticated:
                raise UnauthenticatedError(
                    "this call needs credentials: send a token as Authorization: Bearer <token>"
                )

        return admit

    async def identify(self, context: CallContext | None) -> Identity:
        """The identity the call's credentials prove, established once per call context.

        Raises:
            MalformedCredentialsError: the credentials are not sent as RFC 6750 says, or
                sent two ways at once.
            InvalidTokenError: the token does not verify (from the verifier), or the API
                token is not known, revoked or expired.
        """
        if context is None:
            return ANONYMOUS
        known = context.identity
        if isinstance(known, Identity):
            return known
        token = bearer_token(context.request)
        if self.api_tokens is not None:
            api_token = self._api_token(context.request, token)
            if api_token is not None:
                identity = await self.api_tokens.verify(api_token)
                context.identity = identity
                return identity
        if token is None or self.verifier is None:
            identity = ANONYMOUS
        else:
            identity = identity_of_claims(await self.verifier.verify(token))
        context.identity = identity
        return identity

    def _api_token(self, request: Request, bearer: str | None) -> str | None:
        """The API token ``request`` carries, if it carries one; the only credential it has.

        Raises:
            MalformedCredentialsError: credentials sent two ways, or the header twice or
                empty.
        """
        ways: list[tuple[str, str]] = []
        if bearer is not None:
            ways.append(("Authorization: Bearer", bearer))
        header = self.options.api_key_header
        if header:
            values = request.headers.getlist(header)
            if len(values) > 1:
                raise MalformedCredentialsError(f"send one {header} header, not several")
            if values:
                if not values[0].strip():
                    raise MalformedCredentialsError(f"the {header} header needs an API token")
                ways.append((header, values[0].strip()))
        cookie = self.options.api_key_cookie
        if cookie and cookie in request.cookies:
            ways.append((f"the cookie {cookie}", request.cookies[cookie]))
        if len(ways) > 1:
            raise MalformedCredentialsError(
                f"send credentials one way, not {len(ways)}: this request has "
                f"{' and '.join(way for way, _ in ways)}"
            )
        if not ways:
            return None
        _, token = ways[0]
        if bearer is not None and not token.startswith(API_TOKEN_PREFIX):
            return None  # a JWT, for the verifier
        return token

    def challenge(self, code: str = "", description: str = "") -> bytes:
        """The ``WWW-Authenticate`` value of a 401: RFC 6750's, with the error when given."""
        parts = [f'Bearer realm="{_quoted(self.realm)}"']
        if code:  # no error without credentials (RFC 6750, 3.1)
            parts.append(f'error="{code}"')
            if description:
                parts.append(f'error_description="{_quoted(description)}"')
        return ", ".join(parts).encode("latin-1", errors="replace")


@contextlib.contextmanager
def acting_as(identity: Identity) -> Iterator[None]:
    """Call in the process as ``identity`` until the block ends.

    For code of the process itself (a background task, a script, a test): the services it
    calls in the process (``bus.handle``, ``clients.get(...)`` of a service composed here)
    serve it as a caller whose token proved ``identity``. Nothing outside the process can
    do this: a transport establishes the identity from the credentials it is sent.
    """
    token = enter(CallContext(LOCAL_REQUEST, identity))
    try:
        yield
    finally:
        leave(token)


KEY_MEMBER = b'"idempotency_key"'
"""The JSON-RPC member of an idempotency key, as a transport finds it in a raw body."""


def takes_keys(bus: MessageBus, authenticator: Authenticator | None) -> bool:
    """Whether a call of some handler of ``bus`` may carry an idempotency key.

    A transport that makes no call context for a handler makes one for a call with a key,
    whose caller the key belongs to: where this is true, it looks for :data:`KEY_MEMBER` in
    the raw body before decoding it.
    """
    return authenticator is not None and any(authenticator.keys(h) for h in bus.handlers)


def reads_call_context(
    handler: Handler, bus: MessageBus, authenticator: Authenticator | None
) -> bool:
    """Whether a call of ``handler`` reads the call context its transport may set.

    It does when it asks for atoll.Request or atoll.Response (directly, or through a
    provider it uses), or when ``authenticator`` authenticates its calls (it reads the
    request's credentials, and keeps the identity there). A transport sets the context only
    for such calls: the others pay nothing.
    """
    if bus.asks_for(handler, Request, Response):
        return True
    return authenticator is not None and (
        authenticator.guards(handler, bus) or authenticator.limits(handler)
    )


def authenticator_for(
    options: AuthOptions,
    realm: str,
    readiness: Readiness,
    api_tokens: ApiTokens | None = None,
    *,
    jwks_app_for: Callable[[str], Any] | None = None,
    limiter: Limiter | None = None,
    idempotency: Idempotency | None = None,
) -> Authenticator:
    """The authenticator ``options`` ask for: with a JWT verifier when an issuer is named.

    The verifier's state joins the readiness checks (a JWKS out of reach). ``api_tokens``
    are read when ``options.api_tokens`` is on. ``jwks_app_for`` gives the ASGI app of this
    process that serves a JWKS URL, when it does: that JWKS is read from it, without the
    network. ``limiter`` counts the calls of the handlers with rate limits; ``idempotency``
    runs the calls that carry an idempotency key once.

    Raises:
        MissingDependencyError: the issuer is named and ``atoll[jwt]`` is not installed.
    """
    if not options.jwt.issuer:
        return Authenticator(
            options, realm, api_tokens=api_tokens, limiter=limiter, idempotency=idempotency
        )
    adapter = importlib.import_module("atoll.adapters.jwt")  # atoll[jwt], only when used
    authenticator = Authenticator(
        options,
        realm,
        adapter.verifier_for(options.jwt, app_for=jwks_app_for),
        api_tokens=api_tokens,
        limiter=limiter,
        idempotency=idempotency,
    )
    readiness.add("auth", authenticator.ping)
    return authenticator


def bearer_token(request: Request) -> str | None:
    """The bearer token ``request`` carries, or ``None``; never read from the URL.

    Raises:
        MalformedCredentialsError: two ``Authorization`` headers; ``Bearer`` without a token
            or with spaces in it; a token in the query string.
    """
    if "access_token" in request.query:
        raise MalformedCredentialsError(
            "a token in the URL is refused, since URLs are logged: send it as "
            "Authorization: Bearer <token>"
        )
    given = request.headers.getlist("authorization")
    if not given:
        return None
    if len(given) > 1:
        raise MalformedCredentialsError("send one Authorization header, not several")
    scheme, _, token = given[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        return None  # another scheme: no credentials of this service's
    token = token.strip()
    if not token:
        raise MalformedCredentialsError("Authorization: Bearer needs a token after it")
    if len(token.split(None, 1)) > 1:  # inner whitespace; found at C speed in a 1 MB header
        raise MalformedCredentialsError("a bearer token holds no spaces")
    return token


def identity_of_call(delivery: Delivery) -> Identity:
    """The provider of :class:`Identity`: the one the call's admission established.

    A handler that asks for it is always guarded, so over a transport its identity is on the
    call's context. A delivered command or event is the one who made the outside call it
    follows from (its ``subject`` header, ``scheme == "message"``), or anonymous; so is a
    call in the process that carried none. A message whose signature its consumer checked
    (:mod:`~atoll.messaging.signing`) has ``scheme == "signed-message"``, and the signing
    client's id as its ``issuer``: who vouches for the subject.
    """
    context = current_call()
    known = None if context is None else context.identity
    if isinstance(known, Identity):
        return known
    subject = delivery.headers.get("subject")
    if delivery.message_id is not None and isinstance(subject, str) and subject:
        kind = delivery.headers.get("subject_kind")
        signer = delivery.headers.get(SIGNED_BY)
        return Identity(
            kind="service" if kind == "service" else "user",
            subject=subject,
            issuer=signer if isinstance(signer, str) else "",
            scheme="message" if signer is None else "signed-message",
        )
    return ANONYMOUS


def _quoted(text: str) -> str:
    """``text`` inside a quoted-string: no quote, backslash or control character left."""
    return "".join(char for char in text if char.isprintable() and char not in '"\\')
