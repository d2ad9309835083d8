"""The SQL of a page: one query by key, a row comparison where it can be, never an offset."""

from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

import atoll
from atoll.adapters.sqlalchemy import SqlDatabase
from atoll.adapters.sqlalchemy.mapping import AGGREGATES
from atoll.adapters.sqlalchemy.pages import page_query
from atoll.errors import InvalidPageError
from atoll.persistence.options import DatabaseOptions
from atoll.persistence.pages import Key, Keyset
from atoll.persistence.schema import Schema


@dataclass
class Lap:
    id: int | None
    name: str
    meters: int
    events: list[object] = field(default_factory=list, compare=False, repr=False)


metadata = sa.MetaData()
laps = sa.Table(
    "page_laps",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(20), nullable=False),
    sa.Column("meters", sa.Integer, nullable=False),
)
SCHEMA = Schema(metadata)
LAPS = SCHEMA.map(Lap, laps)


def sql(keyset, dialect=None, **criteria):
    AGGREGATES.map(LAPS)
    statement = page_query(LAPS, criteria, keyset)
    return " ".join(str(statement.compile(dialect=dialect or postgresql.dialect())).split())


def test_a_page_after_a_key_of_one_direction_is_one_row_comparison():
    text = sql(Keyset((Key("name"), Key("id")), 11, after=("b", 3)), meters=400)
    assert "WHERE page_laps.meters = " in text
    assert "AND (page_laps.name, page_laps.id) > (" in text
    assert text.endswith("ORDER BY page_laps.name ASC, page_laps.id ASC LIMIT %(param_3)s::INTEGER")
    assert "OFFSET" not in text
    descending = sql(Keyset((Key("name", True), Key("id", True)), 11, after=("b", 3)))
    assert "(page_laps.name, page_laps.id) < (" in descending


def test_an_order_of_mixed_directions_is_spelled_out():
    text = sql(Keyset((Key("meters", True), Key("id")), 3, before=(400, 7)))
    assert (
        "WHERE page_laps.meters > %(param_1)s::INTEGER OR page_laps.meters = %(param_1)s::INTEGER "
        "AND page_laps.id < %(param_2)s::INTEGER ORDER BY page_laps.meters DESC, page_laps.id ASC"
    ) in text


def test_a_page_backward_is_read_in_the_reverse_order_from_its_bound():
    text = sql(Keyset((Key("id"),), 4, before=(9,), backward=True))
    assert "WHERE page_laps.id < %(param_1)s::INTEGER ORDER BY page_laps.id DESC LIMIT" in text


def test_sqlite_is_given_no_offset_but_zero():
    text = sql(Keyset((Key("name"), Key("id")), 11, after=("b", 3)), sqlite.dialect())
    assert "(page_laps.name, page_laps.id) > (?, ?)" in text
    assert text.endswith("LIMIT ? OFFSET ?")  # SQLAlchemy's SQLite form: OFFSET 0


async def test_an_order_by_a_field_that_is_no_column_is_refused(tmp_path):
    class Units(atoll.UnitOfWork):
        laps: atoll.Repository[Lap]

    options = DatabaseOptions(url=f"sqlite+aiosqlite:///{tmp_path / 'laps.db'}")
    database = SqlDatabase(options, SCHEMA, "laps")
    await database.start()
    try:
        async with Units(database) as uow:
            with pytest.raises(InvalidPageError, match="keeps no column for events to order"):
                await uow.laps.page(first=2, order_by="events")
    finally:
        await database.stop()
