"""API tokens: opaque, long-lived credentials a service issues itself, kept hashed.

An API token is ``atl_`` followed by 43 URL-safe characters (32 random bytes): the prefix
tells it from a JWT at a glance (a bearer token starting with ``atl_`` is never a JWT), and in
a leaked file or a log, where secret scanners look for it. The service keeps only its SHA-256,
beside what it proves (:class:`ApiTokenRecord`): who it acts as, with which scopes, until
when, and whether it was revoked. A fast hash is the right one here: the token holds 256
random bits, so nobody can guess it from its hash however many guesses a second they make,
and a slow password hash (argon2) would only cost each request milliseconds.

:class:`ApiTokenStore` is the port a service's tokens are kept through:
:class:`MemoryApiTokenStore` here (tests, ``memory://``, a service without a database, for as
long as its process lives), and :class:`atoll.adapters.sqlalchemy.api_tokens.SqlApiTokenStore`
on the service's own database (the table ``atoll_api_tokens``). :class:`ApiTokens` is what a
service uses: it issues, lists and revokes tokens, and verifies one into an
:class:`~atoll.security.identity.Identity`, caching what it found for ``[auth]
api-token-cache`` seconds. A token revoked through it is refused at once in its own process;
another process that had found it may serve it until that cache expires.

This module imports no third-party library.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import re
import secrets
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, Protocol

from atoll.errors import AlreadyExistsError, InvalidTokenError
from atoll.security.identity import Identity

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from atoll.persistence.ports import Database

__all__ = [
    "API_TOKEN_PREFIX",
    "EXPIRED",
    "REVOKED",
    "UNKNOWN",
    "ApiTokenRecord",
    "ApiTokenStore",
    "ApiTokens",
    "MemoryApiTokenStore",
    "api_token_digest",
    "api_token_store_for",
    "new_api_token",
]

API_TOKEN_PREFIX = "atl_"  # noqa: S105 - a prefix, not a secret
"""What every API token starts with."""

UNKNOWN = "the API token is not known"
REVOKED = "the API token has been revoked"
EXPIRED = "the API token has expired"

Kind = Literal["user", "service"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_SHAPE = re.compile(r"atl_[A-Za-z0-9_-]{43}")
_CACHED_AT_MOST = 10_000
"""Records a process keeps found at once; the oldest is forgotten first."""


def new_api_token() -> str:
    """A new API token: the prefix and 32 random bytes, URL-safe."""
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def api_token_digest(token: str) -> str:
    """What a service keeps of ``token``: its SHA-256, in hexadecimal."""
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class ApiTokenRecord:
    """What a service keeps of an API token: never the token itself.

    Attributes:
        id: names the token in lists, logs and revocations; not secret.
        digest: the token's SHA-256 (:func:`api_token_digest`), what it is found by.
        subject: who the token acts as.
        kind: ``"user"`` (a person, through a script) or ``"service"`` (a service or a
            job calling for itself): the :class:`Identity` kind it proves.
        scopes: what it allows, sorted.
        label: what it is for, to tell tokens apart in a list.
        created: when it was issued, in UTC.
        expires: when it stops being accepted, in UTC; ``None`` for never.
        revoked: when it was revoked, in UTC; ``None`` while it is not.
    """

    id: str
    digest: str
    subject: str
    kind: Kind = "user"
    scopes: tuple[str, ...] = ()
    label: str = ""
    created: dt.datetime = _EPOCH
    expires: dt.datetime | None = None
    revoked: dt.datetime | None = None

    def refusal(self, now: dt.datetime) -> str | None:
        """Why the token is refused at ``now`` (revoked first, then expired), or ``None``."""
        if self.revoked is not None:
            return REVOKED
        if self.expires is not None and now >= self.expires:
            return EXPIRED
        return None

    def identity(self) -> Identity:
        """The identity the token proves; its ``token_id`` is the record's id."""
        return Identity(
            kind=self.kind,
            subject=self.subject,
            scopes=frozenset(self.scopes),
            token_id=self.id,
            expires=self.expires,
            scheme="api-token",
        )


class ApiTokenStore(Protocol):
    """Where a service's API tokens are kept: the port each store implements."""

    async def create(self, record: ApiTokenRecord) -> None:
        """Keep a new token's record.

        Raises:
            AlreadyExistsError: a record has its id or its digest already.
        """
        ...

    async def find(self, digest: str) -> ApiTokenRecord | None:
        """The record of the token whose digest is ``digest``, or ``None``."""
        ...

    async def list(self) -> Sequence[ApiTokenRecord]:
        """Every record, revoked and expired ones too, oldest first."""
        ...

    async def revoke(self, token_id: str, at: dt.datetime) -> ApiTokenRecord | None:
        """Revoke the token ``token_id`` as of ``at``, and return its record, or ``None``.

        A token revoked already keeps the time it was first revoked.
        """
        ...


