"""Passwords, hashed with Argon2id (``atoll[passwords]``, on argon2-cffi).

:class:`Argon2Passwords` hashes a password into the PHC string argon2-cffi writes
(``$argon2id$v=19$m=65536,t=3,p=4$...``: the salt and the parameters travel with the hash,
so that parameters raised later still verify the hashes made before) and checks one against
it. Both cost tens of milliseconds of CPU on purpose, so both run in a worker thread, off the
event loop.

Checking for a user who does not exist costs the same as for one who does (a hash made once
at start is checked instead), so that the time of an answer does not tell which accounts
exist. A hash made with weaker parameters than today's is reported by
:meth:`Argon2Passwords.needs_rehash`, for the caller to store a new one at the next login.
"""

from __future__ import annotations

import asyncio
import secrets

from atoll.errors import MissingDependencyError

try:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError
except ImportError as error:  # pragma: no cover - exercised only without the extra installed
    raise MissingDependencyError("argon2-cffi", "passwords") from error

__all__ = ["Argon2Passwords"]


class Argon2Passwords:
    """Hashes and checks passwords with Argon2id, off the event loop.

    Args:
        hasher: argon2-cffi's hasher with the parameters to use; its defaults (RFC 9106's
            low-memory profile: 64 MiB, 3 passes, 4 lanes) when left out. A test may pass
            a cheaper one.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher if hasher is not None else PasswordHasher()
        self._decoy: str | None = None

    async def hash(self, password: str) -> str:
        """The hash to keep for ``password``: a PHC string with its salt and parameters."""
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, hashed: str | None, password: str) -> bool:
        """Whether ``password`` is the one ``hashed`` was made from.

        ``hashed`` is ``None`` for an account that does not exist: a decoy hash is checked
        instead, so that the answer takes as long, and it is ``False``. A malformed hash is
        ``False`` too.
        """
        if hashed is None:
            if self._decoy is None:
                self._decoy = await self.hash(secrets.token_urlsafe(16))
            await asyncio.to_thread(self._matches, self._decoy, password)
            return False
        return await asyncio.to_thread(self._matches, hashed, password)

    def needs_rehash(self, hashed: str) -> bool:
        """Whether ``hashed`` was made with other parameters than the hasher's."""
        try:
            return self._hasher.check_needs_rehash(hashed)
        except (InvalidHashError, ValueError):
            return True

    def _matches(self, hashed: str, password: str) -> bool:
        try:
            return self._hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False
