"""The Alembic adapter: migrations written, applied and undone, on SQLite and on PostgreSQL.

Each PostgreSQL test gets a database of its own, created from ``test`` and dropped after: the
outbox and inbox tables have fixed names, which tests running meanwhile may use too.
"""

import asyncio
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from atoll.adapters.sqlalchemy.migrations import TEMPLATE, Migrated, Migrations, Step
from atoll.errors import ConfigError, DatabaseUnavailableError
from atoll.persistence.schema import Schema

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432"


# -- fixtures and helpers -------------------------------------------------------------------------


def run_on(url: str, work):
    """Run ``work(sync_connection)`` on the database at ``url`` and return its result."""

    async def go():
        engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def tables(url: str) -> set[str]:
    return set(run_on(url, lambda c: sa.inspect(c).get_table_names()))


def columns(url: str, table: str) -> set[str]:
    return {column["name"] for column in run_on(url, lambda c: sa.inspect(c).get_columns(table))}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services("postgres"))])
def url(request, tmp_path):
    """An empty database: a SQLite file, or a PostgreSQL database dropped after the test."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'runs.db'}"
        return
    name = f"atoll_alembic_{uuid.uuid4().hex[:12]}"

    def execute(statement):
        return lambda connection: connection.execute(sa.text(statement))

    run_on(f"{POSTGRES}/test", execute(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        run_on(f"{POSTGRES}/test", execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def make_schema(directory: Path, *, distance: bool = False, table: str = "runs") -> Schema:
    metadata = sa.MetaData()
    cols = [
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("meters", sa.Integer, nullable=False),
    ]
    if distance:
        cols.append(sa.Column("distance", sa.Float, nullable=True))
    sa.Table(table, metadata, *cols)
    return Schema(metadata, migrations=directory)


@pytest.fixture
def directory(tmp_path) -> Path:
    return tmp_path / "migrations"


def migrations(directory: Path, url: str | None, **kwargs) -> Migrations:
    return Migrations(make_schema(directory, **kwargs), url, "runs")


# -- revision, upgrade, current, downgrade -------------------------------------------------------


def test_the_first_revision_creates_the_directory_from_the_template(directory, url):
    written = migrations(directory, url).revision("first")
    assert written is not None
    assert (directory / "env.py").read_text() == (TEMPLATE / "env.py").read_text()
    assert (directory / "script.py.mako").is_file()
    assert written.path.parent == directory / "versions"
    assert written.path.name.endswith(f"_{written.revision}_first.py")
    assert written.message == "first"


def test_the_first_revision_creates_the_tables_and_atoll_s_own(directory, url):
    written = migrations(directory, url).revision("first")
    assert written is not None
    script = written.path.read_text()
    atolls = (
        "atoll_outbox",
        "atoll_inbox",
        "atoll_api_tokens",
        "atoll_idempotency",
        "atoll_leases",
    )
    for table in ("runs", *atolls):
        assert f"op.create_table('{table}'" in script
        assert f"op.drop_table('{table}')" in script
    assert '"""first' in script
    assert "down_revision: str | tuple[str, ...] | None = None" in script


def test_upgrade_creates_the_tables_and_the_version_table_of_the_service(directory, url):
    m = migrations(directory, url)
    written = m.revision("first")
    assert written is not None
    assert tables(url) <= {"alembic_version_runs"}  # autogenerate compares, creates nothing
    done = m.upgrade()
    assert done == Migrated(
        (Step(written.revision, "first", upgrade=True),), (written.revision,), (written.revision,)
    )
    assert done.at_head
    assert tables(url) == {
        "runs",
        "atoll_outbox",
        "atoll_inbox",
        "atoll_api_tokens",
        "atoll_idempotency",
        "atoll_leases",
        "alembic_version_runs",
    }
    assert columns(url, "atoll_outbox") >= {"position", "id", "type", "payload", "sent_at"}
    assert m.current() == (written.revision,)


def test_current_is_empty_at_the_base_and_the_head_after_upgrade(directory, url):
    m = migrations(directory, url)
    written = m.revision("first")
    assert written is not None
    assert m.current() == ()
    assert m.heads() == (written.revision,)
    m.upgrade()
    assert m.current() == m.heads() == (written.revision,)


def test_upgrade_at_the_head_applies_nothing(directory, url):
    m = migrations(directory, url)
    m.revision("first")
    m.upgrade()
    done = m.upgrade()
    assert done.steps == ()
    assert done.at_head


