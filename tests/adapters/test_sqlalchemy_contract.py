"""The SQL adapter passes the database contract, on SQLite and on PostgreSQL."""

import pytest
import sqlalchemy as sa

from atoll.testing.database_contract import DatabaseContract

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


class SqlContract(DatabaseContract):
    """The contract with tables of its own (``contract_*``), emptied before each test."""

    def tables(self):
        cls = type(self)
        if "made" not in cls.__dict__:  # once per adapter class: a class maps to one table
            cls.made = self.make_tables()
        return cls.made

    def make_tables(self):
        metadata = sa.MetaData()
        counter = sa.Table(
            "contract_counter",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("name", sa.String(50), nullable=False),
            sa.Column("value", sa.Integer, nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
        )
        entry = sa.Table(
            "contract_entry",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("counter", sa.Integer, nullable=False),
            sa.Column("note", sa.String(50), nullable=False),
        )
        return metadata, {"counter": counter, "entry": entry}

    async def prepared(self, database):
        await database.create_tables()
        async with database.engine.begin() as connection:
            for table in reversed(database.schema.metadata.sorted_tables):
                await connection.execute(table.delete())


class TestSqlite(SqlContract):
    @pytest.fixture
    def database_url(self, tmp_path):
        return f"sqlite+aiosqlite:///{tmp_path / 'contract.db'}"


@pytest.mark.services("postgres")
class TestPostgres(SqlContract):
    @pytest.fixture
    def database_url(self):
        return POSTGRES
