"""The SQL adapter passes the database contract, on SQLite and on PostgreSQL."""

import pytest
import sqlalchemy as sa

from atoll.testing.database_contract import DatabaseContract

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


class SqlContract(DatabaseContract):
    """The contract with tables of its own (``contract_*``), made anew before each test."""

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
            sa.Column("label", sa.String(50), nullable=False),
        )
        entry = sa.Table(
            "contract_entry",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("counter", sa.Integer, nullable=False),
            sa.Column("note", sa.String(50), nullable=False),
        )
        tally = sa.Table(
            "contract_tally",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("value", sa.Integer, nullable=False),
        )
        return metadata, {"counter": counter, "entry": entry, "tally": tally}

    async def prepared(self, database):
        # Made anew for each test: a table left by an older run of the suite has old columns.
        async with database.engine.begin() as connection:
            await connection.run_sync(database.schema.metadata.drop_all)
        await database.create_tables()


class TestSqlite(SqlContract):
    @pytest.fixture
    def database_url(self, tmp_path):
        return f"sqlite+aiosqlite:///{tmp_path / 'contract.db'}"


@pytest.mark.services("postgres")
class TestPostgres(SqlContract):
    @pytest.fixture
    def database_url(self):
        return POSTGRES
