"""The JWT verifier: a bearer token's signature, issuer, audience and times, as RFC 8725 asks.

:class:`JwtVerifier` implements :class:`~atoll.security.tokens.TokenVerifier` for compact
JWS tokens. It reads a token in this order, refusing at the first fault, so that what an
unauthenticated caller sends costs little before its signature is checked:

1. the size (``max_bytes``), before anything else;
2. the shape: three base64url segments, nothing else (no JSON serialization, no padding,
   no whitespace, no non-canonical trailing bits);
3. the header: ``alg`` in the configured algorithms (``none`` never), ``typ`` among the
   accepted types, no ``crit`` (no extension is understood), no nested JWT; ``jku``,
   ``x5u``, ``jwk`` and ``x5c`` are never read, so never fetched nor trusted;
4. the key: those whose ``kid`` is the token's and whose pinned algorithms hold its ``alg``
   (a token naming a key not known makes the JWKS be fetched again, at most once per
   ``jwks_refresh`` seconds); the ``kid`` is only ever a dictionary key;
5. the signature, with pyjwt's algorithm for that ``alg`` and the key's own material;
6. the claims, decoded only now: the required ones present, ``exp``/``nbf``/``iat``
   numbers within the leeway of the clock, ``iss`` equal to the issuer, ``aud`` naming
   this service, ``sub`` and ``jti`` strings.

Parsing is atoll's (msgspec for the JSON), not ``jwt.decode``'s: pyjwt reads the time claims
on the wall clock (a test cannot set it), takes ``"exp": "1700000000"`` or ``true`` for a
number, and spends more time checking the base64 alphabet in Python than RSA takes to
verify. The signatures are checked by pyjwt's algorithms.
"""

from __future__ import annotations

import binascii
import logging
import re
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import msgspec

from atoll.adapters.jwt.jwks import Jwks
from atoll.adapters.jwt.keys import configured_keys
from atoll.errors import (
    ConfigError,
    InvalidTokenError,
    LifecycleError,
    MissingDependencyError,
)
from atoll.kernel.health import OK
from atoll.kernel.options import masked_url

try:
    from jwt.algorithms import get_default_algorithms
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("pyjwt[crypto]", "jwt") from error

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import httpx
    from jwt.algorithms import Algorithm

    from atoll.adapters.jwt.keys import VerificationKey
    from atoll.security.tokens import JwtOptions

__all__ = ["IssuersVerifier", "JwtVerifier", "verifier_for"]

logger = logging.getLogger("atoll.auth")

TOO_LARGE = "the token is too large"
MALFORMED = "the token is malformed"
NOT_SIGNED = "the token is not signed"
ALGORITHM = "the token's algorithm is not accepted"
ALGORITHM_OF_KEY = "the token's algorithm is not the one of its key"
TYPE = "the token's type is not accepted"
CRITICAL = "the token has critical headers this service does not understand"
NESTED = "the token is a nested JWT, which is not accepted"
UNKNOWN_KEY = "the token's key is not known"
SIGNATURE = "the token's signature does not verify"
EXPIRED = "the token has expired"
NOT_YET = "the token is not valid yet"
ISSUED_LATER = "the token's issue time is in the future"
ISSUER = "the token's issuer is not trusted"
AUDIENCE = "the token's audience is not this service"
AUDIENCE_FORM = "the token's audience is neither a string nor a list of strings"

VERIFIED_KEPT = 1024
"""How many verified tokens are kept, the last used: a repeated token's signature is not
checked again while the keys it was verified with are the keys known, and its times are."""

# Three base64url segments; the signature's is empty in an unsigned token, refused by its alg.
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# The last character of a canonical base64url segment leaves its unused low bits at zero.
_CANONICAL_LAST = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}
_URLSAFE = bytes.maketrans(b"-_", b"+/")
_PADDING = {0: b"", 2: b"==", 3: b"="}
_decode_json = msgspec.json.Decoder().decode


