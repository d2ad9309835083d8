"""Administering a token service from the command line: its clients and keys, in its database.

``atoll auth ...`` (:mod:`atoll.cli.auth`) loads the target, reads its configuration as
``atoll run`` would, and works on the database the service would use through
:func:`administered`, without running the service: no server, no broker.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from atoll.auth.clients import Registrations
from atoll.auth.keyring import Keyring
from atoll.auth.options import Clock, TokenOptions
from atoll.auth.tables import AuthUnitOfWork
from atoll.errors import TargetError
from atoll.persistence.declaration import open_database
from atoll.persistence.options import database_section
from atoll.service.definition import ServiceDefinition
from atoll.service.system import services_of

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from atoll.kernel.config import Config
    from atoll.persistence.options import DatabaseOptions

__all__ = ["Administration", "administered", "token_service_of"]


class Administration:
    """What ``atoll auth`` works with: the clients and the keys of one token service."""

    def __init__(self, registrations: Registrations, keyring: Keyring) -> None:
        self.registrations = registrations
        self.keyring = keyring


def token_service_of(target: object, label: str) -> tuple[ServiceDefinition, str]:
    """The token service of ``target`` (itself, or the one in a system) and its ``db`` section.

    Raises:
        TargetError: ``target`` is no token service, and holds none.
    """
    alone = isinstance(target, ServiceDefinition)
    for service in services_of(target):
        declaration = service.database_declaration
        if declaration is not None and issubclass(declaration.unit_of_work, AuthUnitOfWork):
            return service, database_section(service.name, alone=alone)
    raise TargetError(
        f"{label} is no token service, and holds none: point at atoll.auth:service, or at "
        "a service made by atoll.auth.token_service() (or a system holding one)"
    )


@contextlib.asynccontextmanager
async def administered(
    service: ServiceDefinition, section: str, config: Config
) -> AsyncIterator[Administration]:
    """The clients and keys of ``service``, in the database ``config`` names, for the block.

    Raises:
        DatabaseUnavailableError: the database cannot be reached.
    """
    declaration = service.database_declaration
    if declaration is None:  # pragma: no cover - token_service_of found one
        raise TargetError(f"service {service.name!r} keeps no database")
    options: DatabaseOptions = config.section(section)
    tokens: TokenOptions = config.section("tokens")
    database = open_database(options, declaration.schema, service.name, section=section)
    clock = Clock()
    await database.start()
    try:
        yield Administration(Registrations(database, clock), Keyring(database, tokens, clock))
    finally:
        await database.stop()
