"""Signed envelopes, made and checked: Ed25519 keys registered at the token service.

- :class:`KeySigner` makes an Ed25519 key when it starts (kept in memory only), registers its
  public half at atoll's token service (``POST /oauth/message-keys``, the client
  authenticated with HTTP Basic as at its token endpoint), and signs each envelope with it:
  a JWS compact serialization with a detached payload (RFC 7515, appendix F), its header
  ``{"alg": "EdDSA", "kid": <the key's RFC 7638 thumbprint>, "typ": "atoll-envelope"}``,
  over :func:`~atoll.messaging.signing.signing_input`. It registers a new key once half of
  the last one's life has passed, and signs with the old one meanwhile.
- :class:`KeyVerifier` checks a signature against the keys the token service publishes
  (``/.well-known/message-keys.json``, fetched and kept by
  :class:`~atoll.adapters.jwt.jwks.Jwks`), and names the client each key is registered to.

See :mod:`atoll.messaging.signing` for what is signed and why.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

import msgspec

from atoll.adapters.jwt.jwks import Jwks
from atoll.adapters.jwt.keys import thumbprint
from atoll.clients.credentials import basic_authorization, oauth_error
from atoll.errors import (
    AuthenticationError,
    ConfigError,
    CredentialsRefusedError,
    MissingDependencyError,
    RemoteUnavailableError,
    UnavailableError,
    UnverifiedMessageError,
)
from atoll.kernel.options import masked_url
from atoll.messaging.signing import SIGNATURE, SIGNED_BY, signing_input

try:
    import httpx
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from jwt.algorithms import OKPAlgorithm
    from jwt.utils import base64url_encode as _b64
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("pyjwt[crypto]", "jwt") from error

if TYPE_CHECKING:
    from collections.abc import Callable

    from atoll.kernel.options import Secret
    from atoll.messaging.envelope import Envelope

__all__ = [
    "ENVELOPE_TYPE",
    "PROOF_TYPE",
    "KeySigner",
    "KeyVerifier",
    "check_key_proof",
    "key_proof",
]

logger = logging.getLogger("atoll.auth")

ENVELOPE_TYPE = "atoll-envelope"
"""The ``typ`` of an envelope's signature: never taken for a token's, nor a token for it."""

RETRY_FIRST = 1.0
"""Seconds before a registration that failed is tried again, doubling each time."""
RETRY_LONGEST = 60.0
"""Seconds between two attempts to register at the most."""
RENEW_CHECK = 3600.0
"""Seconds at the most between two looks at the clock for a key due to be replaced."""

_HEADER_KEYS = frozenset({"alg", "kid", "typ"})


def _unb64(text: str) -> bytes:
    """The bytes of base64url ``text``; a character outside the alphabet is refused.

    Raises:
        binascii.Error: ``text`` is not base64url.
    """
    padded = (text + "=" * (-len(text) % 4)).encode("ascii", errors="replace")
    return base64.b64decode(padded.translate(_URLSAFE), validate=True)


_URLSAFE = bytes.maketrans(b"-_", b"+/")


PROOF_TYPE = "atoll-key-proof"
"""The ``typ`` of the proof that a registering client holds a message key's private half."""

PROOF_LEEWAY = 300.0
"""Seconds a proof's ``iat`` may be off the token service's clock, either way."""


def key_proof(key: ed25519.Ed25519PrivateKey, kid: str, client_id: str, now: float) -> str:
    """A proof that ``client_id`` holds ``key``: a JWS by the key over the client and the time.

    Its header is ``{"alg": "EdDSA", "kid": kid, "typ": "atoll-key-proof"}``, its payload
    ``{"client_id": client_id, "iat": now}``. The token service registers a key only with a
    fresh proof by that very key, made for the client registering it: nobody registers a
    public key they do not hold, such as another client's, seen in the JWKS.
    """
    header = _b64(msgspec.json.encode({"alg": "EdDSA", "kid": kid, "typ": PROOF_TYPE}))
    payload = _b64(msgspec.json.encode({"client_id": client_id, "iat": int(now)}))
    signed = header + b"." + payload
    return (signed + b"." + _b64(key.sign(signed))).decode("ascii")