class _Keyring:
    """The keys known, by kid: the configured ones and those of the JWKS's last fetch."""

    __slots__ = ("jwks", "named", "unnamed", "whole")

    def __init__(
        self, configured: tuple[VerificationKey, ...], jwks: tuple[VerificationKey, ...]
    ) -> None:
        self.jwks = jwks
        self.whole = configured + jwks
        self.named: dict[str, list[VerificationKey]] = {}
        for key in self.whole:
            if key.kid is not None:
                self.named.setdefault(key.kid, []).append(key)
        self.unnamed = [key for key in self.whole if key.kid is None]

    def keys_for(self, kid: str | None, alg: str) -> list[VerificationKey]:
        """The keys that may have signed a token with this ``kid`` and ``alg``.

        A token without a kid may have been signed by any key of its algorithm; one with a
        kid by the keys of that kid, or, when no key has it, by a key given without one
        (a PEM key, whose kid is unknown).

        Raises:
            InvalidTokenError: keys have the kid, and none of them checks ``alg``.
        """
        if kid is None:
            return [key for key in self.whole if alg in key.algorithms]
        named = self.named.get(kid)
        if named is None:
            return [key for key in self.unnamed if alg in key.algorithms]
        fitting = [key for key in named if alg in key.algorithms]
        if not fitting:
            raise InvalidTokenError(ALGORITHM_OF_KEY)
        return fitting


