"""The SQL of a find by several values: one ``IN`` query per 900 values, none for no value."""

from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite

from atoll.adapters.sqlalchemy import SqlDatabase
from atoll.adapters.sqlalchemy.finds import MOST_VALUES_PER_QUERY, find_in_queries
from atoll.adapters.sqlalchemy.mapping import AGGREGATES
from atoll.persistence.options import DatabaseOptions
from atoll.persistence.schema import Schema


@dataclass
class Lap:
    id: int | None
    runner: int | None
    meters: int = 400


metadata = sa.MetaData()
laps = sa.Table(
    "find_laps",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("runner", sa.Integer, nullable=True),
    sa.Column("meters", sa.Integer, nullable=False),
)
SCHEMA = Schema(metadata)
LAPS = SCHEMA.map(Lap, laps)


def sql(values, dialect, **criteria) -> list[str]:
    AGGREGATES.map(LAPS)
    return [
        " ".join(str(statement.compile(dialect=dialect)).split())
        for statement in find_in_queries(LAPS, "runner", values, criteria)
    ]


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=str)
def test_the_values_are_one_in_with_the_equals_ordered_by_id(dialect):
    (text,) = sql([3, 1, 2], dialect, meters=400)
    assert "WHERE find_laps.meters = " in text
    assert "AND find_laps.runner IN (__[POSTCOMPILE_runner_1])" in text
    assert text.endswith("ORDER BY find_laps.id")


def test_none_among_the_values_is_null_as_find_has_it():
    (text,) = sql([3, None], sqlite.dialect())
    assert "find_laps.runner IN (__[POSTCOMPILE_runner_1]) OR find_laps.runner IS NULL" in text


def test_no_value_is_no_query_and_many_are_a_query_per_900():
    assert MOST_VALUES_PER_QUERY == 900
    assert sql([], sqlite.dialect()) == []
    assert len(sql(range(900), sqlite.dialect())) == 1
    assert len(sql(range(1801), sqlite.dialect())) == 3


@pytest.fixture
async def database(tmp_path):
    options = DatabaseOptions(url=f"sqlite+aiosqlite:///{tmp_path / 'laps.db'}")
    database = SqlDatabase(options, SCHEMA, "finds")
    await database.start()  # SQLite's tables are made at start: the schema has no migrations
    try:
        yield database
    finally:
        await database.stop()


@pytest.fixture
def selects(database):
    """The SELECT statements sent to the database, as they are sent."""
    sent: list[str] = []

    def count(_connection, _cursor, statement, *_):
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    yield sent
    event.remove(database.engine.sync_engine, "before_cursor_execute", count)


async def test_a_find_past_the_bound_is_split_and_its_results_joined_in_id_order(database, selects):
    # The runners of the ids descending: each query of a chunk finds ids of the other's range.
    rows = [{"id": n, "runner": 2000 - n, "meters": 400} for n in range(1, 2000)]
    rows.append({"id": 2000, "runner": None, "meters": 400})
    async with database.engine.begin() as connection:
        await connection.execute(sa.insert(laps), rows)
    transaction = await database.begin()
    try:
        values = [*range(2000), None, *range(5000, 5500)]  # 1999 found, 1 null, 501 missing
        found = await transaction.find_in(LAPS, "runner", values, {})
        assert [lap.id for lap in found] == list(range(1, 2001))
        assert len(selects) == 3  # 2501 values, 900 to a query
        selects.clear()
        assert await transaction.find_in(LAPS, "runner", [], {}) == []
        assert selects == []
    finally:
        await transaction.rollback()
