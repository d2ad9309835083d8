"""Users' sessions: refresh tokens, rotated at each use, and revoked whole when one is reused.

A session client (a service that checks users' passwords, named in ``session_clients``)
opens a session for a user with the session grant. The session is a family of refresh
tokens, one of them live at a time::

    opened: R1 ── refreshed: R1 used, R2 ── refreshed: R2 used, R3 ── ...
                                 │
                                 └ R1 presented again: reuse; R1, R2, R3... are revoked

A refresh token expires ``refresh_lifetime`` seconds after it is given, and never after the
session's end (its start plus ``session_lifetime``). A token used is kept until it expires,
so that its second use is seen: either the client sent it twice, or someone else holds a
copy, and the two cannot be told apart, so the session ends. Two refreshes with one token
at once are the same case: the token's version lets one of them commit, and the other is
reuse.

The rules are the module's functions, on a :class:`~atoll.auth.model.RefreshToken` and a
time; :class:`Sessions` applies them to the service's database. A token is kept by its
SHA-256 only: 256 random bits need neither a salt nor a slow hash, and a stolen database
holds no token that works.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import logging
import re
import secrets
from typing import TYPE_CHECKING, TypeVar

from atoll.auth.model import RefreshToken
from atoll.auth.tables import AuthUnitOfWork
from atoll.errors import ConflictError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from atoll.auth.options import TokenOptions
    from atoll.persistence.ports import Database

__all__ = [
    "PREFIX",
    "SUBJECT",
    "Sessions",
    "Standing",
    "expired",
    "new_refresh_token",
    "opening",
    "standing",
    "successor",
    "token_id",
]

PREFIX = "atr_"
"""What every refresh token starts with, so that a secret scanner knows one."""
SUBJECT = re.compile(r"[\x21-\x7e]{1,200}")
"""A user's id, as a session client names it: printable ASCII without spaces."""

_REVOKE_ATTEMPTS = 5
"""Conflicts a revocation outlasts: each one means a change to the family committed first."""

logger = logging.getLogger("atoll.auth")

T = TypeVar("T")


class Standing(enum.Enum):
    """What a refresh token presented by a client is; the value says it for the logs."""

    UNKNOWN = "no such refresh token"
    OTHER_CLIENT = "a refresh token of another client"
    REVOKED = "its session is revoked"
    EXPIRED = "it has expired"
    REUSED = "it was used already"
    LIVE = "live"


def new_refresh_token() -> str:
    """A new refresh token: :data:`PREFIX` and 256 random bits."""
    return PREFIX + secrets.token_urlsafe(32)