class JwtVerifier:
    """Verifies bearer JWTs against one issuer, its keys and this service's audience.

    A lifecycle component: :meth:`start` loads the configured keys and fetches the JWKS,
    :meth:`stop` closes the HTTP client it made. If the JWKS is out of reach at start, the
    configured keys serve (if any), :meth:`check` says what is wrong, and the fetch is tried
    again in the background until it answers; a JWKS URL that answers with something else
    fails the start when no key is configured besides it.

    Args:
        options: the ``[auth.jwt]`` options; ``issuer`` must be set.
        http: the client to fetch the JWKS with; by default one of its own. Redirects are
            never followed and ``jwks_timeout`` applies, whatever the client's settings.
        clock: the current time in seconds since the epoch, for ``exp``, ``nbf``, ``iat``
            and the JWKS's ages.
        app: the ASGI app of this process that serves ``jwks_url`` (a system holding its
            token service): the JWKS is then fetched from it, without the network.

    Raises:
        ConfigError: ``options.issuer`` is empty (JWT verification is off).
    """

    def __init__(
        self,
        options: JwtOptions,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        app: Any = None,
    ) -> None:
        if not options.enabled:
            raise ConfigError(
                "JWT verification is off (auth.jwt.issuer is empty), so there is nothing to "
                "verify tokens with: set --auth-jwt-issuer and its keys, or make no JwtVerifier"
            )
        self.options = options
        self._clock = clock
        every = get_default_algorithms()
        self._algorithms: dict[str, Algorithm] = {name: every[name] for name in options.algorithms}
        self._types = frozenset(_media_type(name) for name in options.types)
        self._untyped = "jwt" in self._types
        self._audience = frozenset(options.audience)
        self._required = tuple(options.required)
        self._jwks = (
            Jwks(
                options.jwks_url,
                algorithms=options.algorithms,
                timeout=options.jwks_timeout,
                refresh=options.jwks_refresh,
                max_age=options.jwks_max_age,
                clock=clock,
                http=http,
                app=app,
            )
            if options.jwks_url
            else None
        )
        self._configured: tuple[VerificationKey, ...] = ()
        self._ring: _Keyring | None = None
        self._verified: OrderedDict[str, tuple[_Keyring, dict[str, Any]]] = OrderedDict()
        """The tokens verified lately, with the keys they were verified with: a client sends
        its token with every call, and a signature check costs 20 to 110 us."""

    async def start(self) -> None:
        """Load the configured keys, and fetch the JWKS once.

        A JWKS out of reach (no connection, a timeout, a 5xx) does not stop the start: the
        verifier refuses the tokens of keys it does not know, :meth:`check` says why, and
        the JWKS is fetched again in the background until it answers (its issuer may be
        starting too).

        Raises:
            ConfigError: a configured key cannot be used, or the JWKS's URL answers with
                something else than a JWKS with a usable key (a redirect, a 4xx, another
                document), and no key is configured besides it.
        """
        self._configured = tuple(configured_keys(self.options))
        if self._jwks is not None and self._jwks.local:
            # Served by this process, whose other components may not have started yet (the
            # token service's database): read when the first token asks for a key.
            await self._jwks.start()
        elif self._jwks is not None:
            await self._jwks.start()
            await self._jwks.refetch()
            failure = self._jwks.failure
            if failure is not None and failure[1].config and not self._configured:
                await self._jwks.stop()
                raise ConfigError(
                    f"cannot fetch the JWKS at {masked_url(self._jwks.url)}: "
                    f"{failure[1].reason}; no other key is configured, so no token could be "
                    "verified: check --auth-jwt-jwks-url and that the issuer serves its "
                    "JWKS there, or give its public keys with --auth-jwt-keys"
                )
            if failure is not None:
                self._jwks.retry_until_fetched()
        self._ring = _Keyring(self._configured, self._jwks.keys if self._jwks else ())

    async def stop(self) -> None:
        """Stop a JWKS fetch under way, and close the HTTP client made by :meth:`start`."""
        if self._jwks is not None:
            await self._jwks.stop()

    def check(self) -> str:
        """Return ``"ok"``, or why the verifier is degraded: its JWKS cannot be fetched."""
        if self._ring is None:
            return "the JWT verifier has not started"
        failure = self._jwks.failure if self._jwks is not None else None
        if self._jwks is None or failure is None:
            return OK
        since, error = failure
        count = len(self._configured) + len(self._jwks.keys)
        known = {
            0: "no key is known, so every token is refused",
            1: "the 1 key known is used",
        }.get(count, f"the {count} keys known are used")
        return (
            f"the JWKS at {masked_url(self._jwks.url)} cannot be fetched since "
            f"{time.strftime('%H:%M:%S', time.gmtime(since))} UTC ({error.reason}); {known}"
        )

    async def verify(self, token: str) -> dict[str, Any]:
        """Return the claims of ``token`` once its signature, issuer, audience and times hold.

        Raises:
            InvalidTokenError: the token is refused; the message says why, and holds
                nothing of the token.
            LifecycleError: the verifier has not started.
        """
        ring = self._ring
        if ring is None:
            raise LifecycleError("the JWT verifier has not started: await its start() first")
        if len(token) > self.options.max_bytes:
            raise InvalidTokenError(TOO_LARGE)
        jwks = self._jwks
        if jwks is not None:
            jwks.refresh_if_stale()
            if ring.jwks is not jwks.keys:
                ring = self._ring = _Keyring(self._configured, jwks.keys)
        verified = self._verified.get(token)
        if verified is not None and verified[0] is ring:  # verified with the keys known now
            self._verified.move_to_end(token)
            self._check_times(verified[1])
            return dict(verified[1])
        ring, claims = await self._verify_anew(token, ring)
        self._verified[token] = (ring, claims)
        if len(self._verified) > VERIFIED_KEPT:
            self._verified.popitem(last=False)
        return dict(claims)

    async def _verify_anew(self, token: str, ring: _Keyring) -> tuple[_Keyring, dict[str, Any]]:
        """The keys ``token`` was verified with, and its claims, once all of them hold.

        The keys are fetched again first when the token's key is not among them.
        """
        jwks = self._jwks
        if _COMPACT.fullmatch(token) is None:
            raise InvalidTokenError(MALFORMED)
        header_part, payload_part, signature_part = token.split(".")
        alg, kid = self._read_header(_json_object(header_part))
        keys = ring.keys_for(kid, alg)
        unknown = not keys or (kid is not None and kid not in ring.named)
        if jwks is not None and unknown and jwks.may_refetch():
            await jwks.refetch()
            if ring.jwks is not jwks.keys:
                ring = self._ring = _Keyring(self._configured, jwks.keys)
                keys = ring.keys_for(kid, alg)
        if not keys:
            raise InvalidTokenError(UNKNOWN_KEY)
        signed = token[: len(header_part) + 1 + len(payload_part)].encode("ascii")
        signature = _segment(signature_part)
        algorithm = self._algorithms[alg]
        if not any(_verifies(algorithm, signed, key.key, signature) for key in keys):
            raise InvalidTokenError(SIGNATURE)
        claims = _json_object(payload_part)
        self._check_claims(claims)
        return ring, claims

    def _read_header(self, header: dict[str, Any]) -> tuple[str, str | None]:
        """The token's ``alg`` and ``kid``, once its header is one this service accepts."""
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise InvalidTokenError(MALFORMED)
        if alg not in self._algorithms:
            raise InvalidTokenError(NOT_SIGNED if alg.lower() == "none" else ALGORITHM)
        typ = header.get("typ")
        if typ is None:
            if not self._untyped:
                raise InvalidTokenError(TYPE)
        elif not isinstance(typ, str) or _media_type(typ) not in self._types:
            raise InvalidTokenError(TYPE)
        if "crit" in header:
            raise InvalidTokenError(CRITICAL)
        cty = header.get("cty")
        if isinstance(cty, str) and _media_type(cty) == "jwt":
            raise InvalidTokenError(NESTED)
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidTokenError(MALFORMED)
        return alg, kid

    def _check_claims(self, claims: dict[str, Any]) -> None:
        for name in self._required:
            if claims.get(name) is None:
                raise InvalidTokenError(f"the token lacks the claim {name}")
        self._check_times(claims)
        issuer = claims.get("iss")
        if issuer is None:
            raise InvalidTokenError("the token lacks the claim iss")
        if not isinstance(issuer, str) or issuer != self.options.issuer:
            raise InvalidTokenError(ISSUER)
        self._check_audience(claims.get("aud"))
        for name in ("sub", "jti"):
            if name in claims and not isinstance(claims[name], str):
                raise InvalidTokenError(f"the token's claim {name} is not a string")

    def _check_times(self, claims: dict[str, Any]) -> None:
        now = self._clock()
        leeway = self.options.leeway
        # Times are compared, never added to: an int exp past 1e308 would overflow a float.
        if "exp" in claims and now - leeway >= _number(claims, "exp"):
            raise InvalidTokenError(EXPIRED)
        if "nbf" in claims and _number(claims, "nbf") > now + leeway:
            raise InvalidTokenError(NOT_YET)
        if "iat" in claims and _number(claims, "iat") > now + leeway:
            raise InvalidTokenError(ISSUED_LATER)

    def _check_audience(self, audience: object) -> None:
        if audience is None:
            raise InvalidTokenError("the token lacks the claim aud")
        if isinstance(audience, str):
            if audience not in self._audience:
                raise InvalidTokenError(AUDIENCE)
            return
        if (
            not isinstance(audience, list)
            or not audience
            or not all(isinstance(name, str) for name in audience)
        ):
            raise InvalidTokenError(AUDIENCE_FORM)
        if self._audience.isdisjoint(audience):
            raise InvalidTokenError(AUDIENCE)


