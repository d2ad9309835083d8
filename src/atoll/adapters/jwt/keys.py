"""Verification keys, each pinned to the algorithms it may check, from PEM, JWK or a secret.

A key's algorithms come from the key itself (an RSA key checks RS* and PS*, a P-256 key ES256,
an Ed25519 key EdDSA), narrowed by its JWK's ``alg`` when it has one and by the algorithms
configured: never from what a token says. A token's ``alg`` then selects among the keys those
whose algorithms hold it; an HS256 token never meets an RSA key, whatever its ``kid``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from atoll.errors import ConfigError, MissingDependencyError
from atoll.security.tokens import HMAC_ALGORITHMS

try:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from jwt.algorithms import ECAlgorithm, HMACAlgorithm, OKPAlgorithm, RSAAlgorithm
    from jwt.exceptions import PyJWTError
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("pyjwt[crypto]", "jwt") from error

if TYPE_CHECKING:
    from collections.abc import Iterable

    from atoll.security.tokens import JwtOptions

__all__ = [
    "KeyRefusedError",
    "VerificationKey",
    "algorithms_of",
    "configured_keys",
    "from_jwk",
    "thumbprint",
]

RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
SMALLEST_RSA_BITS = 2048
"""RSA keys below this size are refused (NIST SP 800-131A; RFC 8725, 3.5)."""
_CURVES: dict[str, str] = {
    "secp256r1": "ES256",
    "secp384r1": "ES384",
    "secp521r1": "ES512",
    "secp256k1": "ES256K",
}
_FROM_JWK: dict[str, Any] = {"RSA": RSAAlgorithm, "EC": ECAlgorithm, "OKP": OKPAlgorithm}
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)
# What a malformed key makes pyjwt or cryptography raise; one bad key must not stop the others.
_KEY_ERRORS = (PyJWTError, UnsupportedAlgorithm, ValueError, TypeError, KeyError, AttributeError)
_SECTION = "auth.jwt"


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key (or the HMAC secret) and the algorithms it may check.

    Attributes:
        kid: the key's id, from its JWK; ``None`` for a PEM key or the secret.
        algorithms: the algorithms it checks, pinned when it was loaded.
        key: the cryptography public key, or the secret's bytes.
        owner: who the key is registered to, when its JWK says (a message key's
            ``client_id`` at the token service); ``None`` otherwise.
    """

    kid: str | None
    algorithms: frozenset[str]
    key: Any
    owner: str | None = None


class KeyRefusedError(ValueError):
    """A key cannot verify tokens here; the message says why (never the key's material)."""


def algorithms_of(key: object) -> frozenset[str]:
    """The algorithms a public key can check, from its type and curve.

    Raises:
        KeyRefusedError: a private key, an RSA key below 2048 bits, or a kind of key no JWS
            algorithm uses.
    """
    if isinstance(
        key,
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey,
    ):
        raise KeyRefusedError("is a private key: give its public key, never the signing key")
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < SMALLEST_RSA_BITS:
            raise KeyRefusedError(
                f"is an RSA key of {key.key_size} bits; RSA keys need {SMALLEST_RSA_BITS} or more"
            )
        return RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _CURVES:  # pragma: no cover - cryptography loads few others
            raise KeyRefusedError(f"is an EC key on {key.curve.name}, which no JWS algorithm uses")
        return frozenset({_CURVES[key.curve.name]})
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return frozenset({"EdDSA"})
    raise KeyRefusedError(f"is a {type(key).__name__}, which no JWS algorithm uses")


def from_jwk(jwk: object, allowed: Iterable[str], *, published: bool) -> VerificationKey:
    """A key from a JWK, pinned to its own ``alg`` (when given) within ``allowed``.

    Args:
        jwk: the JWK, decoded.
        allowed: the algorithms configured.
        published: whether it comes from a JWKS, which must mark each signing key with
            ``"use": "sig"``; a configured key may leave ``use`` out.

    Raises:
        KeyRefusedError: the JWK is not a public signing key for an algorithm allowed here.
    """
    if not isinstance(jwk, dict):
        raise KeyRefusedError("is not a JSON object")
    _check_members(jwk, published=published)
    kid, kty = jwk.get("kid"), jwk["kty"]
    try:
        key = _FROM_JWK[kty].from_jwk(jwk)
    except _KEY_ERRORS as error:
        raise KeyRefusedError(f"is not a valid {kty} key ({type(error).__name__})") from None
    own = algorithms_of(key)
    algorithms = own & frozenset(allowed)
    alg = jwk.get("alg")
    if alg is not None:
        if not isinstance(alg, str) or alg not in own:
            raise KeyRefusedError(f'has "alg": {alg!r:.40}, which a key of its kind cannot use')
        algorithms &= {alg}
    if not algorithms:
        raise KeyRefusedError(
            f"serves {alg or ', '.join(sorted(own))}, which algorithms does not hold"
        )
    owner = jwk.get("client_id")
    return VerificationKey(kid, algorithms, key, owner if isinstance(owner, str) else None)


_THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}


