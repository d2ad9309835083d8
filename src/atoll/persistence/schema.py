"""The schema: which aggregates a service keeps, and how a database adapter finds their parts.

A service's infrastructure layer describes its aggregates once::

    metadata = sa.MetaData()
    runs = sa.Table("runs", metadata, sa.Column("id", sa.Integer, primary_key=True), ...)
    schema = Schema(metadata, migrations=Path(__file__).parent / "migrations")
    schema.map(Run, runs, version="version")

Declaring it changes nothing: the SQL adapter maps the dataclasses (imperatively, so that the
model layer imports nothing) when its database starts, and the in-memory adapter needs only
the names of each aggregate's id and version attributes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atoll.errors import ConfigError

__all__ = ["Mapping", "Schema", "bookkeeping"]

_BOOKKEEPING: dict[type, frozenset[str]] = {}
"""The fields of each aggregate mapped so far that only persistence reads: see bookkeeping."""


def bookkeeping(aggregate: type) -> frozenset[str]:
    """The fields of ``aggregate`` that are persistence's business, never a caller's.

    Its ``events`` (what it raised, until its unit of work commits them) and its version,
    for an aggregate some schema maps; nothing for any other class. Answers leave them out.
    """
    return _BOOKKEEPING.get(aggregate, frozenset())


@dataclass(frozen=True, slots=True)
class Mapping:
    """How one aggregate type is kept.

    Attributes:
        aggregate: the aggregate's class, a dataclass.
        table: its table (a ``sqlalchemy.Table``) for the SQL adapter; ``None`` where only
            the in-memory adapter is used.
        id: the attribute that identifies an aggregate; ``None`` in it when it is added means
            the database assigns it.
        version: the attribute counting an aggregate's committed changes; each update checks
            it, so of two concurrent changes one wins and the other is a conflict. ``None``
            for aggregates that are only ever added.
    """

    aggregate: type
    table: Any = None
    id: str = "id"
    version: str | None = None

    def stream(self, aggregate: object) -> str:
        """The ordering key of the events ``aggregate`` raises: ``"Run:42"``."""
        return f"{self.aggregate.__name__}:{getattr(aggregate, self.id)}"


class Schema:
    """A service's aggregates, and where its database migrations live.

    Args:
        metadata: the ``sqlalchemy.MetaData`` the tables belong to (for the SQL adapter and
            its migrations); ``None`` for a schema only the in-memory adapter keeps.
        migrations: the directory of the service's Alembic migrations.
    """

    def __init__(self, metadata: Any = None, *, migrations: str | Path | None = None) -> None:
        self.metadata = metadata
        self.migrations = Path(migrations) if migrations is not None else None
        self._mappings: dict[type, Mapping] = {}

    def map(
        self,
        aggregate: type,
        table: Any = None,
        *,
        id: str = "id",  # noqa: A002 - the attribute's usual name
        version: str | None = None,
    ) -> Mapping:
        """Keep ``aggregate`` (a dataclass) in ``table``.

        Raises:
            ConfigError: ``aggregate`` is not a dataclass, is mapped already, or has no
                attribute named ``id`` or ``version``.
        """
        if not dataclasses.is_dataclass(aggregate) or not isinstance(aggregate, type):
            raise ConfigError(
                f"{aggregate!r:.60} is not a dataclass; an aggregate is a plain @dataclass, "
                "which the database adapters map without it importing anything"
            )
        if aggregate in self._mappings:
            raise ConfigError(f"{aggregate.__qualname__} is mapped already; map it once")
        names = {field.name for field in dataclasses.fields(aggregate)}
        for role, name in (("id", id), ("version", version)):
            if name is not None and name not in names:
                raise ConfigError(
                    f"{aggregate.__qualname__} has no field {name!r} to use as its {role}; "
                    f"its fields are {', '.join(sorted(names))}: pass {role}=... naming one"
                )
        mapping = Mapping(aggregate, table, id, version)
        self._mappings[aggregate] = mapping
        hidden = {name for name in ("events", version) if name in names}
        _BOOKKEEPING[aggregate] = _BOOKKEEPING.get(aggregate, frozenset()) | hidden
        return mapping

    @property
    def mappings(self) -> list[Mapping]:
        """Every mapping, in the order they were declared."""
        return list(self._mappings.values())

    def mapping(self, aggregate: type) -> Mapping:
        """The mapping of ``aggregate``.

        Raises:
            ConfigError: it is not mapped.
        """
        try:
            return self._mappings[aggregate]
        except KeyError:
            known = ", ".join(m.aggregate.__qualname__ for m in self._mappings.values()) or "none"
            raise ConfigError(
                f"{getattr(aggregate, '__qualname__', aggregate)} is not mapped in this "
                f"service's schema (mapped: {known}); declare it with schema.map(...)"
            ) from None

    def __repr__(self) -> str:
        return f"Schema({', '.join(m.aggregate.__name__ for m in self._mappings.values())})"