def _media_type(typ: str) -> str:
    """A ``typ`` or ``cty`` as compared: in lower case, without ``application/`` (RFC 7515)."""
    return typ.lower().removeprefix("application/")


class IssuersVerifier:
    """Verifies the tokens of several issuers: each by the verifier of the issuer it names.

    The token's ``iss`` is read before its signature is checked, only to pick the verifier
    (never to pick a key); that verifier then checks the whole token, ``iss`` included, as
    it would alone, with the keys of its own issuer alone. So a token naming one issuer and
    signed by another's key is refused.

    Args:
        verifiers: a started-together verifier per issuer, the first the ``[auth.jwt]``
            issuer's.
        max_bytes: a longer token is refused before it is read.
    """

    def __init__(self, verifiers: Mapping[str, JwtVerifier], max_bytes: int) -> None:
        self.verifiers = dict(verifiers)
        self._max_bytes = max_bytes

    async def start(self) -> None:
        """Start every issuer's verifier; if one fails, stop those started."""
        started: list[JwtVerifier] = []
        try:
            for verifier in self.verifiers.values():
                await verifier.start()
                started.append(verifier)
        except BaseException:
            for verifier in reversed(started):
                await verifier.stop()
            raise

    async def stop(self) -> None:
        """Stop every issuer's verifier."""
        for verifier in self.verifiers.values():
            await verifier.stop()

    def check(self) -> str:
        """``"ok"``, or why each degraded issuer's verifier is."""
        degraded = [state for v in self.verifiers.values() if (state := v.check()) != OK]
        return "; ".join(degraded) or OK

    async def verify(self, token: str) -> dict[str, Any]:
        """The claims of ``token``, verified by its issuer's verifier.

        Raises:
            InvalidTokenError: the token is refused, by the shape, by its issuer (not one of
                these) or by that issuer's verifier.
        """
        if len(token) > self._max_bytes:
            raise InvalidTokenError(TOO_LARGE)
        if _COMPACT.fullmatch(token) is None:
            raise InvalidTokenError(MALFORMED)
        issuer = _json_object(token.split(".")[1]).get("iss")
        if issuer is None:
            raise InvalidTokenError("the token lacks the claim iss")
        verifier = self.verifiers.get(issuer) if isinstance(issuer, str) else None
        if verifier is None:
            raise InvalidTokenError(ISSUER)
        return await verifier.verify(token)