def thumbprint(jwk: dict[str, Any]) -> str:
    """The JWK thumbprint of a public key (RFC 7638): base64url SHA-256 of its required members.

    The same key gives the same thumbprint whatever else its JWK holds (``kid``, ``use``...).

    Raises:
        KeyRefusedError: ``kty`` is not RSA, EC or OKP, or a required member is not a string.
    """
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise KeyRefusedError(f'has "kty": {kty!r:.40}; use RSA, EC or OKP')
    required = {}
    for name in members:
        value = jwk.get(name)
        if not isinstance(value, str):
            raise KeyRefusedError(f"has no {name!r} string, which a {kty} key needs")
        required[name] = value
    digest = hashlib.sha256(_canonical_json(required)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


_canonical_json = msgspec.json.Encoder(order="sorted").encode


def _check_members(jwk: dict[str, Any], *, published: bool) -> None:
    """Refuse a JWK that is not a public signing key of a kind JWS uses."""
    use, operations, kid = jwk.get("use"), jwk.get("key_ops"), jwk.get("kid")
    if use != "sig" and (published or use is not None):
        raise KeyRefusedError(f'has "use": {use!r:.40}; a signing key has "use": "sig"')
    if operations is not None and (not isinstance(operations, list) or "verify" not in operations):
        raise KeyRefusedError('has "key_ops" without "verify"')
    if kid is not None and not isinstance(kid, str):
        raise KeyRefusedError('has a "kid" that is not a string')
    kty = jwk.get("kty")
    if kty == "oct":
        raise KeyRefusedError(
            "is a symmetric (oct) key: an HMAC key is given as secret, never as a public key"
        )
    if not isinstance(kty, str) or kty not in _FROM_JWK:
        raise KeyRefusedError(f'has "kty": {kty!r:.40}; use RSA, EC or OKP')
    if "d" in jwk:
        raise KeyRefusedError("is a private key: give its public key, never the signing key")


def configured_keys(options: JwtOptions) -> list[VerificationKey]:
    """The keys of ``options``: its secret, or the keys its ``keys`` entries hold.

    Raises:
        ConfigError: an entry cannot be read, or holds a key that cannot verify tokens here
            (private, too small, of an algorithm not configured); the message names the entry
            by its position and, for a file, its path, never the key's text.
    """
    if options.secret is not None:
        secret = options.secret.reveal().encode()
        try:
            HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(secret)
        except PyJWTError:
            raise ConfigError(
                f"option {_SECTION}.secret looks like a public key, a certificate or a JWK; an "
                "HMAC secret is random bytes that only the issuer and this service know"
            ) from None
        hmac = frozenset(options.algorithms) & HMAC_ALGORITHMS.keys()
        return [VerificationKey(None, hmac, secret)]
    keys: list[VerificationKey] = []
    for position, entry in enumerate(options.keys, start=1):
        where = f"option {_SECTION}.keys, entry {position}"
        text = entry.strip()
        if not text.startswith(("-----BEGIN", "{")):
            where += f" (the file {text})"
            text = _read(Path(text).expanduser(), where)
        try:
            keys += _parse(text, options.algorithms)
        except KeyRefusedError as error:
            raise ConfigError(f"{where} {error}") from None
    return keys


def _read(path: Path, where: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"{where} cannot be read ({type(error).__name__}: {getattr(error, 'strerror', '')}); "
            "give the path of a PEM or JWK file, or the key's PEM text or JWK JSON itself"
        ) from None


def _parse(text: str, allowed: list[str]) -> list[VerificationKey]:
    if text.startswith("{"):
        try:
            document = msgspec.json.decode(text)
        except msgspec.DecodeError:
            raise KeyRefusedError("is not valid JSON: give a JWK, or a JWKS") from None
        if isinstance(document, dict) and isinstance(document.get("keys"), list):
            return [from_jwk(jwk, allowed, published=False) for jwk in document["keys"]]
        return [from_jwk(document, allowed, published=False)]
    blocks = list(_PEM.finditer(text))
    if not blocks:
        raise KeyRefusedError(
            "holds no PEM block (-----BEGIN PUBLIC KEY-----) and no JWK JSON: give a public "
            "key or a certificate"
        )
    return [_from_pem(block.group(1), block.group(0).encode(), allowed) for block in blocks]


def _from_pem(label: str, pem: bytes, allowed: list[str]) -> VerificationKey:
    if "PRIVATE" in label:
        raise KeyRefusedError("is a private key: give its public key, never the signing key")
    try:
        if label == "CERTIFICATE":
            key: object = x509.load_pem_x509_certificate(pem).public_key()
        else:
            key = load_pem_public_key(pem)
    except _KEY_ERRORS as error:
        raise KeyRefusedError(f"is not a valid {label.lower()} ({type(error).__name__})") from None
    own = algorithms_of(key)
    algorithms = own & frozenset(allowed)
    if not algorithms:
        raise KeyRefusedError(
            f"is a key for {', '.join(sorted(own))}, which algorithms does not hold: add one "
            "of those to algorithms, or remove the key"
        )
    return VerificationKey(None, algorithms, key)