class MemoryApiTokenStore:
    """API tokens in this process's memory: gone when it ends; for tests and ``memory://``."""

    def __init__(self) -> None:
        self._records: dict[str, ApiTokenRecord] = {}

    async def create(self, record: ApiTokenRecord) -> None:
        """Keep ``record``.

        Raises:
            AlreadyExistsError: a record has its id or its digest already.
        """
        if record.digest in self._records or any(
            known.id == record.id for known in self._records.values()
        ):
            raise AlreadyExistsError(
                f"an API token with the id {record.id!r} or the same digest is kept already; "
                "issue a new one"
            )
        self._records[record.digest] = record

    async def find(self, digest: str) -> ApiTokenRecord | None:
        """The record of ``digest``, or ``None``."""
        return self._records.get(digest)

    async def list(self) -> Sequence[ApiTokenRecord]:
        """Every record, oldest first."""
        return sorted(self._records.values(), key=lambda record: (record.created, record.id))

    async def revoke(self, token_id: str, at: dt.datetime) -> ApiTokenRecord | None:
        """Revoke ``token_id`` as of ``at`` (unless it is already); its record, or ``None``."""
        for digest, record in self._records.items():
            if record.id == token_id:
                if record.revoked is not None:
                    return record
                revoked = self._records[digest] = replace(record, revoked=at)
                return revoked
        return None


def api_token_store_for(database: Database | None) -> ApiTokenStore:
    """Where a service with ``database`` keeps its API tokens.

    In memory without a database or on ``memory://`` (they last as long as the process);
    else in the database's ``atoll_api_tokens`` table.

    Raises:
        MissingDependencyError: the database is SQL and ``atoll[sql]`` is not installed.
    """
    if database is None or database.options.url_for(database.service).startswith("memory:"):
        return MemoryApiTokenStore()
    adapter = importlib.import_module("atoll.adapters.sqlalchemy.api_tokens")
    store: ApiTokenStore = adapter.SqlApiTokenStore(database)
    return store


class ApiTokens:
    """A service's API tokens: issued, listed, revoked, and verified into identities.

    Args:
        store: where they are kept.
        cache: seconds a token found is served without asking ``store`` again: how long
            another process may go on accepting a token revoked here. 0 asks every time.
        clock: seconds that only go forward, for the cache (``time.monotonic``).
        now: the current time in UTC, for creation, expiry and revocation.
    """

    def __init__(
        self,
        store: ApiTokenStore,
        *,
        cache: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.store = store
        self.cache = cache
        self.clock = clock
        self.now = now
        self._found: dict[str, tuple[ApiTokenRecord, float]] = {}

    async def issue(
        self,
        subject: str,
        scopes: Iterable[str] = (),
        *,
        kind: Kind = "user",
        label: str = "",
        expires_in: dt.timedelta | None = None,
    ) -> tuple[str, ApiTokenRecord]:
        """Issue a token acting as ``subject``: the token, to hand over once, and its record.

        Raises:
            ValueError: ``subject`` is empty, a scope is empty or holds a space, or
                ``expires_in`` is not above 0.
        """
        if not subject:
            msg = "an API token acts as someone: give its subject, such as user-42"
            raise ValueError(msg)
        chosen = tuple(sorted(set(scopes)))
        for scope in chosen:
            if not scope or any(char.isspace() for char in scope):
                msg = f"a scope is a word without spaces, such as runs:read; got {scope!r}"
                raise ValueError(msg)
        if expires_in is not None and expires_in <= dt.timedelta(0):
            msg = f"expires_in must be above 0, such as 30 days; got {expires_in}"
            raise ValueError(msg)
        token = new_api_token()
        created = self.now()
        record = ApiTokenRecord(
            id=secrets.token_hex(8),
            digest=api_token_digest(token),
            subject=subject,
            kind=kind,
            scopes=chosen,
            label=label,
            created=created,
            expires=None if expires_in is None else created + expires_in,
        )
        await self.store.create(record)
        return token, record

    async def list(self) -> Sequence[ApiTokenRecord]:
        """Every token's record, oldest first."""
        return await self.store.list()

    async def revoke(self, token_id: str) -> ApiTokenRecord | None:
        """Revoke ``token_id`` now: refused at once in this process; its record, or ``None``."""
        record = await self.store.revoke(token_id, self.now())
        if record is not None:
            self._found.pop(record.digest, None)
        return record

    async def verify(self, token: str) -> Identity:
        """The identity ``token`` proves.

        Raises:
            InvalidTokenError: it is not known, revoked or expired; the message says which,
                never the token.
        """
        if not _SHAPE.fullmatch(token):
            raise InvalidTokenError(UNKNOWN)  # not one of ours: no need to ask the store
        digest = api_token_digest(token)
        record = await self._record(digest)
        if record is None:
            raise InvalidTokenError(UNKNOWN)
        refusal = record.refusal(self.now())
        if refusal is not None:
            raise InvalidTokenError(refusal)
        return record.identity()

    async def _record(self, digest: str) -> ApiTokenRecord | None:
        """The record of ``digest``: cached for ``cache`` seconds once found.

        What is not found is not cached: a token issued by another process is accepted at
        once.
        """
        now = self.clock()
        found = self._found.get(digest)
        if found is not None and now - found[1] < self.cache:
            return found[0]
        record = await self.store.find(digest)
        if record is None:
            self._found.pop(digest, None)
        elif self.cache > 0:
            self._found.pop(digest, None)  # re-inserted last: the oldest go first
            self._found[digest] = (record, now)
            if len(self._found) > _CACHED_AT_MOST:
                del self._found[next(iter(self._found))]
        return record

    def __repr__(self) -> str:
        return f"ApiTokens({type(self.store).__name__}, cache={self.cache}s)"