def test_a_second_revision_adds_a_column_and_downgrade_minus_one_removes_it(directory, url):
    first = migrations(directory, url)
    one = first.revision("first")
    first.upgrade()
    second = migrations(directory, url, distance=True)
    two = second.revision("add distance")
    assert one is not None
    assert two is not None
    script = two.path.read_text()
    assert "add_column" in script
    assert f"down_revision: str | tuple[str, ...] | None = '{one.revision}'" in script
    assert "create_table" not in script  # the other tables are as the first left them

    done = second.upgrade()
    assert [s.revision for s in done.steps] == [two.revision]
    assert "distance" in columns(url, "runs")

    done = second.downgrade("-1")
    assert done.steps == (Step(two.revision, "add distance", upgrade=False),)
    assert done.current == (one.revision,)
    assert not done.at_head
    assert columns(url, "runs") == {"id", "meters"}


def test_downgrade_to_base_removes_every_table_but_the_version_table(directory, url):
    m = migrations(directory, url)
    m.revision("first")
    m.upgrade()
    done = m.downgrade("base")
    assert done.current == ()
    assert tables(url) == {"alembic_version_runs"}  # alembic keeps it, empty
    assert m.current() == ()


def test_upgrade_downgrade_upgrade_is_a_round_trip(directory, url):
    migrations(directory, url).revision("first")
    migrations(directory, url).upgrade()
    m = migrations(directory, url, distance=True)
    m.revision("add distance")
    m.upgrade()
    after_upgrade = (tables(url), columns(url, "runs"))
    assert len(m.downgrade("base").steps) == 2
    done = m.upgrade()
    assert [step.message for step in done.steps] == ["first", "add distance"]
    assert (tables(url), columns(url, "runs")) == after_upgrade


def test_upgrade_to_a_given_revision_goes_no_further(directory, url):
    migrations(directory, url).revision("first")
    m = migrations(directory, url)
    m.upgrade()
    second = migrations(directory, url, distance=True)
    second.revision("add distance")
    m.downgrade("base")
    done = second.upgrade("+1")
    assert [step.message for step in done.steps] == ["first"]
    assert "distance" not in columns(url, "runs")


def test_revision_writes_nothing_when_the_database_matches_the_schema(directory, url):
    m = migrations(directory, url)
    m.revision("first")
    m.upgrade()
    assert m.revision("nothing") is None
    assert len(list((directory / "versions").glob("*.py"))) == 1


def test_an_empty_revision_is_written_without_reading_the_database(directory):
    m = migrations(directory, "postgresql+asyncpg://postgres:secret@127.0.0.1:1/nowhere")
    written = m.revision("by hand", autogenerate=False)
    assert written is not None
    script = written.path.read_text()
    assert "    pass" in script
    assert "import sqlalchemy" not in script  # the template imports only what is used
    assert "from alembic import op" not in script


def test_an_empty_revision_needs_no_url(directory):
    written = migrations(directory, None).revision("by hand", autogenerate=False)
    assert written is not None
    assert written.path.is_file()
    with pytest.raises(ConfigError, match=r"no database URL was given"):
        migrations(directory, None).revision("autogenerated")


def test_history_lists_the_revisions_newest_first(directory, url):
    migrations(directory, url).revision("first")
    migrations(directory, url).upgrade()
    migrations(directory, url, distance=True).revision("add distance")
    lines = Migrations(make_schema(directory), None, "runs").history().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("(head), add distance")
    assert lines[1].startswith("<base> -> ")
    assert lines[1].endswith(", first")


def test_history_of_a_directory_without_revisions_is_empty(directory):
    m = migrations(directory, None)
    m.create_directory()
    assert m.history() == ""
    assert m.heads() == ()


# -- several services, one database --------------------------------------------------------------


def test_services_sharing_a_database_each_keep_their_version_table_and_tables(tmp_path, url):
    runs = Migrations(make_schema(tmp_path / "runs"), url, "runs")
    runs.revision("runs")
    runs.upgrade()
    users = Migrations(make_schema(tmp_path / "users", table="users"), url, "users-api")
    written = users.revision("users")
    assert written is not None
    script = written.path.read_text()
    assert "drop_table('runs')" not in script.partition("def downgrade")[0]  # not theirs
    assert "alembic_version_runs" not in script
    users.upgrade()
    assert {"runs", "users", "alembic_version_runs", "alembic_version_users_api"} <= tables(url)
    users.downgrade("base")
    assert "runs" in tables(url)
    assert runs.current() == runs.heads()


# -- options, URLs, the directory ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://app:pw@db/runs", "postgresql+asyncpg://app:pw@db/runs"),
        ("postgres://app@db/runs", "postgresql+asyncpg://app@db/runs"),
        ("postgres+asyncpg://app@db/runs", "postgresql+asyncpg://app@db/runs"),
        ("postgresql+psycopg://app@db/runs", "postgresql+psycopg://app@db/runs"),
        ("sqlite:///data/runs.db", "sqlite+aiosqlite:///data/runs.db"),
        ("sqlite+aiosqlite:///data/runs.db", "sqlite+aiosqlite:///data/runs.db"),
    ],
)
def test_a_url_naming_no_driver_gets_the_async_one(directory, given, used):
    assert migrations(directory, given).url == used


