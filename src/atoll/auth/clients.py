"""The clients: registered with a secret shown once, listed, removed, and authenticated."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Annotated

from atoll.auth import client_secrets
from atoll.auth.model import CLIENT_ID, Client
from atoll.auth.options import Clock
from atoll.auth.tables import AuthUnitOfWork
from atoll.errors import AlreadyExistsError, ConfigError
from atoll.kernel.providers import Named
from atoll.persistence.ports import Database

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = [
    "Registrations",
    "check_audience",
    "check_client_id",
    "check_scope",
    "registrations_provider",
]

SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
"""A scope token, as RFC 6749 3.3 spells it (NQCHAR: no space, quote or backslash)."""
AUDIENCE = re.compile(r"[\x21-\x7e]{1,500}")
"""An audience: a service's name or URI, printable ASCII without spaces."""


def check_client_id(client_id: str) -> str:
    """``client_id``, if it is one.

    Raises:
        ConfigError: it holds other characters than letters, digits and ``._~-``.
    """
    if not CLIENT_ID.fullmatch(client_id):
        raise ConfigError(
            f"client id {client_id!r:.60} must be 1 to 200 letters, digits, '.', '_', '~' or "
            "'-', such as runs-worker"
        )
    return client_id


def check_scope(scope: str) -> str:
    """``scope``, if it is one scope token (RFC 6749 3.3).

    Raises:
        ConfigError: it is empty, or holds a space, a quote or a backslash.
    """
    if not SCOPE_TOKEN.fullmatch(scope):
        raise ConfigError(
            f"scope {scope!r:.60} is no scope token: printable ASCII without spaces, quotes or "
            "backslashes, such as runs:read"
        )
    return scope


def check_audience(audience: str) -> str:
    """``audience``, if it is a service's name or URI without spaces.

    Raises:
        ConfigError: it is empty, or holds spaces or non-ASCII characters.
    """
    if not AUDIENCE.fullmatch(audience):
        raise ConfigError(
            f"audience {audience!r:.60} must be the name or URL the target service expects "
            "as aud (its --auth-jwt-audience), printable ASCII without spaces"
        )
    return audience


class Registrations:
    """The clients of the token service, in its database.

    Args:
        database: the token service's database.
        clock: the current time.
    """

    def __init__(self, database: Database, clock: Callable[[], float]) -> None:
        self.database = database
        self.clock = clock

    async def add(
        self, client_id: str, scopes: Iterable[str], audiences: Iterable[str]
    ) -> tuple[Client, str]:
        """Register a client; returns it and its secret, which is kept only as a hash.

        Raises:
            ConfigError: the id, a scope or an audience is malformed, or no audience is given.
            AlreadyExistsError: a client has this id already.
        """
        check_client_id(client_id)
        scope_list = list(dict.fromkeys(check_scope(scope) for scope in scopes))
        audience_list = list(dict.fromkeys(check_audience(name) for name in audiences))
        if not audience_list:
            raise ConfigError(
                f"client {client_id!r} needs at least one audience: the services it may call "
                "(--audience https://runs.example.org)"
            )
        secret = client_secrets.new_secret()
        hashed = await asyncio.to_thread(client_secrets.hashed, secret)
        client = Client(
            id=client_id,
            secret_hash=hashed,
            scopes=" ".join(scope_list),
            audiences=" ".join(audience_list),
            created=self.clock(),
        )
        async with AuthUnitOfWork(self.database) as uow:
            if await uow.clients.get(client_id) is not None:
                raise AlreadyExistsError(
                    f"client {client_id!r} exists already; remove it first, or choose another id"
                )
            await uow.clients.add(client)
            await uow.commit()
        return client, secret

    async def all(self) -> list[Client]:
        """Every client, by id."""
        async with AuthUnitOfWork(self.database) as uow:
            return await uow.clients.find()

    async def remove(self, client_id: str) -> bool:
        """Remove a client, its users' sessions and its message keys; whether there was one.

        The access tokens it holds live until they expire. Its refresh tokens and message
        keys go with it: a client added again under the id starts with no session and no key
        published, whatever the old one held, and messages signed with the old keys are no
        longer verified as the client's.
        """
        async with AuthUnitOfWork(self.database) as uow:
            client = await uow.clients.get(client_id)
            if client is None:
                return False
            await uow.clients.remove(client)
            for token in await uow.refresh_tokens.find(client_id=client_id):
                await uow.refresh_tokens.remove(token)
            for key in await uow.message_keys.find(client_id=client_id):
                await uow.message_keys.remove(key)
            await uow.commit()
        return True

    async def authenticate(self, client_id: str, secret: str) -> Client | None:
        """The client whose id and secret these are, or ``None``.

        An unknown id costs the same hash as a wrong secret: the time of the answer does not
        tell which ids exist.
        """
        known: Client | None = None
        if CLIENT_ID.fullmatch(client_id):
            async with AuthUnitOfWork(self.database) as uow:
                known = await uow.clients.get(client_id)
        kept = None if known is None else known.secret_hash
        matches = await asyncio.to_thread(client_secrets.check, secret, kept)
        return known if matches else None


def registrations_provider(service: str) -> Callable[..., Registrations]:
    """The provider of the :class:`Registrations` of the token service named ``service``."""

    def registrations(database: Database, clock: Clock) -> Registrations:
        return Registrations(database, clock)

    # As on_database: the service's name is this call's, not a global.
    registrations.__annotations__ = {
        "database": Annotated[Database, Named(service)],
        "clock": Clock,
        "return": Registrations,
    }
    return registrations
