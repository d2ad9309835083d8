"""A SQL database brought up to date at start, or not, as --db-migrate says."""

from dataclasses import dataclass

import sqlalchemy as sa

from atoll.adapters.sqlalchemy import SqlDatabase
from atoll.persistence.options import DatabaseOptions
from atoll.persistence.schema import Schema


@dataclass
class Crate:
    id: int | None


metadata = sa.MetaData()
crates = sa.Table("migrate_crates", metadata, sa.Column("id", sa.Integer, primary_key=True))


def schema(migrations=None):
    s = Schema(metadata, migrations=migrations)
    s.map(Crate, crates)
    return s


async def tables_of(database):
    async with database.engine.connect() as connection:
        return set(await connection.run_sync(lambda c: sa.inspect(c).get_table_names()))


async def test_never_leaves_the_tables_to_the_migrations(tmp_path):
    options = DatabaseOptions(data_dir=str(tmp_path), migrate="never")
    database = SqlDatabase(options, schema(), "crates")
    await database.start()
    try:
        assert await tables_of(database) == set()
    finally:
        await database.stop()


async def test_a_schema_whose_migrations_directory_is_missing_gets_its_tables_created(tmp_path):
    options = DatabaseOptions(data_dir=str(tmp_path))
    database = SqlDatabase(options, schema(tmp_path / "nowhere"), "crates")
    await database.start()
    try:
        assert {"migrate_crates", "atoll_outbox", "atoll_inbox"} <= await tables_of(database)
    finally:
        await database.stop()