def test_the_password_is_masked_where_the_url_is_shown(directory):
    m = migrations(directory, "postgresql://app:secret@db/runs")
    assert m.safe_url == "postgresql+asyncpg://app:***@db/runs"
    assert "secret" not in repr(m)
    assert migrations(directory, None).safe_url == "(no database URL)"
    assert migrations(directory, None).url is None


def test_the_version_table_is_named_after_the_service():
    schema = make_schema(Path("m"))
    assert Migrations(schema, None, "runs").version_table == "alembic_version_runs"
    assert Migrations(schema, None, "Run-Log.v2").version_table == "alembic_version_run_log_v2"


def test_the_directory_of_a_sqlite_file_is_created(directory, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'a' / 'b' / 'runs.db'}"
    m = migrations(directory, url)
    m.revision("first")
    m.upgrade()
    assert (tmp_path / "a" / "b" / "runs.db").is_file()


def test_an_in_memory_sqlite_database_is_migrated_without_a_file(directory, tmp_path):
    m = migrations(directory, "sqlite+aiosqlite:///:memory:")
    m.revision("first")
    assert [step.message for step in m.upgrade().steps] == ["first"]  # each command: a new one


def test_a_sqlite_uri_filename_is_left_to_sqlite(directory, tmp_path):
    url = f"sqlite+aiosqlite:///file:{tmp_path / 'runs.db'}?uri=true"
    m = migrations(directory, url)
    m.revision("first")
    m.upgrade()
    assert (tmp_path / "runs.db").is_file()


def test_create_directory_keeps_what_is_there(directory):
    directory.mkdir()
    (directory / "env.py").write_text("# the service's own\n")
    m = migrations(directory, None)
    assert m.create_directory() == [directory / "versions", directory / "script.py.mako"]
    assert (directory / "env.py").read_text() == "# the service's own\n"
    assert m.create_directory() == []


def test_env_py_passes_its_options_to_alembic(directory, url):
    m = migrations(directory, url)
    m.revision("first")
    (directory / "env.py").write_text(
        "from atoll.adapters.sqlalchemy.migrations import run_migrations\n\n"
        "run_migrations(version_table='custom_versions')\n"
    )
    m.upgrade()
    assert m.current() == m.heads()  # read from the table env.py names
    assert "custom_versions" in tables(url)
    count = run_on(url, lambda c: c.execute(sa.text("SELECT count(*) FROM alembic_version_runs")))
    assert count.scalar() == 0


def test_the_config_serves_the_commands_atoll_does_not_wrap(directory, url):
    m = migrations(directory, url)
    written = m.revision("first")
    assert written is not None
    command.stamp(m.config(), "head")  # a database made before its migrations
    assert m.current() == (written.revision,)
    assert tables(url) == {"alembic_version_runs"}


def test_the_outbox_tables_are_added_to_the_schema_once(directory, url):
    schema = make_schema(directory)
    Migrations(schema, url, "runs").revision("first")
    Migrations(schema, url, "runs").upgrade()
    assert {
        "runs",
        "atoll_outbox",
        "atoll_inbox",
        "atoll_api_tokens",
        "atoll_idempotency",
        "atoll_leases",
    } == set(schema.metadata.tables)


# -- errors -----------------------------------------------------------------------------------


def test_a_schema_without_metadata_is_refused(directory):
    with pytest.raises(ConfigError, match=r"schema of service 'runs' has no sqlalchemy.MetaData"):
        Migrations(Schema(migrations=directory), None, "runs")
    with pytest.raises(ConfigError, match=r"no sqlalchemy.MetaData \(got 'tables'\)"):
        Migrations(Schema("tables", migrations=directory), None, "runs")


def test_a_schema_without_migrations_is_refused():
    with pytest.raises(ConfigError, match=r"names no migrations directory; declare it as Schema"):
        Migrations(Schema(sa.MetaData()), None, "runs")


@pytest.mark.parametrize("verb", ["upgrade", "downgrade", "current", "heads", "history"])
def test_a_missing_migrations_directory_names_the_path_and_the_first_revision(directory, verb):
    m = migrations(directory, "sqlite+aiosqlite:///runs.db")
    call = {"upgrade": m.upgrade, "downgrade": lambda: m.downgrade("base")}.get(
        verb, getattr(m, verb)
    )
    with pytest.raises(ConfigError) as caught:
        call()
    assert str(directory) in str(caught.value)
    assert 'atoll db revision MODULE:OBJECT -m "first"' in str(caught.value)
    assert not directory.exists()


