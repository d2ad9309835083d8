"""The SQL adapter's mapping: each aggregate dataclass mapped once, to one table, or refused."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from atoll.adapters.sqlalchemy import SqlDatabase
from atoll.errors import ConfigError
from atoll.persistence.options import DatabaseOptions
from atoll.persistence.schema import Schema


def make(url: str, schema: Schema) -> SqlDatabase:
    return SqlDatabase(DatabaseOptions(url=url), schema, "runs")


def fresh_table(name: str, *columns: sa.Column, key: bool = True) -> sa.Table:
    identity = [sa.Column("id", sa.Integer, primary_key=key)]
    return sa.Table(name, sa.MetaData(), *identity, *columns)


async def start_with(tmp_path, aggregate, table, **mapped) -> SqlDatabase:
    schema = Schema(table.metadata if isinstance(table, sa.Table) else None)
    schema.map(aggregate, table, **mapped)
    database = make(f"sqlite+aiosqlite:///{tmp_path}/m.db", schema)
    await database.start()
    return database


@dataclass
class Split:
    id: int | None = None


splits = fresh_table("mapping_splits")


async def test_many_databases_share_a_class_s_mapping_to_its_table(tmp_path):
    for n in range(3):
        schema = Schema(splits.metadata)
        mapping = schema.map(Split, splits)
        database = make(f"sqlite+aiosqlite:///{tmp_path}/{n}.db", schema)
        await database.start()
        transaction = await database.begin()
        split = Split()
        await transaction.add(mapping, split)
        await transaction.commit([], None)
        assert split.id == 1
        await database.stop()


async def test_a_class_mapped_to_another_table_is_a_config_error(tmp_path):
    @dataclass
    class Lap:
        id: int | None = None

    first = await start_with(tmp_path, Lap, fresh_table("laps"))
    await first.stop()
    with pytest.raises(ConfigError, match=r"Lap is mapped to table 'laps' \(version none\) alr"):
        await start_with(tmp_path, Lap, fresh_table("other_laps"))
    with pytest.raises(ConfigError, match=r"table 'laps' \(version 'id'\); a class is kept in"):
        await start_with(tmp_path, Lap, first.schema.mapping(Lap).table, version="id")


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        ("no table", "is mapped to None, which is no sqlalchemy.Table"),
        ("no key", "table 'nokey' of .*Broken has no primary key; give its id column primary"),
        ("no version column", "has no column 'version' for its version; its columns are id"),
        ("slots", "has __slots__, where SQLAlchemy cannot keep the state"),
        ("no default", r"Broken\.extra is no column of table 'broken' and has no default"),
    ],
)
async def test_an_aggregate_that_cannot_be_mapped_is_a_config_error(tmp_path, problem, expected):
    if problem == "slots":

        @dataclass(slots=True)
        class Broken:
            id: int | None = None
    elif problem == "no default":

        @dataclass
        class Broken:  # type: ignore[no-redef]
            extra: str
            id: int | None = None
    else:

        @dataclass
        class Broken:  # type: ignore[no-redef]
            id: int | None = None
            version: int = 0

    table = {
        "no table": None,
        "no key": fresh_table("nokey", key=False),
    }.get(problem, fresh_table("broken"))
    mapped = {"version": "version"} if problem == "no version column" else {}
    with pytest.raises(ConfigError, match=expected):
        await start_with(tmp_path, Broken, table, **mapped)


@dataclass
class Lot:
    id: int | None = None
    version: int | None = None


lots = fresh_table("mapping_lots", sa.Column("version", sa.Integer, nullable=False))


async def test_a_new_aggregate_without_a_version_starts_at_0(tmp_path):
    schema = Schema(lots.metadata)
    mapping = schema.map(Lot, lots, version="version")
    database = make(f"sqlite+aiosqlite:///{tmp_path}/lots.db", schema)
    await database.start()
    try:
        transaction = await database.begin()
        lot = Lot()
        await transaction.add(mapping, lot)
        await transaction.commit([], None)
        assert lot.version == 0
    finally:
        await database.stop()
