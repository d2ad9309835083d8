"""Pages by key in SQL: the query :meth:`SqlTransaction.page` runs for a keyset.

A page after a key is ``WHERE (name, id) > (:name, :id) ORDER BY name, id LIMIT :n``: a
range on the order's index, as cheap for the thousandth page as for the first, and never
shifted by what is added or removed before the key (an offset would be). PostgreSQL and
SQLite (3.15 and later) compare rows of values; an order mixing ascending and descending
attributes cannot be one row comparison, and is spelled out:
``name < :name OR (name = :name AND id > :id)``. A page backward is read in the reverse
order, from its bound, and turned around.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import orm

from atoll.errors import InvalidPageError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from atoll.persistence.pages import Key, Keyset
    from atoll.persistence.schema import Mapping

__all__ = ["page_query"]


def page_query(mapping: Mapping, criteria: dict[str, object], keyset: Keyset) -> sa.Select[Any]:
    """The aggregates equal to ``criteria`` inside ``keyset``'s bounds, ``limit`` of them.

    Read in the order when ``keyset`` is forward, in the reverse order when it is backward:
    the caller turns those around.

    Raises:
        InvalidPageError: the order names an attribute that is no column (``events``).
    """
    mapper: orm.Mapper[Any] = sa.inspect(mapping.aggregate)
    unmapped = [key.name for key in keyset.order if key.name not in mapper.columns]
    if unmapped:
        raise InvalidPageError(
            f"{mapping.aggregate.__name__} keeps no column for {', '.join(unmapped)} to order "
            f"a page by; order by its columns: {', '.join(sorted(mapper.columns.keys()))}"
        )
    columns = [mapper.columns[key.name] for key in keyset.order]
    statement: sa.Select[Any] = sa.select(mapping.aggregate).filter_by(**criteria)
    if keyset.after is not None:
        statement = statement.where(_beyond(keyset.order, columns, keyset.after, later=True))
    if keyset.before is not None:
        statement = statement.where(_beyond(keyset.order, columns, keyset.before, later=False))
    ordering = [
        column.desc() if key.descending != keyset.backward else column.asc()
        for key, column in zip(keyset.order, columns, strict=True)
    ]
    return statement.order_by(*ordering).limit(keyset.limit)


def _beyond(
    order: Sequence[Key],
    columns: Sequence[sa.ColumnElement[Any]],
    key: Sequence[object],
    *,
    later: bool,
) -> sa.ColumnElement[bool]:
    """The rows whose key comes after ``key`` in ``order`` (``later``), or before it."""
    values = [sa.literal(value, column.type) for value, column in zip(key, columns, strict=True)]
    directions = {part.descending for part in order}
    if len(columns) > 1 and len(directions) == 1:
        # One row comparison, which the order's index serves as a range.
        rows, bound = sa.tuple_(*columns), sa.tuple_(*values)
        return rows > bound if later != directions.pop() else rows < bound
    either: list[sa.ColumnElement[bool]] = []
    for index, (part, column, value) in enumerate(zip(order, columns, values, strict=True)):
        past = column > value if later != part.descending else column < value
        equal = [columns[before] == values[before] for before in range(index)]
        either.append(sa.and_(*equal, past))
    return sa.or_(*either)
