"""A service's database, as declared (``service.database(schema, RunsUnitOfWork)``) and installed.

Declaring records what the service keeps. Composing the service installs, in its application:

- the options section (``db`` for a service run alone, ``<service>_db`` in a system);
- the :class:`~atoll.persistence.ports.Database`, named after the service, an app-scoped
  component: the adapter is chosen by the URL's scheme when the application starts, and its
  ``ping`` joins the readiness checks (``/health/ready`` answers 503 while it fails), and it
  joins the application's :class:`~atoll.persistence.inboxes.Inboxes` as the service's inbox;
- its :class:`~atoll.persistence.relay.OutboxRelay`, handing what it relays to the application's
  :class:`~atoll.messaging.publishing.Publisher`: the broker, ``memory://``'s included;
- the unit of work, request-scoped: a new one for each handler call, which sees the call's
  :class:`~atoll.messaging.envelope.Delivery`.
"""

# No `from __future__ import annotations` here: the factories below are made per service, and
# their hints must name that service's keys when they are defined, not when they are read.

import importlib
from typing import Annotated, Any

from atoll.errors import ConfigError
from atoll.kernel.app import App
from atoll.kernel.health import Readiness
from atoll.kernel.providers import Named, Scope
from atoll.messaging.envelope import Delivery
from atoll.messaging.publishing import Publisher
from atoll.persistence.inboxes import Inboxes
from atoll.persistence.options import ADAPTERS, DatabaseOptions
from atoll.persistence.ports import Database
from atoll.persistence.relay import OutboxRelay
from atoll.persistence.repository import Repository
from atoll.persistence.schema import Schema
from atoll.persistence.unit_of_work import UnitOfWork, cached_repositories

__all__ = ["ADAPTERS", "DatabaseDeclaration", "open_database"]


def open_database(
    options: DatabaseOptions, schema: Schema, service: str, *, section: str = "db"
) -> Database:
    """The database adapter for ``options``' URL; nothing is connected until it starts.

    ``section`` names the options' section, which the adapter's messages name flags by.

    Raises:
        ConfigError: the URL's scheme is not one atoll has an adapter for.
        MissingDependencyError: the adapter's library is not installed.
    """
    url = options.url_for(service)
    scheme = url.partition(":")[0].partition("+")[0].lower()
    if scheme not in ADAPTERS:
        raise ConfigError(
            f"the database URL of {service} starts with {scheme + ':'!r}, which no adapter "
            f"reads; use one of {', '.join(f'{s}://' for s in ADAPTERS)} "
            "(postgresql+asyncpg://user@host/name, sqlite+aiosqlite:///file.db)"
        )
    module_name, class_name = ADAPTERS[scheme]
    module = importlib.import_module(module_name)
    database: Database = getattr(module, class_name)(options, schema, service, section=section)
    return database


class DatabaseDeclaration:
    """What a service keeps, and the unit-of-work type its handlers ask for.

    Args:
        schema: the aggregates and where their migrations live.
        unit_of_work: the service's :class:`UnitOfWork` subclass (or the class itself).
        repositories: implementations of repository ports the unit of work annotates.

    Raises:
        ConfigError: ``unit_of_work`` is not a UnitOfWork class, or annotates what it
            cannot make.
    """

    def __init__(
        self,
        schema: Schema,
        unit_of_work: type[UnitOfWork] = UnitOfWork,
        repositories: dict[Any, type[Repository[Any]]] | None = None,
    ) -> None:
        if not issubclass(unit_of_work, UnitOfWork):
            raise ConfigError(
                f"{unit_of_work!r:.60} is not a UnitOfWork class; subclass "
                "atoll.persistence.UnitOfWork and name its repositories as annotations"
            )
        self.schema = schema
        self.unit_of_work = unit_of_work
        self.repositories = dict(repositories or {})
        cached_repositories(unit_of_work, self.repositories)  # refused now, or read once

    def install(self, app: App, *, service: str, section: str) -> None:
        """Provide the options, the database, its relay and the unit of work in ``app``.

        Raises:
            ConfigError: another service of ``app`` uses the same unit-of-work class.
        """
        if self.unit_of_work in app.registry:
            name = self.unit_of_work.__qualname__
            raise ConfigError(
                f"service {service!r} asks for {name}, which another service of {app.name!r} "
                f"uses for its own database; give each service its own subclass "
                f"(class {service.title()}UnitOfWork({name}): ...)"
            )
        app.options(section, DatabaseOptions)
        schema = self.schema
        make_unit = self.unit_of_work
        repositories = self.repositories

        def database(
            options: Annotated[DatabaseOptions, Named(section)],
            readiness: Readiness,
            inboxes: Inboxes,
        ) -> Database:
            opened = open_database(options, schema, service, section=section)

            async def ping() -> None:
                await opened.ping()

            readiness.add(f"database {service}", ping)
            inboxes.add(service, opened)
            return opened

        def relay(
            options: Annotated[DatabaseOptions, Named(section)],
            db: Annotated[Database, Named(service)],
            publisher: Publisher,
        ) -> OutboxRelay:
            return OutboxRelay(
                db,
                publisher,
                batch=options.relay_batch,
                interval=options.relay_interval,
                enabled=options.relay,
            )

        def unit_of_work(db: Annotated[Database, Named(service)], delivery: Delivery) -> UnitOfWork:
            return make_unit(db, delivery, repositories)

        if Inboxes not in app.registry:  # one for every service of the application
            app.provide(Inboxes)
        app.provide(database, name=service)
        app.provide(relay, name=service)
        app.provide(unit_of_work, scope=Scope.REQUEST, provides=make_unit)