def verifier_for(
    options: JwtOptions, *, app_for: Callable[[str], Any] | None = None
) -> JwtVerifier | IssuersVerifier:
    """The verifier of ``options``: of its issuer, and of each issuer it also trusts.

    Args:
        options: the ``[auth.jwt]`` options, ``issuer`` set.
        app_for: the ASGI app of this process that serves a JWKS URL, or ``None`` for one
            fetched over the network (see :class:`JwtVerifier`'s ``app``).
    """

    def app(url: str) -> Any:
        return None if app_for is None or not url else app_for(url)

    first = JwtVerifier(options, app=app(options.jwks_url))
    more = options.more_issuers()
    if not more:
        return first
    verifiers = {options.issuer: first}
    for issuer, url in more.items():
        verifiers[issuer] = JwtVerifier(options.for_issuer(issuer, url), app=app(url))
    return IssuersVerifier(verifiers, options.max_bytes)


def _segment(part: str) -> bytes:
    """The bytes of a base64url segment already matched by the shape, if canonical."""
    rest = len(part) % 4
    if rest == 1 or (rest and part[-1] not in _CANONICAL_LAST[rest]):
        raise InvalidTokenError(MALFORMED)
    try:
        return binascii.a2b_base64(part.encode("ascii").translate(_URLSAFE) + _PADDING[rest])
    except (binascii.Error, ValueError):  # pragma: no cover - the shape and length rule it out
        raise InvalidTokenError(MALFORMED) from None


def _json_object(part: str) -> dict[str, Any]:
    try:
        value = _decode_json(_segment(part))
    except (msgspec.DecodeError, RecursionError):
        raise InvalidTokenError(MALFORMED) from None
    if not isinstance(value, dict):
        raise InvalidTokenError(MALFORMED)
    return value


def _number(claims: dict[str, Any], name: str) -> float:
    """A NumericDate claim: an int or a float, never a string or a bool."""
    value = claims[name]
    if type(value) not in (int, float):
        raise InvalidTokenError(f"the token's claim {name} is not a number")
    number: float = value  # an int stays one: float() overflows past 1e308
    return number


def _verifies(algorithm: Algorithm, signed: bytes, key: Any, signature: bytes) -> bool:
    try:
        return bool(algorithm.verify(signed, key, signature))
    except (ValueError, TypeError):  # pragma: no cover - pyjwt's answer False; a new one may not
        return False