def check_key_proof(jwk: dict[str, Any], proof: str, client_id: str, now: float) -> None:
    """Return if ``proof`` is a fresh proof by ``jwk``'s private half, for ``client_id``.

    Raises:
        ValueError: it is not; the message says why, and how to make one.
    """
    how = (
        "send proof=<a JWS by the key itself, typ atoll-key-proof, over "
        '{"client_id": <this client>, "iat": <now>}>'
    )
    parts = proof.split(".")
    if len(parts) != 3:  # noqa: PLR2004 - a JWS compact serialization's three parts
        raise ValueError(f"proof is no JWS: {how}")
    try:
        header = msgspec.json.decode(_unb64(parts[0]))
        claims = msgspec.json.decode(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except (msgspec.DecodeError, binascii.Error, ValueError, RecursionError):
        raise ValueError(f"proof is no JWS: {how}") from None
    if (
        not isinstance(header, dict)
        or header.get("alg") != "EdDSA"
        or header.get("typ") != PROOF_TYPE
        or header.get("kid") != jwk.get("kid")
    ):
        raise ValueError(f"proof's header is not the key's, typ {PROOF_TYPE}: {how}")
    try:
        public = ed25519.Ed25519PublicKey.from_public_bytes(_unb64(str(jwk.get("x", ""))))
        public.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"))
    except (InvalidSignature, binascii.Error, ValueError):
        raise ValueError(f"proof is not signed by the key registered: {how}") from None
    if not isinstance(claims, dict) or claims.get("client_id") != client_id:
        raise ValueError(f"proof is made for another client than the one registering: {how}")
    issued = claims.get("iat")
    if not isinstance(issued, int | float) or abs(now - issued) > PROOF_LEEWAY:
        raise ValueError(
            f"proof's iat is not within {PROOF_LEEWAY:g} s of now: make a new proof, and set "
            "the clocks right"
        )


class _Key(msgspec.Struct):
    kid: str
    expires_in: float


class KeySigner:
    """Signs envelopes with a key of its own, registered at the token service.

    A component: :meth:`start` makes and registers the key, and a task of its own keeps one
    registered: a new key once half of the last one's life has passed (it signs with the
    old one meanwhile), whether the process publishes or not. A token service out of reach
    does not stop the start: registration goes on in the background (1 s, then twice as
    long each time, up to a minute), and meanwhile :meth:`sign` raises, so the outbox keeps
    the messages until a key is registered; so it does once the key expired without a new
    one.

    Args:
        endpoint: the token service's message keys endpoint.
        client_id: this process's client id at the token service.
        secret: its client secret.
        timeout: seconds a registration may take.
        clock: the time, in seconds.
        http: the client to register with, or ``None`` for one of its own.
        check_every: seconds at the most between two looks at ``clock`` for a key due.
    """

    def __init__(
        self,
        endpoint: str,
        client_id: str,
        secret: Secret,
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        http: httpx.AsyncClient | None = None,
        check_every: float = RENEW_CHECK,
    ) -> None:
        self.endpoint = endpoint
        self.client_id = client_id
        self._secret = secret
        self._timeout = timeout
        self._clock = clock
        self._http = http
        self._own_http = http is None
        self._signing: tuple[ed25519.Ed25519PrivateKey, bytes] | None = None
        self._renew_at = float("inf")
        self._expires_at = float("-inf")
        self._due = asyncio.Event()
        self._keeping: asyncio.Task[None] | None = None
        self._check_every = check_every
        self.kid: str | None = None
        """The id of the key that signs now; ``None`` until one is registered."""

    async def start(self) -> None:
        """Make a key and register it; in the background if the token service is away.

        Raises:
            CredentialsRefusedError: the token service does not know the client with this
                secret.
            ConfigError: it answered with something else than a registered key.
        """
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False, timeout=self._timeout)
        first = 0.0
        try:
            await self._register()
        except UnavailableError as error:
            logger.warning(
                "cannot register this process's message key at %s (%s); messages are "
                "published once it is",
                masked_url(self.endpoint),
                error,
            )
            first = RETRY_FIRST
        except BaseException:
            await self._close()
            raise
        self._keeping = asyncio.create_task(self._keep_registered(first))

    async def stop(self) -> None:
        """Stop registering, forget the key, and close the HTTP client if it is this one's."""
        keeping, self._keeping = self._keeping, None
        if keeping is not None:
            keeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeping
        self._signing = self.kid = None
        await self._close()

    async def _close(self) -> None:
        if self._own_http and self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    def sign(self, envelope: Envelope) -> Envelope:
        """``envelope`` with its signature in the ``atoll-signature`` header.

        Raises:
            RemoteUnavailableError: no key is registered, or the one registered expired.
        """
        signing = self._signing
        now = self._clock()
        if signing is None or now >= self._expires_at:
            state = "is not registered" if signing is None else "expired, and no new one is"
            raise RemoteUnavailableError(
                f"cannot sign {envelope.type}: this process's message key {state} at "
                f"{masked_url(self.endpoint)} yet; it is published once one is"
            )
        if now >= self._renew_at:
            self._due.set()  # the task registers a new one now, however long it slept
        key, header = signing
        signed = header + b"." + _b64(signing_input(envelope))
        signature = header + b".." + _b64(key.sign(signed))
        headers = {**envelope.headers, SIGNATURE: signature.decode("ascii")}
        return dataclasses.replace(envelope, headers=headers)

    async def _keep_registered(self, delay: float) -> None:
        """Register a key whenever none is, or the last one is half way through its life."""
        failures = 0
        while True:
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._due.wait(), delay)
            self._due.clear()
            wait = self._renew_at - self._clock()
            if self._signing is not None and wait > 0:
                delay = min(wait, self._check_every)
                continue
            try:
                await self._register()
            except (UnavailableError, ConfigError, AuthenticationError) as error:
                failures += 1
                delay = min(RETRY_FIRST * 2 ** (failures - 1), RETRY_LONGEST)
                refused = isinstance(error, AuthenticationError | ConfigError)
                logger.log(
                    logging.ERROR if refused else logging.WARNING,
                    "cannot register a message key at %s (%s); trying again in %g s%s",
                    masked_url(self.endpoint),
                    error,
                    delay,
                    "" if self._signing is None else ", signing with the last one meanwhile",
                )
                continue
            failures, delay = 0, 0.0

    async def _register(self) -> None:
        """Make a key, register it with a proof that this process holds it, and sign with it."""
        key = ed25519.Ed25519PrivateKey.generate()
        jwk: dict[str, Any] = OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)
        kid = thumbprint(jwk)
        jwk.update({"kid": kid, "alg": "EdDSA", "use": "sig"})
        started = self._clock()
        proof = key_proof(key, kid, self.client_id, started)
        registered = await self._post(msgspec.json.encode(jwk).decode("utf-8"), proof)
        header = _b64(msgspec.json.encode({"alg": "EdDSA", "kid": kid, "typ": ENVELOPE_TYPE}))
        self._signing = (key, header)
        self.kid = kid
        self._renew_at = started + registered.expires_in / 2
        self._expires_at = started + registered.expires_in
        logger.info(
            "registered message key %r at %s, for %g s",
            kid,
            masked_url(self.endpoint),
            registered.expires_in,
        )

    async def _post(self, jwk: str, proof: str) -> _Key:
        if self._http is None:
            raise RemoteUnavailableError("the envelope signer is stopped")
        basic = basic_authorization(self.client_id, self._secret)
        where = masked_url(self.endpoint)
        try:
            answer = await self._http.post(
                self.endpoint,
                data={"jwk": jwk, "proof": proof},
                headers={"Authorization": basic, "Accept": "application/json"},
                timeout=self._timeout,
            )
        except httpx.TransportError as error:
            raise RemoteUnavailableError(
                f"{where} does not answer ({type(error).__name__}); check "
                "--messages-token-service and that the token service runs"
            ) from None
        if answer.status_code >= 500 or answer.status_code == 429:  # noqa: PLR2004 - may pass
            raise RemoteUnavailableError(f"{where} answered HTTP {answer.status_code}")
        if answer.status_code == 401:  # noqa: PLR2004 - RFC 6749 5.2's invalid_client
            raise CredentialsRefusedError(
                f"{where} does not know the client {self.client_id!r} with this secret; check "
                "--clients-client-id and --clients-client-secret"
            )
        if answer.status_code != 200:  # noqa: PLR2004 - the one answer holding the key
            code, described = oauth_error(answer)
            raise ConfigError(
                f"{where} refused this process's message key: HTTP {answer.status_code} "
                f"({code or 'no OAuth error'}: {described[:160]}); check "
                "--messages-token-service: it names an atoll token service"
            )
        try:
            return msgspec.json.decode(answer.content, type=_Key)
        except msgspec.DecodeError:
            raise ConfigError(
                f"{where} answered 200 without a kid and expires_in; check "
                "--messages-token-service: it names an atoll token service"
            ) from None

    def __repr__(self) -> str:
        return f"KeySigner({masked_url(self.endpoint)!r}, client_id={self.client_id!r})"


