"""The options of a service's database: where it is, and how it treats concurrency.

A service that declares a database (``service.database(schema)``) gets them as the ``db``
section (``--db-url``, ``RUNS_DB_URL``); in a system, each service's are ``<service>_db``
(``--runs-db-url``, ``[runs_db]`` in the config file), so that each keeps its own database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from atoll.kernel.options import masked_url, option

ADAPTERS = {
    "memory": ("atoll.persistence.memory", "MemoryDatabase"),
    "sqlite": ("atoll.adapters.sqlalchemy", "SqlDatabase"),
    "postgresql": ("atoll.adapters.sqlalchemy", "SqlDatabase"),
    "postgres": ("atoll.adapters.sqlalchemy", "SqlDatabase"),
}
"""The database adapter of each URL scheme (before any ``+driver``): its module and class.

Loaded by name, as the server adapters are: an adapter module whose library is missing raises
:class:`~atoll.errors.MissingDependencyError` itself, naming the extra.
"""

__all__ = ["ADAPTERS", "DatabaseOptions", "Isolation", "database_section"]

Isolation = Literal["read committed", "repeatable read", "serializable"]


def database_section(service: str, *, alone: bool = False) -> str:
    """The options section of ``service``'s database: ``db`` alone, ``users_db`` in a system.

    In a system each service keeps a section of its own, named after it with ``-`` as ``_``
    (``[shop_api_db]``, ``--shop-api-db-url``): the name that composes it, the one ``atoll
    db`` reads and the one the deployment's files write.
    """
    return "db" if alone else f"{service.replace('-', '_')}_db"


@dataclass(frozen=True)
class DatabaseOptions:
    """A service's database."""

    url: str = option(
        "",
        help=(
            "the database: postgresql+asyncpg://user:password@host/name, "
            "sqlite+aiosqlite:///path, or memory://; empty for SQLite in data-dir"
        ),
    )
    data_dir: str = option("data", help="the directory of the embedded SQLite database")
    isolation: Isolation = option(
        "read committed", help="the isolation level of each unit of work (PostgreSQL)"
    )
    conflict_retries: int = option(
        8, help="how many times a handler runs again after a concurrent change won"
    )
    conflict_backoff: float = option(
        0.005, help="seconds before the first run again; it doubles each time, with jitter"
    )
    migrate: Literal["embedded", "always", "never"] = option(
        "embedded",
        help=(
            "bring the tables up to date at start (migrations to the head, or the tables "
            "created when there are none): embedded = on SQLite, and elsewhere refuse to "
            "start on tables behind the schema; always; or never (nor check: the tables "
            "are the application's business)"
        ),
    )
    pool_size: int = option(5, help="connections kept open to the database")
    connect_timeout: float = option(
        5.0,
        help="seconds to wait for a connection, and SQLite's busy timeout (0: for ever)",
    )
    relay: bool = option(
        default=True, help="relay the outbox from this process (off for a process that only reads)"
    )
    relay_batch: int = option(100, help="outbox records a relay claims at once")
    relay_interval: float = option(
        0.5, help="seconds between looks at the outbox when nothing here wakes the relay"
    )

    def __post_init__(self) -> None:
        for name in ("conflict_backoff", "connect_timeout", "relay_interval"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                msg = f"{name} must be a finite number of seconds, 0 or more; got {value}"
                raise ValueError(msg)
        for name in ("pool_size", "relay_batch"):
            if getattr(self, name) < 1:
                msg = f"{name} must be 1 or more; got {getattr(self, name)}"
                raise ValueError(msg)
        if self.conflict_retries < 0:
            msg = f"conflict_retries must be 0 or more; got {self.conflict_retries}"
            raise ValueError(msg)
        scheme = self.url.partition(":")[0].partition("+")[0].lower()
        if self.url and ("://" not in self.url or scheme not in ADAPTERS):
            msg = (
                f"url {masked_url(self.url)!r} names no database atoll has an "
                f"adapter for; use one of {', '.join(f'{s}://' for s in ADAPTERS)} "
                "(postgresql+asyncpg://user@host/name, sqlite+aiosqlite:///file.db, memory://)"
            )
            raise ValueError(msg)

    def url_for(self, service: str) -> str:
        """The URL to connect to: ``url``, or the SQLite file of ``service`` in ``data_dir``."""
        if self.url:
            return self.url
        return f"sqlite+aiosqlite:///{Path(self.data_dir) / f'{service}.db'}"
