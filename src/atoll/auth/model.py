"""The token service's aggregates: the clients it knows and the keys it signs with.

Plain dataclasses, kept by the service's own database (:mod:`atoll.auth.tables`); times are
seconds since the epoch, read from the service's clock, so that a test sets them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Client", "SigningKey"]


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
