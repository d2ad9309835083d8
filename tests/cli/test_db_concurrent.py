"""Instances that migrate one PostgreSQL database at once take turns."""

import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

RUNNERLY = Path(__file__).resolve().parents[2] / "examples" / "runnerly"
ATOLL = Path(sys.executable).with_name("atoll")


@pytest.mark.slow
@pytest.mark.services("postgres")
async def test_three_upgrades_at_once_migrate_once_and_all_succeed():
    name = f"atoll_race_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        argv = [str(ATOLL), "db", "upgrade", "runnerly.app:system", "--service", "runs"]
        processes = [
            subprocess.Popen(  # noqa: ASYNC220 - the test waits for them; nothing else runs
                [*argv, "--runs-db-url", url],
                cwd=RUNNERLY,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(3)
        ]
        outputs = [process.communicate(timeout=60)[0] for process in processes]
        assert [process.returncode for process in processes] == [0, 0, 0], outputs
        migrated = [output for output in outputs if "+ 7167b6d91bfe" in output]
        assert len(migrated) == 1, outputs
        database = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}")
        try:
            assert await database.fetchval("SELECT count(*) FROM alembic_version_runs") == 1
        finally:
            await database.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
