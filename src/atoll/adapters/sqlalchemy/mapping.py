"""How the SQL adapter maps a service's dataclasses to their tables: imperatively, once each.

The model layer imports nothing: the adapter maps each aggregate when its database starts,
with a version column where the schema names one, and gives the fields that are no column
(an aggregate's ``events``) their defaults when SQLAlchemy loads an instance.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event, orm

from atoll.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from atoll.persistence.schema import Mapping

__all__ = ["AGGREGATES", "Aggregates", "CountingSession", "count_changes", "new_version"]


class Aggregates:
    """The aggregate classes this process maps: each once, to one table, for every database.

    SQLAlchemy instruments a mapped class itself, so that a second mapping of it would
    replace the first: every :class:`SqlDatabase` of the process (tests start many) shares
    this one registry, and keeps a class's mapping when it is to the same table.
    """

    def __init__(self) -> None:
        self._registry = orm.registry()
        self._defaults: dict[type, list[tuple[str, Callable[[], object]]]] = {}

    def map(self, mapping: Mapping) -> None:
        """Map ``mapping``'s aggregate to its table, unless it is mapped to it already.

        Raises:
            ConfigError: its table is no ``sqlalchemy.Table`` with a primary key and the id
                and version columns; the class is mapped to another table; or a field that
                is no column has no default.
        """
        cls, table = mapping.aggregate, _table(mapping)
        version = table.c[mapping.version] if mapping.version is not None else None
        mapper: orm.Mapper[Any] | None = sa.inspect(cls, raiseerr=False)
        if mapper is not None:
            if mapper.local_table is not table or mapper.version_id_col is not version:
                raise ConfigError(
                    f"{cls.__qualname__} is mapped to table {mapper.local_table.description!r} "
                    f"(version {_column(mapper.version_id_col)}) already, and a schema maps it "
                    f"to table {table.name!r} (version {_column(version)}); a class is kept in "
                    "one table in a process: map each to one Table, made once at module level"
                )
            return
        if "__slots__" in cls.__dict__:
            raise ConfigError(
                f"{cls.__qualname__} has __slots__, where SQLAlchemy cannot keep the state of "
                "each instance; drop slots=True from its @dataclass"
            )
        self._defaults[cls] = _unmapped_fields(cls, table)
        self._registry.map_imperatively(
            cls,
            table,
            version_id_col=version,
            # atoll counts the version itself (count_changes): one more per commit that
            # changes the aggregate, however many flushes the commit took.
            version_id_generator=False,
            # An unversioned row removed twice is removed: SQLAlchemy would warn.
            confirm_deleted_rows=version is not None,
        )
        if cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
            # SQLAlchemy keeps each instance's state in an attribute, which a frozen
            # dataclass refuses to set; object.__setattr__ sets it (as dataclasses do).
            manager: orm.ClassManager[Any] = orm.instrumentation.manager_of_class(cls)
            manager._state_setter = _install_state  # noqa: SLF001
        event.listen(cls, "load", self._loaded)

    def _loaded(self, aggregate: object, _context: object) -> None:
        # SQLAlchemy loads an instance without calling __init__: the fields that are no
        # column (its events) get their defaults here.
        for name, default in self._defaults[type(aggregate)]:
            object.__setattr__(aggregate, name, default())


AGGREGATES = Aggregates()
"""The one registry of the process's mapped aggregates."""


def _table(mapping: Mapping) -> sa.Table:
    """The mapping's table, checked to hold what the adapter needs."""
    name = mapping.aggregate.__qualname__
    table = mapping.table
    if not isinstance(table, sa.Table):
        raise ConfigError(
            f"{name} is mapped to {table!r:.60}, which is no sqlalchemy.Table; the SQL "
            "database needs its table: schema.map(Aggregate, sa.Table(...))"
        )
    if not table.primary_key.columns:
        raise ConfigError(
            f"table {table.name!r} of {name} has no primary key; give its id column "
            "primary_key=True"
        )
    for role, column in (("id", mapping.id), ("version", mapping.version)):
        if column is not None and column not in table.c:
            raise ConfigError(
                f"table {table.name!r} of {name} has no column {column!r} for its {role}; its "
                f"columns are {', '.join(table.c.keys())}: name the {role} column like the field"
            )
    return table


def _unmapped_fields(cls: type, table: sa.Table) -> list[tuple[str, Callable[[], object]]]:
    """The dataclass fields of ``cls`` that are no column, with what makes each's default."""
    defaults: list[tuple[str, Callable[[], object]]] = []
    for field in dataclasses.fields(cls):
        if field.name in table.c:
            continue
        factory, value = field.default_factory, field.default
        if callable(factory):
            defaults.append((field.name, factory))
        elif value is not dataclasses.MISSING:
            defaults.append((field.name, _constant(value)))
        else:
            raise ConfigError(
                f"{cls.__qualname__}.{field.name} is no column of table {table.name!r} and has "
                "no default, which it needs when it is loaded (SQLAlchemy does not call "
                "__init__); give it one (field(default_factory=list)), or a column"
            )
    return defaults


def _constant(value: object) -> Callable[[], object]:
    # A field's plain default is immutable (dataclasses refuse lists): each load shares it.
    return lambda: value


def _column(column: sa.ColumnElement[Any] | None) -> str:
    return "none" if column is None else repr(getattr(column, "name", str(column)))


def count_changes(session: orm.Session, _context: object, _instances: object) -> None:
    """Before a flush: one more on the version of each aggregate changed, once a transaction.

    SQLAlchemy checks the version it loaded on every UPDATE; a version it generated would grow
    at each flush, and a unit of work may flush more than once before it commits.
    """
    counted: set[int] = session.info.setdefault("atoll_counted", set())
    for aggregate in session.dirty:
        if id(aggregate) in counted or not session.is_modified(aggregate):
            continue
        mapper = sa.inspect(aggregate).mapper
        column = mapper.version_id_col
        if column is None:
            continue
        name = mapper.get_property_by_column(column).key
        object.__setattr__(aggregate, name, getattr(aggregate, name) + 1)
        counted.add(id(aggregate))


class CountingSession(orm.Session):
    """The session of a unit of work: it counts each changed aggregate's version once.

    The listener is the class's, registered once: listening on each session as it is made
    would cost a unit of work about 10 us more.
    """


event.listen(CountingSession, "before_flush", count_changes)


def new_version(aggregate: object) -> None:
    """A new aggregate's version: the one it holds, or 0 for ``None``."""
    mapper = sa.inspect(aggregate).mapper
    column = mapper.version_id_col
    if column is not None:
        name = mapper.get_property_by_column(column).key
        if getattr(aggregate, name) is None:
            object.__setattr__(aggregate, name, 0)


def _install_state(instance: object, state: object) -> None:
    object.__setattr__(instance, "_sa_instance_state", state)
