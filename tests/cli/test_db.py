"""``atoll db``: a service's migrations written, applied, shown and undone from the command line.

The targets are the factories of ``db_service.py`` beside this file. Each PostgreSQL test gets
a database of its own, created from ``test`` and dropped after.
"""

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from atoll.adapters.sqlalchemy.migrations import TEMPLATE
from atoll.cli import cli

HERE = Path(__file__).parent
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432"
ATOLL = Path(sys.executable).with_name("atoll")


def run_on(url, work):
    async def go():
        engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def tables(url) -> set[str]:
    return set(run_on(url, lambda c: sa.inspect(c).get_table_names()))


def columns(url, table) -> set[str]:
    return {column["name"] for column in run_on(url, lambda c: sa.inspect(c).get_columns(table))}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services("postgres"))])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'runs.db'}"
        return
    name = f"atoll_db_cli_{uuid.uuid4().hex[:12]}"

    def execute(statement):
        return lambda connection: connection.execute(sa.text(statement))

    run_on(f"{POSTGRES}/test", execute(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        run_on(f"{POSTGRES}/test", execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def migrations(tmp_path, monkeypatch):
    """The migrations directory the targets use; db_service importable, as from its directory."""
    monkeypatch.syspath_prepend(str(HERE))
    return tmp_path / "migrations"


def atoll_db(*args: str, migrations: Path, distance: bool = False, env=None):
    environment = {"DB_SERVICE_MIGRATIONS": str(migrations), "DB_SERVICE_DISTANCE": "1" * distance}
    return CliRunner().invoke(cli, ["db", *args], env={**environment, **(env or {})})


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


# -- the cycle ---------------------------------------------------------------------------------


def test_revision_upgrade_current_downgrade_and_back(url, migrations):
    target = "db_service:service"
    out = ok(atoll_db("revision", target, "-m", "first", "--db-url", url, migrations=migrations))
    assert f"runs: created {migrations}\n" in out
    assert f"runs: created {migrations / 'env.py'}\n" in out
    assert "runs: wrote revision " in out
    assert "(first) to " in out
    assert f"`atoll db upgrade {target} --db-url {url}`" in out  # the same database
    first = next(migrations.joinpath("versions").glob("*_first.py")).name.split("_")[2]

    out = ok(atoll_db("upgrade", target, "--db-url", url, migrations=migrations))
    assert out == f"runs: {url}: upgraded to {first} (head)\n  + {first}  first\n"
    assert {"runs", "atoll_outbox", "atoll_inbox", "alembic_version_runs"} <= tables(url)

    out = ok(atoll_db("current", target, "--db-url", url, migrations=migrations))
    assert out == f"runs: {url} is at {first} (head)\n"

    out = ok(
        atoll_db(
            "revision",
            target,
            "-m",
            "add distance",
            "--db-url",
            url,
            migrations=migrations,
            distance=True,
        )
    )
    second = next(migrations.joinpath("versions").glob("*_add_distance.py")).name.split("_")[2]
    out = ok(atoll_db("current", target, "--db-url", url, migrations=migrations))
    assert out == (
        f"runs: {url} is at {first}; the head is {second}: "
        f"`atoll db upgrade {target} --db-url {url}` applies the rest\n"
    )
    ok(atoll_db("upgrade", target, "--db-url", url, migrations=migrations, distance=True))
    assert "distance" in columns(url, "runs")

    out = ok(atoll_db("downgrade", target, "-1", "--db-url", url, migrations=migrations))
    assert out == f"runs: {url}: downgraded to {first}\n  - {second}  add distance\n"
    assert "distance" not in columns(url, "runs")

    out = ok(atoll_db("downgrade", target, "base", "--db-url", url, migrations=migrations))
    assert out == f"runs: {url}: downgraded to base (no migration applied)\n  - {first}  first\n"
    assert tables(url) == {"alembic_version_runs"}

    out = ok(atoll_db("upgrade", target, "--db-url", url, migrations=migrations))
    assert out.endswith(f"  + {first}  first\n  + {second}  add distance\n")
    assert "distance" in columns(url, "runs")


def test_upgrade_at_the_head_says_there_is_nothing_to_do(url, migrations):
    args = ("db_service:service", "--db-url", url)
    ok(atoll_db("revision", args[0], "-m", "first", *args[1:], migrations=migrations))
    ok(atoll_db("upgrade", *args, migrations=migrations))
    out = ok(atoll_db("upgrade", *args, migrations=migrations))
    assert out.endswith("(head) already; nothing to upgrade\n")


def test_upgrade_takes_a_revision_right_after_the_target(tmp_path, migrations):
    url = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    ok(
        atoll_db(
            "revision", "db_service:service", "-m", "first", "--db-url", url, migrations=migrations
        )
    )
    ok(atoll_db("upgrade", "db_service:service", "--db-url", url, migrations=migrations))
    ok(
        atoll_db(
            "revision",
            "db_service:service",
            "-m",
            "two",
            "--db-url",
            url,
            migrations=migrations,
            distance=True,
        )
    )
    ok(atoll_db("downgrade", "db_service:service", "base", "--db-url", url, migrations=migrations))
    out = ok(
        atoll_db("upgrade", "db_service:service", "+1", "--db-url", url, migrations=migrations)
    )
    assert "  + " in out
    assert out.count("\n") == 2  # one migration applied, of two
    assert "(head)" not in out


def test_downgrade_at_the_base_says_there_is_nothing_to_do(tmp_path, migrations):
    url = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    ok(
        atoll_db(
            "revision", "db_service:service", "-m", "first", "--db-url", url, migrations=migrations
        )
    )
    out = ok(
        atoll_db("downgrade", "db_service:service", "base", "--db-url", url, migrations=migrations)
    )
    assert out.endswith("is at base (no migration applied) already; nothing to downgrade\n")


def test_revision_says_when_the_database_matches_the_schema(tmp_path, migrations):
    args = ("db_service:service", "--db-url", f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}")
    ok(atoll_db("revision", args[0], "-m", "first", *args[1:], migrations=migrations))
    ok(atoll_db("upgrade", *args, migrations=migrations))
    out = ok(atoll_db("revision", args[0], "-m", "again", *args[1:], migrations=migrations))
    assert out.endswith(
        "matches the schema; no revision written (--empty writes one to fill in by hand)\n"
    )


def test_an_empty_revision_needs_no_database(migrations):
    out = ok(
        atoll_db(
            "revision",
            "db_service:service",
            "-m",
            "by hand",
            "--empty",
            "--db-url",
            "postgresql+asyncpg://u:pw@127.0.0.1:1/x",
            migrations=migrations,
        )
    )
    assert "runs: wrote revision " in out
    assert "compared with" not in out


def test_history_lists_the_migrations_newest_first(tmp_path, migrations):
    url = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    ok(
        atoll_db(
            "revision", "db_service:service", "-m", "first", "--db-url", url, migrations=migrations
        )
    )
    ok(atoll_db("upgrade", "db_service:service", "--db-url", url, migrations=migrations))
    ok(
        atoll_db(
            "revision",
            "db_service:service",
            "-m",
            "add distance",
            "--db-url",
            url,
            migrations=migrations,
            distance=True,
        )
    )
    lines = ok(atoll_db("history", "db_service:service", migrations=migrations)).splitlines()
    assert lines[0] == f"runs: migrations in {migrations}"
    assert lines[1].endswith("(head), add distance")
    assert lines[2].startswith("<base> -> ")
    assert lines[2].endswith(", first")


def test_history_of_no_revision_yet(migrations):
    (migrations / "versions").mkdir(parents=True)
    (migrations / "env.py").write_text((TEMPLATE / "env.py").read_text())
    out = ok(atoll_db("history", "db_service:service", migrations=migrations))
    assert out == f"runs: migrations in {migrations}\n  (none yet)\n"


# -- configuration, read as `atoll run` reads it -------------------------------------------------


def test_the_url_comes_from_the_environment_as_for_atoll_run(tmp_path, migrations):
    url = f"sqlite+aiosqlite:///{tmp_path / 'from-env.db'}"
    env = {"RUNS_DB_URL": url}
    ok(atoll_db("revision", "db_service:service", "-m", "first", migrations=migrations, env=env))
    out = ok(atoll_db("upgrade", "db_service:service", migrations=migrations, env=env))
    assert out.startswith(f"runs: {url}: upgraded")
    assert "runs" in tables(url)


def test_without_a_url_the_database_is_the_sqlite_file_in_the_data_dir(tmp_path, migrations):
    data = tmp_path / "somewhere"
    args = ("db_service:service", "--db-data-dir", str(data))
    ok(atoll_db("revision", args[0], "-m", "first", *args[1:], migrations=migrations))
    out = ok(atoll_db("upgrade", *args, migrations=migrations))
    assert out.startswith(f"runs: sqlite+aiosqlite:///{data / 'runs.db'}: upgraded")
    assert (data / "runs.db").is_file()


def test_a_system_s_service_is_picked_with_service(tmp_path, migrations):
    runs_url = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    users_url = f"sqlite+aiosqlite:///{tmp_path / 'users.db'}"
    flags = ("--runs-db-url", runs_url, "--users-db-url", users_url)
    for name in ("runs", "users"):
        out = ok(
            atoll_db(
                "revision",
                "db_service:system",
                "--service",
                name,
                "-m",
                name,
                *flags,
                migrations=migrations,
            )
        )
        assert out.startswith(f"{name}: created ")
        assert f"`atoll db upgrade db_service:system --service {name} {' '.join(flags)}`" in out
        out = ok(
            atoll_db(
                "upgrade", "db_service:system", "--service", name, *flags, migrations=migrations
            )
        )
        assert out.startswith(f"{name}: sqlite+aiosqlite:///{tmp_path / (name + '.db')}: upgraded")
    assert "users" in tables(users_url)
    assert "users" not in tables(runs_url)
    assert (migrations / "users" / "env.py").is_file()


def test_a_system_with_one_database_needs_no_service(tmp_path, migrations):
    url = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    out = ok(
        atoll_db(
            "revision",
            "db_service:one_database",
            "-m",
            "first",
            "--runs-db-url",
            url,
            migrations=migrations,
        )
    )
    assert out.startswith("runs: created ")


def test_a_system_s_database_url_comes_from_its_environment(tmp_path, migrations):
    url = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    env = {"RUNNERLY_RUNS_DB_URL": url}
    target = ("db_service:system", "--service", "runs")
    ok(atoll_db("revision", *target, "-m", "first", migrations=migrations, env=env))
    out = ok(atoll_db("current", *target, migrations=migrations, env=env))
    assert out.startswith(f"runs: {url} is at base (no migration applied); the head is ")
    assert out.endswith("`atoll db upgrade db_service:system --service runs` applies the rest\n")


def test_the_application_s_version_option_is_answered(migrations):
    result = atoll_db("current", "db_service:service", "--version", migrations=migrations)
    assert result.exit_code == 0
    assert result.stdout.strip().endswith("0.0.0")


# -- usage errors: status 2 --------------------------------------------------------------------


def usage_error(result) -> str:
    assert result.exit_code == 2, result.output
    return result.stderr


def test_an_unknown_target_is_a_usage_error(migrations):
    err = usage_error(atoll_db("upgrade", "no_such_module:service", migrations=migrations))
    assert "cannot import 'no_such_module'" in err
    err = usage_error(atoll_db("upgrade", "db_service:servce", migrations=migrations))
    assert "did you mean 'service'?" in err


def test_a_target_that_is_no_service_is_a_usage_error(migrations):
    err = usage_error(atoll_db("upgrade", "db_service:not_a_service", migrations=migrations))
    assert "'db_service:not_a_service' is int 42; atoll db migrates the database of" in err


def test_a_service_without_a_database_is_a_usage_error(migrations):
    err = usage_error(atoll_db("upgrade", "db_service:no_database", migrations=migrations))
    assert "keeps no database; declare one with service.database(schema)" in err


def test_a_system_of_several_databases_needs_service(migrations):
    err = usage_error(atoll_db("current", "db_service:system", migrations=migrations))
    assert "has 2 services with a database (runs, users); pick one with --service NAME" in err


def test_an_unknown_service_lists_those_with_a_database(migrations):
    for name in ("nope", "web"):
        err = usage_error(
            atoll_db("current", "db_service:system", "--service", name, migrations=migrations)
        )
        assert f"has no service {name!r} with a database; those with one: runs, users" in err


def test_downgrade_needs_a_revision(migrations):
    for args in ((), ("--db-url", "sqlite+aiosqlite:///x.db")):
        err = usage_error(atoll_db("downgrade", "db_service:service", *args, migrations=migrations))
        assert "downgrade needs a REVISION right after MODULE:OBJECT: -1" in err


def test_revision_needs_a_message(migrations):
    err = usage_error(atoll_db("revision", "db_service:service", migrations=migrations))
    assert "Missing option '-m' / '--message'" in err


def test_a_wrong_application_option_is_a_usage_error(migrations):
    result = atoll_db("upgrade", "db_service:service", "--db-pool-size", "0", migrations=migrations)
    err = usage_error(result)
    assert err.startswith("atoll db upgrade db_service:service: ")
    assert "pool" in err
    err = usage_error(atoll_db("upgrade", "db_service:service", "--no-such", migrations=migrations))
    assert "--no-such" in err


def test_history_takes_no_application_option(migrations):
    err = usage_error(
        atoll_db("history", "db_service:service", "--db-url", "x", migrations=migrations)
    )
    assert "No such option '--db-url'" in err


def test_a_missing_migrations_directory_says_to_write_the_first_revision(migrations):
    for command in (("upgrade",), ("current",), ("downgrade", "base"), ("history",)):
        args = (command[0], "db_service:service", *command[1:])
        err = usage_error(atoll_db(*args, migrations=migrations))
        assert str(migrations) in err
        assert 'atoll db revision MODULE:OBJECT -m "first"' in err
        assert "Traceback" not in err


def test_an_unknown_revision_is_a_usage_error(tmp_path, migrations):
    url = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    ok(
        atoll_db(
            "revision", "db_service:service", "-m", "first", "--db-url", url, migrations=migrations
        )
    )
    err = usage_error(
        atoll_db(
            "downgrade", "db_service:service", "abc123", "--db-url", url, migrations=migrations
        )
    )
    assert "Can't locate revision identified by 'abc123'" in err


# -- failures: status 1 ------------------------------------------------------------------------


def failure(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.stderr


def test_an_unreachable_database_fails_without_showing_the_password(migrations):
    url = "postgresql+asyncpg://postgres:n0t-this-one@127.0.0.1:1/test"
    for args in (
        ("revision", "db_service:service", "-m", "first"),
        ("upgrade", "db_service:service"),
    ):
        err = failure(atoll_db(*args, "--db-url", url, migrations=migrations))
        assert "n0t-this-one" not in err
        assert "cannot connect to the database of runs at " in err
        assert "postgresql+asyncpg://postgres:***@127.0.0.1:1/test" in err
        assert "check that the database is running" in err


def test_an_empty_revision_upgrades_to_the_head(migrations, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    args = ("db_service:service", "--db-url", url)
    ok(atoll_db("revision", args[0], "-m", "first", *args[1:], migrations=migrations))
    out = ok(atoll_db("upgrade", args[0], "", *args[1:], migrations=migrations))
    assert "(head)" in out


def test_a_failing_migration_fails_with_its_error(tmp_path, migrations):
    url = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    ok(
        atoll_db(
            "revision",
            "db_service:service",
            "-m",
            "boom",
            "--empty",
            "--db-url",
            url,
            migrations=migrations,
        )
    )
    script = next((migrations / "versions").glob("*_boom.py"))
    script.write_text(
        script.read_text().replace(
            '"""Apply this revision."""\n    pass',
            '"""Apply this revision."""\n    raise RuntimeError("boom")',
        )
    )
    err = failure(atoll_db("upgrade", "db_service:service", "--db-url", url, migrations=migrations))
    # The last line: a handler another test left on the root logger may show alembic's INFO.
    assert err.splitlines()[-1] == "atoll db upgrade db_service:service: RuntimeError: boom"


def test_without_alembic_the_extra_to_install_is_named(migrations, monkeypatch):
    monkeypatch.delitem(sys.modules, "atoll.adapters.sqlalchemy.migrations", raising=False)
    monkeypatch.setitem(sys.modules, "alembic", None)
    err = failure(atoll_db("history", "db_service:service", migrations=migrations))
    assert 'alembic is not installed; install it with: pip install "atoll[sql]"' in err


def test_a_broken_adapter_import_is_reported_as_it_is(migrations, monkeypatch):
    monkeypatch.setitem(sys.modules, "atoll.adapters.sqlalchemy.migrations", None)
    err = failure(atoll_db("history", "db_service:service", migrations=migrations))
    assert "ModuleNotFoundError: import of atoll.adapters.sqlalchemy.migrations halted" in err


# -- as a real process -------------------------------------------------------------------------


@pytest.mark.slow
def test_atoll_db_runs_as_a_process(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    env = {**os.environ, "DB_SERVICE_MIGRATIONS": str(tmp_path / "migrations")}

    def atoll(*args):
        return subprocess.run(
            [str(ATOLL), "db", *args],
            cwd=HERE,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    made = atoll("revision", "db_service:service", "-m", "first", "--db-url", url)
    assert made.returncode == 0, made.stderr
    upgraded = atoll("upgrade", "db_service:service", "--db-url", url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.startswith(f"runs: {url}: upgraded to ")
    assert "runs" in tables(url)
    unreachable = atoll(
        "upgrade",
        "db_service:service",
        "--db-url",
        "postgresql://postgres:pw-secret@127.0.0.1:1/test",
    )
    assert unreachable.returncode == 1
    assert "pw-secret" not in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
    missing = atoll("upgrade", "db_service:nothing_here")
    assert missing.returncode == 2
    assert "has no attribute 'nothing_here'" in missing.stderr