def token_id(token: str) -> str:
    """The id a refresh token is kept under: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def standing(token: RefreshToken | None, client_id: str, now: float) -> Standing:
    """What ``token``, found for a token ``client_id`` presents at ``now``, is.

    A token that is revoked or has expired is refused whether used or not: reuse is a
    second use of a token that would otherwise still be accepted.
    """
    if token is None:
        return Standing.UNKNOWN
    if token.client_id != client_id:
        return Standing.OTHER_CLIENT
    if token.revoked:
        return Standing.REVOKED
    if min(token.expires, token.session_ends) <= now:
        return Standing.EXPIRED
    if token.used:
        return Standing.REUSED
    return Standing.LIVE


def opening(
    client_id: str,
    subject: str,
    audiences: Sequence[str],
    scopes: Sequence[str],
    *,
    now: float,
    options: TokenOptions,
) -> tuple[RefreshToken, str]:
    """The first refresh token of a new session, and the token itself."""
    token = new_refresh_token()
    ends = now + options.session_lifetime
    record = RefreshToken(
        id=token_id(token),
        family=secrets.token_hex(16),
        client_id=client_id,
        subject=subject,
        audiences=" ".join(audiences),
        scopes=" ".join(scopes),
        created=now,
        expires=min(now + options.refresh_lifetime, ends),
        session_ends=ends,
    )
    return record, token


def successor(used: RefreshToken, now: float, lifetime: float) -> tuple[RefreshToken, str]:
    """The refresh token given for ``used`` at ``now``, and the token itself.

    It belongs to the same session, for the same audiences and scopes (RFC 6749 6), and
    expires ``lifetime`` seconds from ``now``, or when the session ends if that is sooner.
    """
    token = new_refresh_token()
    record = RefreshToken(
        id=token_id(token),
        family=used.family,
        client_id=used.client_id,
        subject=used.subject,
        audiences=used.audiences,
        scopes=used.scopes,
        created=now,
        expires=min(now + lifetime, used.session_ends),
        session_ends=used.session_ends,
    )
    return record, token


def expired(tokens: Sequence[RefreshToken], now: float) -> list[RefreshToken]:
    """The tokens that are no longer accepted at ``now`` for their age: nothing needs them."""
    return [token for token in tokens if min(token.expires, token.session_ends) <= now]


class Sessions:
    """Users' sessions, kept as their refresh tokens in the token service's database.

    Args:
        database: the token service's database.
        options: the ``[tokens]`` section: the lifetimes.
        clock: the current time.
    """

    def __init__(
        self, database: Database, options: TokenOptions, clock: Callable[[], float]
    ) -> None:
        self.database = database
        self.options = options
        self.clock = clock

    async def open(
        self, client_id: str, subject: str, audiences: Sequence[str], scopes: Sequence[str]
    ) -> tuple[RefreshToken, str]:
        """Open a session of ``subject`` for ``client_id``: its first token record, and token."""
        record, token = opening(
            client_id, subject, audiences, scopes, now=self.clock(), options=self.options
        )
        async with AuthUnitOfWork(self.database) as uow:
            await uow.refresh_tokens.add(record)
            await uow.commit()
        logger.info("opened session %s of user %s for client %s", record.family, subject, client_id)
        return record, token

    async def refresh(
        self, presented: str, client_id: str, check: Callable[[RefreshToken], T]
    ) -> tuple[T, RefreshToken, str] | None:
        """Exchange the refresh token ``presented`` by ``client_id`` for its successor.

        Args:
            presented: the refresh token.
            client_id: the client presenting it, authenticated.
            check: called with the token's record, once it is known to be live and before
                anything changes; what it raises refuses the refresh and changes nothing.

        Returns:
            What ``check`` returned, the successor, and the successor's token; or ``None``
            when the token is refused, which says nothing of why. A token used already (or
            used at the same moment by another request) has its whole session revoked.

        Raises:
            ConflictError: the session of a reused token could not be revoked (see
                :meth:`revoke_session`).
        """
        now = self.clock()
        async with AuthUnitOfWork(self.database) as uow:
            token = await uow.refresh_tokens.get(token_id(presented))
            found = standing(token, client_id, now)
            if token is None or found not in (Standing.LIVE, Standing.REUSED):
                session = "" if token is None else f" of session {token.family}"
                logger.info(
                    "refused a refresh token%s to client %s: %s", session, client_id, found.value
                )
                return None
            # A copy: what was read stays readable once a conflict has rolled the block back.
            known = dataclasses.replace(token)
            if found is Standing.LIVE:
                granted = check(token)
                rotated = await self._rotate(uow, token, now)
                if rotated is not None:
                    return (granted, *rotated)
        logger.warning(
            "refresh token reused in session %s of user %s, client %s (%s): the session is "
            "revoked; a client refreshed with one token twice, or another holds a copy of it",
            known.family,
            known.subject,
            known.client_id,
            "used already" if found is Standing.REUSED else "used by a request at once",
        )
        await self.revoke_session(known.family)
        return None

    async def _rotate(
        self, uow: AuthUnitOfWork, used: RefreshToken, now: float
    ) -> tuple[RefreshToken, str] | None:
        """Mark ``used`` used and add its successor; ``None`` if another change came first.

        The family's expired tokens go meanwhile: nothing needs them any more.
        """
        used.used = True
        record, token = successor(used, now, self.options.refresh_lifetime)
        try:
            await uow.refresh_tokens.add(record)
            for stale in expired(await uow.refresh_tokens.find(family=used.family), now):
                await uow.refresh_tokens.remove(stale)
            await uow.commit()
        except ConflictError:
            # Its version moved since it was read: a refresh with the same token (or a
            # revocation) committed first. The caller takes it as reuse.
            return None
        logger.info(
            "refreshed session %s of user %s for client %s",
            record.family,
            record.subject,
            record.client_id,
        )
        return record, token

    async def revoke(self, presented: str, client_id: str) -> bool:
        """Revoke the session of the refresh token ``presented`` by ``client_id``.

        Returns:
            Whether it was a refresh token of ``client_id``: another client's, or anything
            else, revokes nothing.
        """
        async with AuthUnitOfWork(self.database) as uow:
            token = await uow.refresh_tokens.get(token_id(presented))
            owned: RefreshToken | None = None
            if token is not None and token.client_id == client_id:
                owned = dataclasses.replace(token)  # readable once the block is over
        if owned is None:
            logger.info("client %s revoked no refresh token of its own", client_id)
            return False
        await self.revoke_session(owned.family)
        logger.info(
            "revoked session %s of user %s at the request of client %s",
            owned.family,
            owned.subject,
            client_id,
        )
        return True

    async def revoke_session(self, family: str) -> None:
        """Revoke every refresh token of the session ``family``, in one transaction.

        Raises:
            ConflictError: the session changed under each of several attempts.
        """
        attempts = 0
        while True:
            try:
                async with AuthUnitOfWork(self.database) as uow:
                    for token in await uow.refresh_tokens.find(family=family):
                        if not token.revoked:
                            token.revoked = True
                    await uow.commit()
            except ConflictError:
                # Someone changed the family meanwhile (a refresh, another revocation):
                # read it again, with their change.
                attempts += 1
                if attempts >= _REVOKE_ATTEMPTS:
                    logger.error(  # noqa: TRY400 - the conflict's trace says nothing more
                        "could not revoke session %s: it changed under %d attempts",
                        family,
                        attempts,
                    )
                    raise
            else:
                return
