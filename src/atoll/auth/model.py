"""The token service's aggregates: clients, signing keys, refresh tokens, message keys.

Plain dataclasses, kept by the service's own database (:mod:`atoll.auth.tables`); times are
seconds since the epoch, read from the service's clock, so that a test sets them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CLIENT_ID", "Client", "MessageKey", "RefreshToken", "SigningKey"]

CLIENT_ID = re.compile(r"[A-Za-z0-9._~-]{1,200}")
"""A client id: what a URL, a log line and HTTP Basic carry as it is."""


@dataclass
class Client:
    """A service allowed to ask for tokens for itself (the client credentials grant).

    Attributes:
        id: the ``client_id``, the tokens' ``sub`` and ``client_id``.
        secret_hash: the client secret's salted hash (:mod:`atoll.auth.client_secrets`);
            the secret itself is shown once, when the client is added, and never kept.
        scopes: the scopes it may ask for, space-separated; those it gets when it names none.
        audiences: the services it may ask tokens for (``resource`` or ``audience``),
            space-separated.
        created: when it was added.
    """

    id: str
    secret_hash: str
    scopes: str
    audiences: str
    created: float

    @property
    def scope_set(self) -> frozenset[str]:
        """The scopes it may ask for."""
        return frozenset(self.scopes.split())

    @property
    def audience_list(self) -> list[str]:
        """The audiences it may ask tokens for, in the order they were given."""
        return self.audiences.split()


@dataclass
class SigningKey:
    """A private key the service signs with, for a while, and publishes for longer.

    Attributes:
        id: the key's ``kid``.
        algorithm: ``EdDSA`` or ``RS256``.
        private_key: the PKCS#8 PEM, encrypted when the service has a key passphrase.
        created: when it was made.
        activates_at: when it starts signing; it is published from ``created`` on, so that
            verifiers have it before the first token it signs.
        retires_at: when it stops signing (``None`` until a newer key is made); it stays
            published until its last token has expired.
    """

    id: str
    algorithm: str
    private_key: str
    created: float
    activates_at: float
    retires_at: float | None = None


@dataclass
class RefreshToken:
    """A refresh token of a user's session, kept by its hash: the token itself never is.

    A session is a family of refresh tokens: the first, given when a session client opens it,
    and each token's successor, given when that one is used (rotation). Every token used is
    kept until it expires, so that one presented again is recognised as stolen, and its whole
    family revoked.

    Attributes:
        id: the SHA-256 of the token, in hex.
        family: the session's id, random; the access tokens' ``sid``.
        client_id: the session client that opened the session; it alone may refresh it.
        subject: the user's id, the access tokens' ``sub``.
        audiences: the services the session's access tokens may be for, space-separated.
        scopes: the scopes they may carry, space-separated.
        created: when it was given.
        expires: when it stops being accepted; never after ``session_ends``.
        session_ends: when the session started, plus the session lifetime.
        used: it was exchanged for its successor; presented again, it is reuse.
        revoked: its session was revoked (by the client, or for a reuse).
        version: its committed changes; two concurrent refreshes with it conflict.
    """

    id: str
    family: str
    client_id: str
    subject: str
    audiences: str
    scopes: str
    created: float
    expires: float
    session_ends: float
    used: bool = False
    revoked: bool = False
    version: int = 0


@dataclass
class MessageKey:
    """A public key a client signs its messages with, published until it expires.

    The client makes the key pair and keeps the private key; the token service keeps the
    public half only, registered by the client authenticated, so that a consumer trusts a
    message's signature as the client's.

    Attributes:
        kid: the key's RFC 7638 thumbprint: the same key has the same ``kid`` everywhere.
        client_id: the client that registered it; it alone may register it again.
        jwk: the public JWK, as JSON: exactly ``kty``, ``crv``, ``x``, ``kid``, ``alg`` and
            ``use``.
        registered: when it was first registered.
        expires: when it leaves the published keys; registering it again moves it on.
    """

    kid: str
    client_id: str
    jwk: str
    registered: float
    expires: float
