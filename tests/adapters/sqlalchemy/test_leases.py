"""Leases in SQL: each database's clock says when one runs out, and the table is atoll's own.

The behaviour every database shares is the database contract's (``test_contract.py``); here,
what differs by database: PostgreSQL judges by its own clock, so that instances on hosts whose
clocks disagree agree on the holder; SQLite by the process's, as its file has one host.
"""

import asyncio
import time

import pytest
import sqlalchemy as sa

from atoll.adapters.sqlalchemy import SqlDatabase
from atoll.adapters.sqlalchemy.leases import LEASES, add_lease_table
from atoll.persistence.options import DatabaseOptions
from atoll.persistence.schema import Schema

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@pytest.fixture
async def sqlite(tmp_path):
    database = SqlDatabase(
        DatabaseOptions(url=f"sqlite+aiosqlite:///{tmp_path / 'leases.db'}"), Schema(), "leases"
    )
    await database.start()  # SQLite's tables are made at start
    yield database
    await database.stop()


@pytest.fixture
async def postgres():
    metadata = sa.MetaData()
    database = SqlDatabase(DatabaseOptions(url=POSTGRES, migrate="never"), Schema(metadata), "l")
    await database.start()
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
    await database.create_tables()
    yield database
    await database.stop()


def test_the_table_is_added_to_a_metadata_once():
    metadata = sa.MetaData()
    table = add_lease_table(metadata)
    assert add_lease_table(metadata) is table
    assert table.name == LEASES == "atoll_leases"
    assert [c.name for c in table.primary_key] == ["name"]


async def test_sqlite_judges_by_the_process_clock(sqlite):
    leases = sqlite.leases
    assert await leases.acquire("timers", "a", 60)
    leases.clock = lambda: time.time() + 3600  # this host's clock, an hour on
    assert await leases.holder("timers") is None
    assert await leases.acquire("timers", "b", 60)


@pytest.mark.services("postgres")
async def test_postgres_judges_by_its_own_clock_not_the_process_s(postgres):
    leases = postgres.leases
    leases.clock = lambda: time.time() + 3600  # a host whose clock is an hour ahead
    assert await leases.acquire("timers", "a", 60)
    assert await leases.holder("timers") == "a"
    assert not await leases.acquire("timers", "b", 60)
    async with postgres.engine.connect() as connection:
        left = await connection.scalar(
            sa.text("SELECT expires_at - extract(epoch FROM clock_timestamp()) FROM atoll_leases")
        )
    assert 0 < left <= 60


@pytest.mark.services("postgres")
async def test_postgres_takes_a_lease_at_a_strict_isolation_level_too():
    # A holder racing another's commit is refused, not failed to serialize.
    database = SqlDatabase(
        DatabaseOptions(url=POSTGRES, migrate="never", isolation="serializable"),
        Schema(sa.MetaData()),
        "l",
    )
    await database.start()
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(database.metadata.drop_all)
        await database.create_tables()
        holders = [f"instance-{n}" for n in range(8)]
        for _ in range(5):
            taken = await _race(database, holders)
            assert taken.count(True) == 1
            await database.leases.release("race", holders[taken.index(True)])
    finally:
        await database.stop()


async def _race(database, holders):
    return await asyncio.gather(*(database.leases.acquire("race", h, 30) for h in holders))
