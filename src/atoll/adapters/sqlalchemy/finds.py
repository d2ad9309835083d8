"""Finds by several values in SQL: the queries :meth:`SqlTransaction.find_in` runs.

The aggregates whose attribute is any of several values are one
``SELECT ... WHERE attribute IN (:v1, :v2, ...) AND <equals> ORDER BY id``, each value a
parameter of the statement. A statement takes a bounded number of parameters: 32,766 on
SQLite since 3.32 (999 before it), 32,767 through asyncpg. So that every SQLite build and
PostgreSQL answer, the values go :data:`MOST_VALUES_PER_QUERY` to a query: a level of up to
900 parents is one statement, a full page of 1,000 is two. ``None`` among the values is
``IS NULL``, as ``find``'s ``attribute=None`` is: ``IN (NULL)`` would match nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import orm

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from atoll.persistence.schema import Mapping

__all__ = ["MOST_VALUES_PER_QUERY", "find_in_queries"]

MOST_VALUES_PER_QUERY = 900
"""The most values one query of :func:`find_in_queries` holds: under SQLite's oldest bound
(999 parameters), with room for the equals filtered by."""


def find_in_queries(
    mapping: Mapping,
    attribute: str,
    values: Sequence[object],
    criteria: dict[str, object],
) -> Iterator[sa.Select[Any]]:
    """One query for each :data:`MOST_VALUES_PER_QUERY` of ``values``, each in id order.

    ``attribute`` and ``criteria`` name mapped columns (the caller checked them); ``values``
    holds each value once, so that no aggregate is found by two queries.
    """
    mapper: orm.Mapper[Any] = sa.inspect(mapping.aggregate)
    column = mapper.columns[attribute]
    for start in range(0, len(values), MOST_VALUES_PER_QUERY):
        chunk = values[start : start + MOST_VALUES_PER_QUERY]
        present = [value for value in chunk if value is not None]
        matched: sa.ColumnElement[bool] = column.in_(present)
        if len(present) < len(chunk):
            matched = sa.or_(matched, column.is_(None))
        yield (
            sa.select(mapping.aggregate)
            .filter_by(**criteria)
            .where(matched)
            .order_by(mapping.table.c[mapping.id])
        )
