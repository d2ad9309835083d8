"""Signing JWTs: the token service's private keys, made, kept at rest, published and used.

The counterpart of :mod:`~atoll.adapters.jwt.verifier`, for :mod:`atoll.auth`:

- :func:`new_private_key` makes an Ed25519 (``EdDSA``) or RSA 3072 (``RS256``) key, as PKCS#8
  PEM, encrypted with a passphrase when one is given (cryptography's best available
  encryption: a key derived from the passphrase, AES-256);
- :class:`Signer` loads one such key once, and signs JWS compact tokens with it, headers
  ``alg``, ``kid`` and ``typ`` first; its :meth:`Signer.public_jwk` is the JWK a JWKS
  publishes, with ``"use": "sig"``, ``alg`` and ``kid``, the form
  :func:`~atoll.adapters.jwt.keys.from_jwk` accepts.

The only module of atoll that reads a private key. Its errors never hold a key's material.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from atoll.errors import ConfigError, MissingDependencyError

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    from jwt.algorithms import OKPAlgorithm, RSAAlgorithm
    from jwt.utils import base64url_encode
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("pyjwt[crypto]", "jwt") from error

__all__ = ["SIGNING_ALGORITHMS", "Signer", "new_private_key"]

SigningAlgorithm = Literal["EdDSA", "RS256"]
SIGNING_ALGORITHMS: tuple[SigningAlgorithm, ...] = ("EdDSA", "RS256")
"""The algorithms the token service signs with: Ed25519 by default, RSA for older verifiers."""

RSA_BITS = 3072
"""The size of a new RSA key: 128-bit security, as NIST SP 800-57 asks beyond 2030."""

_encode_json = msgspec.json.Encoder(order="deterministic").encode


def new_private_key(algorithm: str, passphrase: bytes | None = None) -> bytes:
    """A new private key for ``algorithm``, as PKCS#8 PEM, encrypted when a passphrase is given.

    Raises:
        ConfigError: ``algorithm`` is not one of :data:`SIGNING_ALGORITHMS`.
    """
    key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
    if algorithm == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "RS256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    else:
        raise ConfigError(
            f"the token service signs with {' or '.join(SIGNING_ALGORITHMS)}, not {algorithm!r}"
        )
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


class Signer:
    """One private key, loaded once, that signs tokens under its ``kid``.

    Args:
        kid: the key's id, in each token's header and in the JWKS.
        algorithm: ``EdDSA`` (an Ed25519 key) or ``RS256`` (an RSA key).
        pem: the private key, PKCS#8 PEM, as :func:`new_private_key` makes it.
        passphrase: the passphrase it is encrypted with, if it is.

    Raises:
        ConfigError: the PEM cannot be read (encrypted and no passphrase or a wrong one, not
            a private key, not of the algorithm's kind); the message names the ``kid`` only.
    """

    __slots__ = ("_algorithm", "_header", "_key", "algorithm", "kid")

    def __init__(self, kid: str, algorithm: str, pem: bytes, passphrase: bytes | None) -> None:
        self.kid = kid
        self.algorithm = algorithm
        try:
            key = serialization.load_pem_private_key(pem, password=passphrase or None)
        except TypeError:
            raise ConfigError(
                f"signing key {kid!r} is encrypted, or not, unlike the passphrase given: set "
                "--tokens-key-passphrase to the passphrase the keys were made with"
            ) from None
        except ValueError:
            raise ConfigError(
                f"signing key {kid!r} cannot be read: the passphrase is wrong, or the "
                "database holds no PEM private key for it"
            ) from None
        expected = ed25519.Ed25519PrivateKey if algorithm == "EdDSA" else rsa.RSAPrivateKey
        if algorithm not in SIGNING_ALGORITHMS or not isinstance(key, expected):
            raise ConfigError(
                f"signing key {kid!r} is a {type(key).__name__}, which does not sign "
                f"{algorithm}; remove it and rotate the keys"
            )
        self._key: Any = key
        self._algorithm: Any = (
            OKPAlgorithm() if algorithm == "EdDSA" else RSAAlgorithm(RSAAlgorithm.SHA256)
        )
        header = {"alg": algorithm, "kid": kid, "typ": "at+jwt"}
        self._header = base64url_encode(_encode_json(header))

    def sign(self, claims: dict[str, Any]) -> str:
        """The JWS compact serialization of ``claims``, signed with this key."""
        signed = self._header + b"." + base64url_encode(_encode_json(claims))
        signature = self._algorithm.sign(signed, self._key)
        return (signed + b"." + base64url_encode(signature)).decode("ascii")

    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK to publish: ``kid``, ``alg`` and ``"use": "sig"``."""
        jwk: dict[str, Any] = self._algorithm.to_jwk(self._key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "alg": self.algorithm, "use": "sig"})
        return jwk

    def __repr__(self) -> str:
        return f"Signer(kid={self.kid!r}, algorithm={self.algorithm!r})"
