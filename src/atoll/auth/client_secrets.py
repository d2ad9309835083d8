"""Client secrets: made random, shown once, kept as a salted scrypt hash, checked in constant time.

A secret is ``secrets.token_urlsafe(32)``: 256 random bits. What is kept is
``scrypt$N$r$p$salt$hash`` (base64url), from the standard library's :func:`hashlib.scrypt`.

Why not argon2: a password is guessable, and a memory-hard hash is what slows the guessing;
a 256-bit random secret cannot be guessed at any speed, so the hash only has to keep a stolen
database from handing out the secrets as they are. scrypt, in the standard library, does
that without another dependency, at a cost (4 MiB and about 15 ms, run off the
event loop) low enough that a flood of token requests does not make it a lever.

:func:`check` takes as long for a client that does not exist (it checks against a hash made
once, :data:`DECOY`) as for a wrong secret, so that the answer and its time tell a caller
nothing about which client ids exist.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

__all__ = ["check", "decoy", "hashed", "new_secret"]

_N, _R, _P = 2**12, 8, 1
_LENGTH = 32
_SCHEME = "scrypt"


def new_secret() -> str:
    """A new client secret: 32 random bytes, base64url (43 characters)."""
    return secrets.token_urlsafe(32)


def hashed(secret: str) -> str:
    """The salted hash of ``secret`` to keep: ``scrypt$N$r$p$salt$hash``."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(secret, salt, _N, _R, _P)
    return "$".join((_SCHEME, str(_N), str(_R), str(_P), _b64(salt), _b64(digest)))


def check(secret: str, kept: str | None) -> bool:
    """Whether ``secret`` is the one ``kept`` hashes; ``None`` (no such client) is never.

    Runs the same hash either way, and compares in constant time.
    """
    parts = (kept if kept is not None else decoy()).split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:  # noqa: PLR2004 - the fields of the hash
        return False
    _, n, r, p, salt, digest = parts
    try:
        computed = _scrypt(secret, _unb64(salt), int(n), int(r), int(p))
        expected = _unb64(digest)
    except ValueError:  # a hash not of this module's making never matches
        return False
    return hmac.compare_digest(computed, expected) and kept is not None


@functools.cache
def decoy() -> str:
    """A hash of a secret nobody has, checked for client ids that do not exist."""
    return hashed(new_secret())


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=256 * 1024 * 1024,
        dklen=_LENGTH,
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
