"""The examples of docs/reference/db.md run as shown, on SQLite and on PostgreSQL.

The page declares a schema whose migrations live beside its module, then writes, applies and
undoes a migration from Python. The test runs both blocks in one namespace: ``__file__`` is a
module in a temporary directory, ``metadata`` has the runs table with the distance column the
page's migration adds, and the database, at the page's ``postgresql+asyncpg://app@db/runs``,
is a SQLite file or a PostgreSQL database of the test's own, its first migration applied.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from atoll.adapters.sqlalchemy.migrations import Migrated, Migrations, Step
from atoll.persistence.schema import Schema
from tests.docs.pages import REFERENCE, python_blocks

PAGE = REFERENCE / "db.md"
PAGE_URL = "postgresql+asyncpg://app@db/runs"
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432"


def on_postgres(statement: str) -> None:
    async def go() -> None:
        engine = create_async_engine(
            f"{POSTGRES}/postgres", poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        try:
            async with engine.connect() as connection:
                await connection.execute(sa.text(statement))
        finally:
            await engine.dispose()

    asyncio.run(go())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services("postgres"))])
def url(request, tmp_path):
    """An empty database: a SQLite file, or a PostgreSQL database dropped after the test."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
        return
    name = f"atoll_db_reference_{uuid.uuid4().hex[:12]}"
    on_postgres(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        on_postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def runs_table(metadata: sa.MetaData, *, distance: bool) -> sa.Table:
    columns = [sa.Column("id", sa.Integer, primary_key=True), sa.Column("meters", sa.Integer)]
    if distance:
        columns.append(sa.Column("distance", sa.Float, nullable=True))
    return sa.Table("runs", metadata, *columns)


def test_the_page_has_the_two_blocks_read_here():
    assert len(python_blocks(PAGE)) == 2


def test_a_migration_is_written_applied_and_undone_from_code(url, tmp_path, capsys):
    declare, use = python_blocks(PAGE)
    assert use.count(PAGE_URL) == 1, use
    directory = tmp_path / "migrations"
    before = sa.MetaData()  # the schema as it was when its first migration was written
    runs_table(before, distance=False)
    first = Migrations(Schema(before, migrations=directory), url, "runs")
    written = first.revision("first")
    assert written is not None
    first.upgrade()

    metadata = sa.MetaData()
    runs_table(metadata, distance=True)
    namespace = {"__file__": str(tmp_path / "infrastructure.py"), "metadata": metadata}
    namespace.update(Path=Path, Schema=Schema)
    exec(compile(declare, "db.md, block 1", "exec"), namespace)  # noqa: S102 - the page's own
    assert namespace["schema"].migrations == directory  # beside the module
    exec(compile(use.replace(PAGE_URL, url), "db.md, block 2", "exec"), namespace)  # noqa: S102

    migrations: Migrations = namespace["migrations"]
    scripts = sorted((directory / "versions").glob("*.py"))
    (added,) = [path for path in scripts if path != written.path]
    match = re.fullmatch(r"\d{8}_\d{4}_([0-9a-f]+)_add_distance\.py", added.name)
    assert match is not None, added.name
    new = match[1]
    assert "add_column(" in added.read_text()
    assert "'distance'" in added.read_text()

    done: Migrated = namespace["done"]
    assert done.steps == (Step(new, "add distance", upgrade=True),)
    assert done.at_head
    assert migrations.current() == (written.revision,)  # the last one undone
    assert migrations.heads() == (new,)
    assert capsys.readouterr().out.splitlines() == [  # print(migrations.history()): newest first
        f"{written.revision} -> {new} (head), add distance",
        f"<base> -> {written.revision}, first",
        "",  # the history ends with a new line, and print adds one
    ]
