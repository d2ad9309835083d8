"""API tokens in a service's SQL database: the store contract, the table, two processes.

The store passes the contract on SQLite and on PostgreSQL (a database made for each test and
dropped after); a service's ``atoll_api_tokens`` table is made with its other tables; and a
token revoked by one process is refused by another on the same database once its cache has
expired, with the cache's clock moved by the test.
"""

import uuid

import pytest
import sqlalchemy as sa

import atoll
import atoll.testing
from atoll.adapters.sqlalchemy import SqlDatabase
from atoll.adapters.sqlalchemy.api_tokens import SqlApiTokenStore
from atoll.persistence.options import DatabaseOptions
from atoll.persistence.schema import Schema
from atoll.security.api_tokens import ApiTokens
from atoll.testing.api_token_contract import ApiTokenStoreContract
from tests.adapters.sqlalchemy.test_database import admin


async def started(url):
    database = SqlDatabase(DatabaseOptions(url=url, migrate="always"), Schema(), "tokens")
    await database.start()
    return database


class TestSqlite(ApiTokenStoreContract):
    @pytest.fixture
    async def store(self, tmp_path):
        database = await started(f"sqlite+aiosqlite:///{tmp_path / 'tokens.db'}")
        try:
            yield SqlApiTokenStore(database)
        finally:
            await database.stop()


@pytest.mark.services("postgres")
class TestPostgres(ApiTokenStoreContract):
    @pytest.fixture
    async def store(self):
        name = f"atoll_tokens_{uuid.uuid4().hex[:12]}"
        await admin(f'CREATE DATABASE "{name}"')
        try:
            database = await started(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")
            try:
                yield SqlApiTokenStore(database)
            finally:
                await database.stop()
        finally:
            await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_the_table_holds_the_digest_and_never_the_token(tmp_path):
    database = await started(f"sqlite+aiosqlite:///{tmp_path / 'tokens.db'}")
    try:
        token, _ = await ApiTokens(SqlApiTokenStore(database)).issue("user-1", ["a"])
        async with database.engine.connect() as connection:
            rows = (await connection.execute(sa.text("SELECT * FROM atoll_api_tokens"))).all()
    finally:
        await database.stop()
    assert len(rows) == 1
    assert token not in repr(rows)
    assert token[4:] not in repr(rows)


def keeping_service():
    service = atoll.Service("keeper")
    service.database(atoll.Schema(sa.MetaData()))

    @service.get("/me")
    async def me(identity: atoll.Identity) -> str:
        return identity.subject

    return service


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


async def test_a_revocation_reaches_another_process_within_the_cache_bound(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'keeper.db'}"
    argv = ["--no-auth-anonymous", "--auth-api-tokens", "--db-url", url]
    async with (
        atoll.testing.run(keeping_service(), argv=argv) as first,
        atoll.testing.run(keeping_service(), argv=[*argv, "--no-db-relay"]) as second,
    ):
        here, there = first.container.get(ApiTokens), second.container.get(ApiTokens)
        clock = Clock()
        here.clock = there.clock = clock
        token, record = await here.issue("user-1")
        headers = {"x-api-key": token}
        assert (await second.client.get("/me", headers=headers)).json() == "user-1"
        await here.revoke(record.id)
        assert (await first.client.get("/me", headers=headers)).status_code == 401
        clock.now += there.cache - 0.5
        assert (await second.client.get("/me", headers=headers)).json() == "user-1"
        clock.now += 0.5
        refused = await second.client.get("/me", headers=headers)
        assert refused.status_code == 401
        assert (
            'error_description="the API token has been revoked"'
            in (refused.headers["www-authenticate"])
        )


async def test_a_service_without_a_database_keeps_its_tokens_in_memory():
    service = atoll.Service("plain")
    async with atoll.testing.run(service) as running:
        assert "MemoryApiTokenStore" in repr(running.container.get(ApiTokens))