class KeyVerifier:
    """Checks envelopes' signatures against the keys the token service publishes.

    A component: :meth:`start` fetches the keys once; a token service out of reach does
    not stop the start (they are fetched again in the background). A signature whose key
    is not known waits for the keys to be fetched again (at most once per ``refresh``
    seconds), since its signer may have registered it since the last fetch: it is refused
    only if the keys fetched then do not hold it either.

    Args:
        jwks_url: the token service's message keys JWKS.
        timeout: seconds a fetch may take.
        refresh: seconds at least between two fetches for a key not known: how long a
            message signed with a new key may wait, and how often messages naming unknown
            keys make the token service answer.
        max_age: seconds after which the keys are fetched again in the background.
        clock: the time, in seconds.
        http: the client to fetch with, or ``None`` for one of its own.
    """

    def __init__(
        self,
        jwks_url: str,
        *,
        timeout: float = 10.0,
        refresh: float = 1.0,
        max_age: float = 300.0,
        clock: Callable[[], float] = time.time,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.jwks = Jwks(
            jwks_url,
            algorithms=("EdDSA",),
            timeout=timeout,
            refresh=refresh,
            max_age=max_age,
            clock=clock,
            http=http,
            empty=True,
        )

    async def start(self) -> None:
        """Fetch the keys once; again in the background until it succeeds, if it failed.

        Raises:
            ConfigError: the URL answers with something else than a JWKS.
        """
        jwks = self.jwks
        await jwks.start()
        await jwks.refetch()
        failure = jwks.failure
        if failure is not None and failure[1].config:
            await jwks.stop()
            raise ConfigError(
                f"cannot read the message keys at {masked_url(jwks.url)}: {failure[1].reason}; "
                "check --messages-token-service: it names an atoll token service"
            )
        if failure is not None:
            jwks.retry_until_fetched()

    async def stop(self) -> None:
        """Stop a fetch under way, and close the HTTP client if it is this one's."""
        await self.jwks.stop()

    async def verify(self, envelope: Envelope) -> Envelope:
        """``envelope`` with the ``atoll-signed-by`` header, once its signature holds.

        Raises:
            UnverifiedMessageError: it is unsigned, altered, or signed by a key the token
                service does not publish (unknown, expired, or its client removed).
            RemoteUnavailableError: its key is not known, and the keys cannot be fetched.
        """
        signature = envelope.headers.get(SIGNATURE)
        if not signature:
            raise UnverifiedMessageError(
                "it is not signed, and this service takes signed messages only "
                "(--messages-require-signed): have its sender publish with --messages-sign"
            )
        header_part, signature_part = _parts(signature)
        kid = _kid(header_part)
        jwks = self.jwks
        jwks.refresh_if_stale()
        key = _key(jwks, kid)
        for _ in range(2):  # the first fetch joined may have begun before it was registered
            if key is not None:
                break
            await jwks.refetch_soon()  # registered after the last fetch, maybe
            key = _key(jwks, kid)
        if key is None:
            failure = jwks.failure
            if failure is not None:  # whatever the answer was (a 429, a proxy's 404): wait
                raise RemoteUnavailableError(
                    f"cannot check its signature: its key {kid!r:.60} is not known, and the "
                    f"message keys at {masked_url(jwks.url)} cannot be fetched "
                    f"({failure[1].reason})"
                )
            raise UnverifiedMessageError(
                f"it is signed with a key the token service does not publish ({kid!r:.60}): "
                "unknown, expired, or its client was removed"
            )
        if key.owner is None:
            raise UnverifiedMessageError(
                f"its key {kid!r:.60} names no client (no client_id in the JWKS); check "
                "--messages-token-service: it names an atoll token service"
            )
        signed = header_part.encode("ascii") + b"." + _b64(signing_input(envelope))
        try:
            key.key.verify(_unb64(signature_part), signed)
        except (InvalidSignature, binascii.Error, ValueError):
            raise UnverifiedMessageError(
                f"its signature does not hold: it was changed after {key.owner!r} signed it"
            ) from None
        return dataclasses.replace(envelope, headers={**envelope.headers, SIGNED_BY: key.owner})

    def __repr__(self) -> str:
        return f"KeyVerifier({masked_url(self.jwks.url)!r})"


def _parts(signature: str) -> tuple[str, str]:
    """The header and signature of a JWS with a detached payload: ``HEADER..SIGNATURE``."""
    parts = signature.split(".")
    if len(parts) != 3 or parts[1] or not parts[0] or not parts[2]:  # noqa: PLR2004 - JWS's 3
        raise UnverifiedMessageError(
            "its atoll-signature header is no JWS with a detached payload (HEADER..SIGNATURE)"
        )
    return parts[0], parts[2]


def _kid(header_part: str) -> str:
    """The ``kid`` of a signature's header, once the header is one a signer makes."""
    try:
        header = msgspec.json.decode(_unb64(header_part))
    except (msgspec.DecodeError, binascii.Error, ValueError, RecursionError):
        header = None
    if (
        not isinstance(header, dict)
        or header.get("alg") != "EdDSA"
        or header.get("typ") != ENVELOPE_TYPE
        or not isinstance(header.get("kid"), str)
        or not _HEADER_KEYS.issuperset(header)
    ):
        raise UnverifiedMessageError(
            'its signature\'s header is not {"alg": "EdDSA", "kid": ..., "typ": '
            f'"{ENVELOPE_TYPE}"}}'
        )
    kid: str = header["kid"]
    return kid


def _key(jwks: Jwks, kid: str) -> Any:
    return next((key for key in jwks.keys if key.kid == kid), None)