def test_a_directory_without_env_py_is_missing_migrations(directory):
    (directory / "versions").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"no env.py there"):
        migrations(directory, "sqlite+aiosqlite:///runs.db").upgrade()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://postgres:s3cret-pw@127.0.0.1:1/test",
        "postgresql://postgres:s3cret-pw@127.0.0.1:1/test",
    ],
)
def test_an_unreachable_database_is_named_without_its_password(directory, url):
    m = migrations(directory, url)
    m.create_directory()
    with pytest.raises(DatabaseUnavailableError) as caught:
        m.upgrade()
    message = str(caught.value)
    assert "s3cret-pw" not in message
    assert "postgresql+asyncpg://postgres:***@127.0.0.1:1/test" in message
    assert "check that the database is running" in message


def test_a_sqlite_file_that_cannot_be_opened_is_unavailable(directory, tmp_path):
    (tmp_path / "runs.db").mkdir()  # a directory where the file should be
    m = migrations(directory, f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}")
    with pytest.raises(DatabaseUnavailableError, match=r"unable to open database file"):
        m.revision("first")


def test_a_sqlite_directory_that_cannot_be_created_is_unavailable(directory, tmp_path):
    (tmp_path / "data").write_text("a file where the directory should be")
    m = migrations(directory, f"sqlite+aiosqlite:///{tmp_path / 'data' / 'runs.db'}")
    with pytest.raises(DatabaseUnavailableError, match=r"at sqlite\+aiosqlite:///.*data/runs.db"):
        m.revision("first")


@pytest.mark.services("postgres")
def test_a_postgres_database_that_does_not_exist_is_unavailable(directory):
    m = migrations(directory, f"{POSTGRES}/atoll_no_such_database")
    with pytest.raises(DatabaseUnavailableError, match=r'database "atoll_no_such_database" does'):
        m.revision("first")


def test_a_url_of_no_sql_database_is_refused(directory):
    with pytest.raises(ConfigError, match=r"memory://, which keeps no tables to migrate"):
        migrations(directory, "memory://")


def test_a_malformed_url_is_refused_without_its_password(directory):
    with pytest.raises(ConfigError) as caught:
        migrations(directory, "not a url://user:hunter2@host")
    assert "hunter2" not in str(caught.value)
    assert "user:***@host" in str(caught.value)


def test_commands_that_read_the_database_need_its_url(directory):
    m = migrations(directory, None)
    m.create_directory()
    with pytest.raises(ConfigError, match=r"no database URL was given for service 'runs'"):
        m.upgrade()


def test_a_revision_alembic_cannot_find_is_refused_with_alembic_s_reason(directory, url):
    m = migrations(directory, url)
    m.revision("first")
    with pytest.raises(ConfigError) as caught:
        m.downgrade("abc123")
    assert "Can't locate revision identified by 'abc123'" in str(caught.value)
    assert "atoll db history" in str(caught.value)


def test_autogenerate_on_a_database_behind_the_head_says_to_upgrade(directory, url):
    migrations(directory, url).revision("first")
    with pytest.raises(ConfigError) as caught:
        migrations(directory, url, distance=True).revision("add distance")
    assert "is at base, not at the head" in str(caught.value)
    assert "atoll db upgrade" in str(caught.value)


def test_autogenerate_refused_at_the_head_gives_alembic_s_reason(directory, url):
    m = migrations(directory, url)
    first = m.revision("first")
    assert first is not None
    # A second root, so that the migrations have two heads, both applied.
    twin = first.path.with_name("twin.py")
    twin.write_text(
        first.path.read_text()
        .replace(first.revision, "0123456789ab")
        .replace("'runs'", "'twins'")
        .replace("'atoll_outbox'", "'twin_outbox'")
        .replace("'atoll_inbox'", "'twin_inbox'")
        .replace("'atoll_api_tokens'", "'twin_api_tokens'")
        .replace("'atoll_idempotency'", "'twin_idempotency'")
        .replace("'atoll_leases'", "'twin_leases'")
        .replace("'ix_atoll_idempotency_expires_at'", "'ix_twin_idempotency_expires_at'")
        .replace("'ix_atoll_outbox_stream'", "'ix_twin_outbox_stream'")
        .replace("'atoll_outbox_unsent'", "'twin_outbox_unsent'")
    )
    m.upgrade("heads")
    assert set(m.current()) == set(m.heads())
    with pytest.raises(ConfigError, match=r"Multiple heads are present"):
        migrations(directory, url, distance=True).revision("second")


def test_env_py_run_by_alembic_alone_says_to_use_atoll_db(directory):
    m = migrations(directory, None)
    m.create_directory()
    with pytest.raises(ConfigError, match=r"run `atoll db upgrade MODULE:OBJECT` rather than"):
        command.upgrade(m.config(), "head")


def test_the_template_is_inside_the_package():
    assert TEMPLATE.is_dir()
    assert {p.name for p in TEMPLATE.iterdir() if p.is_file()} == {"env.py", "script.py.mako"}
