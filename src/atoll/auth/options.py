"""The token service's options: the ``[tokens]`` section (``--tokens-issuer``...)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from atoll.auth.model import CLIENT_ID
from atoll.kernel.options import Secret, option
from atoll.kernel.providers import Named
from atoll.persistence.ports import Database

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Clock", "TokenOptions", "on_database"]

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_LONGEST_LIFETIME = 86400
_SHORTEST_REFRESH = 60
_LONGEST_SESSION = 31536000


T = TypeVar("T")


def on_database(kind: Callable[[Database, TokenOptions, Clock], T], service: str) -> Any:
    """The provider of ``kind`` (the keyring, the sessions...) of the token service ``service``.

    Each is made of the service's database, its ``[tokens]`` options and its clock. The
    database's name is this call's (``Named(service)``), not a global: the hint is set
    here, as an object, since the annotations of these modules are read lazily.
    """

    def provider(database: Database, options: TokenOptions, clock: Clock) -> T:
        return kind(database, options, clock)

    provider.__name__ = getattr(kind, "__name__", "provider").lower()
    provider.__annotations__ = {
        "database": Annotated[Database, Named(service)],
        "options": TokenOptions,
        "clock": Clock,
        "return": kind,
    }
    return provider


class Clock:
    """The current time, in seconds since the epoch; a test provides one it sets."""

    def __call__(self) -> float:
        """Now."""
        return time.time()


@dataclass(frozen=True)
class TokenOptions:
    """What the token service issues, and how its keys rotate."""

    issuer: str = option(
        "http://127.0.0.1:8000",
        help="the service's public URL: the tokens' iss, and the base of its endpoints' URLs",
    )
    lifetime: int = option(300, help="seconds a token is valid for")
    algorithm: Literal["EdDSA", "RS256"] = option(
        "EdDSA", help="the algorithm of new signing keys: EdDSA (Ed25519) or RS256 (RSA 3072)"
    )
    rotation_delay: float = option(
        600.0,
        help="seconds a new key is published before it signs: longer than any JWKS cache",
    )
    jwks_max_age: int = option(300, help="seconds a JWKS may be cached (its Cache-Control max-age)")
    leeway: float = option(
        30.0,
        help="seconds a retired key stays published after its last token expired (clock skew)",
    )
    key_passphrase: Secret | None = option(
        None, help="encrypts the private keys in the database; unset: kept unencrypted"
    )
    max_body: int = option(4096, help="the largest token request accepted, in bytes")
    session_clients: list[str] = option(
        default_factory=list,
        help="clients that may open sessions for users (the session grant): the services "
        "that check users' passwords",
    )
    refresh_lifetime: int = option(
        1209600,
        help="seconds a refresh token is valid for (14 days); each refresh gives a new one",
    )
    session_lifetime: int = option(
        2592000,
        help="seconds a session lasts from its start (30 days): its refresh tokens never "
        "outlive it",
    )
    message_key_lifetime: int = option(
        604800,
        help="seconds a registered message key is published (7 days); a signer registers a "
        "new one before it ends",
    )
    message_keys_per_client: int = option(
        32,
        help="message keys a client has published at once; one more removes its oldest, and "
        "messages still signed with it are refused: keep it above the number of processes "
        "signing as one client, restarts included",
    )

    def __post_init__(self) -> None:
        parts = urlsplit(self.issuer)
        try:
            host = parts.hostname or ""
        except ValueError:
            host = ""
        secure = parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK)
        if not host or not secure or parts.query or parts.fragment:
            msg = (
                f"issuer {self.issuer!r} is not the service's public URL: give an https URL "
                "without query or fragment, such as https://id.example.org (http only on "
                "127.0.0.1 or localhost), as RFC 8414 asks"
            )
            raise ValueError(msg)
        if not 1 <= self.lifetime <= _LONGEST_LIFETIME:
            msg = (
                f"lifetime must be between 1 and {_LONGEST_LIFETIME} seconds (short: a token "
                f"cannot be revoked), such as 300; got {self.lifetime}"
            )
            raise ValueError(msg)
        for name in ("rotation_delay", "leeway"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                msg = f"{name} must be a finite number of seconds, 0 or more; got {value}"
                raise ValueError(msg)
        if self.jwks_max_age < 0 or self.rotation_delay < self.jwks_max_age:
            msg = (
                f"rotation_delay ({self.rotation_delay:g} s) must be at least jwks_max_age "
                f"({self.jwks_max_age} s, not below 0): a new key must reach every cached JWKS "
                "before it signs"
            )
            raise ValueError(msg)
        if not 256 <= self.max_body <= 65536:  # noqa: PLR2004 - the bounds the message names
            msg = f"max_body must be between 256 and 65536 bytes, such as 4096; got {self.max_body}"
            raise ValueError(msg)
        self._check_sessions()
        self._check_message_keys()

    def _check_sessions(self) -> None:
        """Refuse session options a session could not live by, or a malformed client id."""
        if self.refresh_lifetime < _SHORTEST_REFRESH:
            msg = (
                f"refresh_lifetime must be at least {_SHORTEST_REFRESH} seconds, such as "
                f"1209600 (14 days); got {self.refresh_lifetime}"
            )
            raise ValueError(msg)
        if self.session_lifetime < self.refresh_lifetime:
            msg = (
                f"session_lifetime ({self.session_lifetime} s) must be at least "
                f"refresh_lifetime ({self.refresh_lifetime} s): a session's first refresh "
                "token would outlive it; raise session_lifetime or lower refresh_lifetime"
            )
            raise ValueError(msg)
        if self.session_lifetime > _LONGEST_SESSION:
            msg = (
                f"session_lifetime must be at most {_LONGEST_SESSION} seconds (a year), such "
                f"as 2592000 (30 days); got {self.session_lifetime}"
            )
            raise ValueError(msg)
        for client_id in self.session_clients:
            if not CLIENT_ID.fullmatch(client_id):
                msg = (
                    f"session_clients holds {client_id!r:.60}, which is no client id: give "
                    "the ids of registered clients (letters, digits, '.', '_', '~', '-'), "
                    "such as users"
                )
                raise ValueError(msg)

    def _check_message_keys(self) -> None:
        """Refuse message key options under which no key would be published."""
        if self.message_key_lifetime < 1:
            msg = (
                "message_key_lifetime must be at least 1 second, such as 604800 (7 days); "
                f"got {self.message_key_lifetime}"
            )
            raise ValueError(msg)
        if self.message_keys_per_client < 1:
            msg = (
                "message_keys_per_client must be at least 1, such as 32: a client keeps its "
                f"last key published; got {self.message_keys_per_client}"
            )
            raise ValueError(msg)

    @property
    def base_url(self) -> str:
        """The issuer without a trailing ``/``: its endpoints' URLs start with it."""
        return self.issuer.rstrip("/")

    @property
    def passphrase(self) -> bytes | None:
        """The key passphrase's bytes, or ``None``."""
        if self.key_passphrase is None or not self.key_passphrase:
            return None
        return self.key_passphrase.reveal().encode()

    @property
    def published_after_retirement(self) -> float:
        """Seconds a key stays published after it stops signing: its last token's life."""
        return self.lifetime + self.leeway
