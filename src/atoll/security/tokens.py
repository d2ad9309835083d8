"""Bearer tokens: the JWT options, the error every refused token raises, the verifier port.

:class:`JwtOptions` is the ``[auth.jwt]`` option section (``--auth-jwt-issuer``...): who issues
the tokens a service accepts, for which audience, signed how, with which keys. Its checks
refuse, when the configuration is loaded, what would make verification weak or impossible
(``none`` among the algorithms, HMAC beside public-key algorithms, a short secret, a JWKS in
clear). :class:`TokenVerifier` is the port the transports call;
:class:`atoll.adapters.jwt.JwtVerifier` implements it with pyjwt's algorithms. Every token
it refuses raises :class:`InvalidTokenError`, whose message is safe to show to the caller.

This module imports no third-party library: the options are read, and checked, without the
``jwt`` extra installed.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from atoll.errors import InvalidTokenError
from atoll.kernel.options import Secret, masked_url, option

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "HMAC_ALGORITHMS",
    "InvalidTokenError",
    "JwtOptions",
    "TokenVerifier",
]

HMAC_ALGORITHMS: dict[str, int] = {"HS256": 32, "HS384": 48, "HS512": 64}
"""The HMAC algorithms, each with the fewest bytes its secret may hold (RFC 7518, 3.2)."""

ASYMMETRIC_ALGORITHMS = frozenset(
    {
        "EdDSA",
        "ES256",
        "ES256K",
        "ES384",
        "ES512",
        "PS256",
        "PS384",
        "PS512",
        "RS256",
        "RS384",
        "RS512",
    }
)
"""The public-key algorithms a token may be signed with (RFC 7518, RFC 8037, RFC 8812)."""

_KNOWN = sorted({*HMAC_ALGORITHMS, *ASYMMETRIC_ALGORITHMS})
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# A claim name goes into error messages, and those into WWW-Authenticate's quoted string.
_CLAIM_NAME = re.compile(r"[!#-\[\]-~]+")
_LONGEST_LEEWAY = 300.0


class TokenVerifier(Protocol):
    """What checks a bearer token: the port the transports call, one per service."""

    async def verify(self, token: str) -> dict[str, Any]:
        """Return the token's claims once its signature, issuer, audience and times hold.

        Raises:
            InvalidTokenError: the token is refused; the message says why.
        """
        ...

    def check(self) -> str:
        """Return ``"ok"``, or why the verifier is degraded (its JWKS out of reach)."""
        ...

    async def start(self) -> None:
        """Load what verifying needs (keys, a JWKS); before any :meth:`verify`."""
        ...

    async def stop(self) -> None:
        """Release what :meth:`start` opened."""
        ...


@dataclass(frozen=True)
class JwtOptions:
    """The JWTs a service accepts: their issuer, audience, algorithms and keys.

    Empty ``issuer`` (the default) turns JWT verification off, and then no other option may
    be set. Keys are pinned to algorithms when loaded, never picked by what a token says:
    HMAC (``HS*``, with ``secret``) and public-key algorithms (with ``keys`` or
    ``jwks_url``) are never accepted together.
    """

    issuer: str = option(
        "", help="the iss the tokens must name, exactly; empty turns JWT verification off"
    )
    audience: list[str] = option(
        default_factory=list,
        help="this service's names as an audience: a token's aud must hold one of them",
    )
    algorithms: list[str] = option(
        default_factory=lambda: ["EdDSA", "RS256", "ES256"],
        help="the signature algorithms accepted (HS256/384/512 need secret, and no other)",
    )
    jwks_url: str = option(
        "",
        help="the issuer's JWKS (https; http only on 127.0.0.1 or localhost), fetched at start",
    )
    keys: list[str] = option(
        default_factory=list,
        help="the issuer's public keys: PEM text, paths to PEM files, or JWK JSON",
    )
    secret: Secret | None = option(
        None, help="the HMAC key for HS256/384/512: random, 32 bytes or more"
    )
    leeway: float = option(30.0, help="seconds of clock skew allowed on exp, nbf and iat")
    required: list[str] = option(
        default_factory=lambda: ["exp", "iat", "iss", "aud", "sub"],
        help="the claims every token must carry",
    )
    types: list[str] = option(
        default_factory=lambda: ["at+jwt", "JWT"],
        help="the typ headers accepted, in any case; a token without typ needs JWT here",
    )
    max_bytes: int = option(8192, help="a longer token is refused before it is read")
    jwks_timeout: float = option(5.0, help="seconds a JWKS fetch may take")
    jwks_refresh: float = option(
        30.0, help="seconds between two JWKS fetches asked by tokens naming an unknown key"
    )
    jwks_max_age: float = option(
        3600.0, help="seconds after which the JWKS is fetched again, in the background"
    )
    trusted: list[str] = option(
        default_factory=list,
        help="more issuers accepted, each ISSUER=JWKS_URL, with the same audience and checks",
    )

    def __post_init__(self) -> None:
        if not self.issuer:
            self._check_off()
            return
        self._check_algorithms()
        self._check_keys()
        self._check_claims()
        self._check_numbers()
        self.more_issuers()

    def more_issuers(self) -> dict[str, str]:
        """The JWKS URL of each issuer of ``trusted``, by issuer.

        Raises:
            ValueError: an entry is not ``ISSUER=JWKS_URL`` with an https JWKS URL, names an
                issuer twice, or the algorithms are HMAC ones (which a JWKS does not serve).
        """
        issuers: dict[str, str] = {}
        for entry in self.trusted:
            cut = max(entry.find("=https://"), entry.find("=http://"))
            issuer, url = (entry[:cut], entry[cut + 1 :]) if cut > 0 else ("", "")
            if not issuer or not url:
                msg = (
                    f"trusted holds {entry[:200]!r}, which is not ISSUER=JWKS_URL: give each "
                    "issuer with its JWKS, such as https://id.example.org=https://id.example.org"
                    "/.well-known/jwks.json"
                )
                raise ValueError(msg)
            if issuer == self.issuer or issuer in issuers:
                msg = f"the issuer {issuer!r} is trusted twice; keep it once"
                raise ValueError(msg)
            _check_jwks_url(url)
            issuers[issuer] = url
        if issuers and any(name in HMAC_ALGORITHMS for name in self.algorithms):
            msg = (
                "trusted names issuers known by their JWKS, but algorithms holds HMAC ones, "
                "which a JWKS does not serve: use public-key algorithms, such as EdDSA,RS256"
            )
            raise ValueError(msg)
        return issuers

    def for_issuer(self, issuer: str, jwks_url: str) -> JwtOptions:
        """These options for another issuer of ``trusted``: its JWKS, the same checks."""
        return dataclasses.replace(
            self, issuer=issuer, jwks_url=jwks_url, keys=[], secret=None, trusted=[]
        )

    @property
    def enabled(self) -> bool:
        """Whether JWT verification is on: ``issuer`` is set."""
        return bool(self.issuer)

    def _check_off(self) -> None:
        for name in ("audience", "jwks_url", "keys", "secret", "trusted"):
            if getattr(self, name):
                msg = (
                    f"{name} is set but issuer is empty, so JWT verification is off: set "
                    "issuer to the iss your tokens carry (such as https://id.example.org/), "
                    f"or unset {name}"
                )
                raise ValueError(msg)

    def _check_algorithms(self) -> None:
        if not self.algorithms:
            msg = (
                "algorithms is empty, so every token would be refused: name those your "
                "issuer signs with, such as EdDSA,RS256"
            )
            raise ValueError(msg)
        for name in self.algorithms:
            if name.lower() == "none":
                msg = (
                    f"algorithms holds {name!r}, which accepts tokens without a signature: "
                    "remove it (RFC 8725, 3.1)"
                )
                raise ValueError(msg)
            if name not in _KNOWN:
                same = [known for known in _KNOWN if known.lower() == name.lower()]
                hint = f"did you mean {same[0]!r}? Known" if same else "known"
                msg = (
                    f"algorithms holds {name!r}, which is no signature algorithm; {hint}: "
                    f"{', '.join(_KNOWN)}"
                )
                raise ValueError(msg)
        hmac = [name for name in self.algorithms if name in HMAC_ALGORITHMS]
        public = [name for name in self.algorithms if name in ASYMMETRIC_ALGORITHMS]
        if hmac and public:
            msg = (
                f"algorithms mixes HMAC ({', '.join(hmac)}) with public-key algorithms "
                f"({', '.join(public)}): a token could then be checked with a public key "
                "taken for an HMAC secret; keep one kind, as your issuer signs"
            )
            raise ValueError(msg)

    def _check_keys(self) -> None:
        hmac = [name for name in self.algorithms if name in HMAC_ALGORITHMS]
        if hmac:
            self._check_secret(hmac)
            if self.keys or self.jwks_url:
                msg = (
                    f"keys or jwks_url is set but algorithms holds only HMAC ({', '.join(hmac)}), "
                    "which uses secret alone: add the public-key algorithms your issuer signs "
                    "with, or unset keys and jwks_url"
                )
                raise ValueError(msg)
            return
        if self.secret is not None:
            msg = (
                "secret is set but algorithms holds no HMAC algorithm, so it would never be "
                "used: unset secret, or set algorithms to HS256 (and no public-key algorithm)"
            )
            raise ValueError(msg)
        if not self.keys and not self.jwks_url:
            msg = (
                f"algorithms holds {', '.join(self.algorithms)} but neither keys nor jwks_url "
                "is set: give the issuer's JWKS URL (such as https://id.example.org/jwks.json) "
                "or its public keys"
            )
            raise ValueError(msg)
        if self.jwks_url:
            _check_jwks_url(self.jwks_url)

    def _check_secret(self, hmac: Sequence[str]) -> None:
        if self.secret is None or not self.secret:
            msg = (
                f"algorithms holds {', '.join(hmac)} but secret is not set: set secret to a "
                "random key of at least 32 bytes (such as the output of "
                "`openssl rand -base64 48`), or use a public-key algorithm"
            )
            raise ValueError(msg)
        size = len(self.secret.reveal().encode())
        for name in hmac:
            if size < HMAC_ALGORITHMS[name]:
                msg = (
                    f"secret is {size} bytes long, and {name} needs at least "
                    f"{HMAC_ALGORITHMS[name]} (RFC 7518, 3.2): use a longer random secret"
                )
                raise ValueError(msg)

    def _check_claims(self) -> None:
        if not self.audience or not all(self.audience):
            msg = (
                "audience must name this service, as its tokens' aud does (such as "
                f"https://runs.example.org), when issuer is set; got {self.audience!r}"
            )
            raise ValueError(msg)
        for claim in self.required:
            if not _CLAIM_NAME.fullmatch(claim):
                msg = (
                    f"required holds {claim!r}, which is no claim name: use printable ASCII "
                    "without spaces, quotes or backslashes, such as exp"
                )
                raise ValueError(msg)
        if not self.types or not all(self.types):
            msg = (
                f"types must name the typ headers accepted, such as at+jwt,JWT; got {self.types!r}"
            )
            raise ValueError(msg)

    def _check_numbers(self) -> None:
        if not (math.isfinite(self.leeway) and 0 <= self.leeway <= _LONGEST_LEEWAY):
            msg = (
                f"leeway must be between 0 and {_LONGEST_LEEWAY:.0f} seconds, such as 30; "
                f"got {self.leeway}"
            )
            raise ValueError(msg)
        if not 256 <= self.max_bytes <= 1 << 20:  # noqa: PLR2004 - the bounds the message names
            msg = f"max_bytes must be between 256 and 1048576, such as 8192; got {self.max_bytes}"
            raise ValueError(msg)
        for name in ("jwks_timeout", "jwks_refresh", "jwks_max_age"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                msg = f"{name} must be a finite number of seconds above 0; got {value}"
                raise ValueError(msg)


def _check_jwks_url(url: str) -> None:
    parts = urlsplit(url)
    try:
        host = parts.hostname or ""
    except ValueError:  # pragma: no cover - urlsplit raises it for a bracketed non-IP only
        host = ""
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and host in _LOOPBACK:
        return
    msg = (
        f"jwks_url {masked_url(url)!r} is not an https URL: keys fetched in clear could be "
        "replaced on the way; use https://... (http:// only for 127.0.0.1 or localhost)"
    )
    raise ValueError(msg)
