"""A service killed with SIGKILL loses no committed event and applies none twice.

Each test runs ``crash_service.py`` (beside this file) as real processes over one database: a
SQLite file in ``tmp_path``, or a PostgreSQL database of its own, created from ``test`` and
dropped after. The process dies at a crash point of its own code (``--crash-after-commit``,
``--crash-in-consumer``) or by the test's SIGKILL, is started again on the same database, and
the test reads the database directly: every committed deposit (its receipt is there) has
exactly one row in the ledger, which has no unique constraint to hide a second one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import importlib.util
import random
import re
import secrets
import signal
import sys
import time
import types
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from atoll.adapters.sqlalchemy import SqlDatabase
from atoll.persistence.options import DatabaseOptions

HERE = Path(__file__).parent
SERVICE = HERE / "crash_service.py"
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432"
CONSUMER = "crash.keep_ledger"
WAIT = 30.0
"""Seconds any wait lasts at the most."""

pytestmark = pytest.mark.slow


def load_service():
    """crash_service as a module of this process, for its tables and its schema."""
    name = "crash_service"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SERVICE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # its annotations are read from its module
        spec.loader.exec_module(module)
    return sys.modules[name]


@dataclass
class Bank:
    """The database the service processes share, read by the test behind their backs."""

    url: str
    database: SqlDatabase
    tables: types.ModuleType  # crash_service: its tables

    async def rows(self, statement) -> list[sa.Row]:
        async with self.database.engine.connect() as connection:
            return list(await connection.execute(statement))

    async def receipts(self) -> dict[str, tuple[str, int]]:
        """The deposits committed: key to account and amount."""
        t = self.tables.receipts.c
        rows = await self.rows(sa.select(t.key, t.account_id, t.amount))
        return {key: (account, amount) for key, account, amount in rows}

    async def ledger(self) -> collections.Counter[str]:
        """How many ledger rows each deposit key has."""
        return collections.Counter(
            key for (key,) in await self.rows(sa.select(self.tables.ledger.c.key))
        )

    async def balances(self) -> dict[str, int]:
        t = self.tables.accounts.c
        return dict(await self.rows(sa.select(t.id, t.balance)))

    async def ledger_sums(self) -> dict[str, int]:
        t = self.tables.ledger.c
        return dict(
            await self.rows(sa.select(t.account_id, sa.func.sum(t.amount)).group_by(t.account_id))
        )

    async def outbox(self) -> tuple[int, int]:
        """The outbox records: how many in all, and how many unsent."""
        c = self.database.outbox_table.c
        statement = sa.select(sa.func.count(), sa.func.count().filter(c.sent_at.is_(None)))
        ((total, unsent),) = await self.rows(statement)
        return total, unsent

    async def inbox(self) -> list[str]:
        """The message ids the consumer has committed the effect of."""
        c = self.database.inbox_table.c
        return [
            m for (m,) in await self.rows(sa.select(c.message_id).where(c.consumer == CONSUMER))
        ]

    async def unacknowledged(self) -> int:
        """How many unsent outbox records the consumer has committed the effect of."""
        outbox, inbox = self.database.outbox_table.c, self.database.inbox_table.c
        statement = (
            sa.select(sa.func.count())
            .select_from(self.database.outbox_table)
            .join(self.database.inbox_table, inbox.message_id == outbox.id)
            .where(outbox.sent_at.is_(None), inbox.consumer == CONSUMER)
        )
        ((count,),) = await self.rows(statement)
        return count

    async def drained(self) -> None:
        """Wait until the outbox holds no unsent record: every committed event is handled."""
        deadline = time.monotonic() + WAIT
        while (outbox := await self.outbox())[1]:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the outbox still holds {outbox[1]} unsent of {outbox[0]} after {WAIT} s"
                )
            await asyncio.sleep(0.05)


async def on_postgres(url: str, statement: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services("postgres"))])
async def bank(request, tmp_path):
    """A fresh database with the bank's tables, the outbox and the inbox."""
    tables = load_service()
    name = f"atoll_crash_{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'bank.db'}"
    else:
        await on_postgres(f"{POSTGRES}/test", f'CREATE DATABASE "{name}"')
        url = f"{POSTGRES}/{name}"
    database = SqlDatabase(DatabaseOptions(url=url, migrate="never"), tables.schema, "crash")
    try:
        await database.start()
        await database.create_tables()
        yield Bank(url, database, tables)
    finally:
        await database.stop()
        if request.param == "postgres":
            await on_postgres(f"{POSTGRES}/test", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def start(spawn, bank: Bank, *flags: str):
    """The service running on the bank's database, and the base URL it serves on."""
    process = spawn(
        sys.executable,
        str(SERVICE),
        "--db-url",
        bank.url,
        "--server-port",
        "0",
        *flags,
        cwd=str(HERE),
    )
    line = await asyncio.to_thread(process.wait_for, "serving on ", WAIT)
    return process, re.search(r"serving on (http://127\.0\.0\.1:\d+)", line).group(1)


async def finish(process) -> int:
    return await asyncio.to_thread(process.finish, WAIT)


async def stop(process) -> None:
    """Stop the service as an operator would, so that the database is read at rest."""
    process.signal(signal.SIGTERM)
    assert await finish(process) == 0, process.output


def deposit(key: str, account: str = "alice", amount: int = 5) -> dict[str, object]:
    return {"account_id": account, "amount": amount, "key": key}


async def test_an_event_committed_just_before_a_kill_is_published_once_after_the_restart(
    bank, spawn
):
    # A long relay interval: nothing but the commit's own notification wakes the relay, and
    # the process dies before it can run.
    process, url = await start(
        spawn, bank, "--crash-after-commit", "k1", "--db-relay-interval", "30"
    )
    async with httpx.AsyncClient(base_url=url, timeout=WAIT) as client:
        with pytest.raises(httpx.TransportError):
            await client.post("/deposit", json=deposit("k1"))
    assert await finish(process) == -signal.SIGKILL, process.output
    # The crash point: the deposit and its event are committed, and nothing has handled it.
    assert await bank.receipts() == {"k1": ("alice", 5)}
    assert await bank.outbox() == (1, 1)
    assert await bank.ledger() == {}

    process, _ = await start(spawn, bank)
    await bank.drained()
    await stop(process)
    assert await bank.ledger() == {"k1": 1}
    assert await bank.outbox() == (1, 0)
    assert await bank.balances() == {"alice": 5}


async def test_a_request_retried_with_its_key_after_a_kill_past_its_commit_runs_once(bank, spawn):
    # The process dies between the deposit's commit and its stored answer: the retry finds
    # the key committed with the deposit, in the same transaction, and does not run it again.
    process, url = await start(spawn, bank, "--crash-after-commit", "k9")
    key = {"idempotency-key": "retry-9"}
    async with httpx.AsyncClient(base_url=url, timeout=WAIT) as client:
        with pytest.raises(httpx.TransportError):
            await client.post("/deposit", json=deposit("k9"), headers=key)
    assert await finish(process) == -signal.SIGKILL, process.output

    process, url = await start(spawn, bank)
    async with httpx.AsyncClient(base_url=url, timeout=WAIT) as client:
        retried = await client.post("/deposit", json=deposit("k9"), headers=key)
        another = await client.post(
            "/deposit", json=deposit("k10"), headers={"idempotency-key": "10"}
        )
        replayed = await client.post(
            "/deposit", json=deposit("k10"), headers={"idempotency-key": "10"}
        )
    await stop(process)
    assert retried.status_code == 409, retried.text
    assert "took effect, and its answer was lost" in retried.json()["detail"]
    assert (another.status_code, replayed.status_code) == (200, 200)
    assert replayed.json() == another.json() == 10
    assert replayed.headers["idempotent-replayed"] == "true"
    assert await bank.receipts() == {"k9": ("alice", 5), "k10": ("alice", 5)}
    assert await bank.balances() == {"alice": 10}


async def test_an_event_whose_consumer_committed_just_before_a_kill_is_skipped_when_redelivered(
    bank, spawn
):
    process, url = await start(spawn, bank, "--crash-in-consumer", "k1")
    async with httpx.AsyncClient(base_url=url, timeout=WAIT) as client:
        # The command's answer races the relay, which runs the consumer that kills the process.
        with contextlib.suppress(httpx.TransportError):
            await client.post("/deposit", json=deposit("k1"))
    assert await finish(process) == -signal.SIGKILL, process.output
    # The crash point: the effect and its inbox entry are committed, the record is not sent.
    assert await bank.ledger() == {"k1": 1}
    assert len(await bank.inbox()) == 1
    assert await bank.outbox() == (1, 1)

    process, _ = await start(spawn, bank)
    await bank.drained()  # the record was delivered again, and acknowledged
    await stop(process)
    assert await bank.ledger() == {"k1": 1}
    assert len(await bank.inbox()) == 1
    assert await bank.outbox() == (1, 0)


DEPOSITS = 200
WORKERS = 4


class Stream:
    """Deposits sent by concurrent clients, each to an account of its own, and what came back."""

    def __init__(self, kill_at: int) -> None:
        self.kill_at = kill_at
        self.reached = asyncio.Event()  # set at the kill_at-th answer
        self.queues = {
            f"acct{w}": collections.deque(f"w{w}-{i}" for i in range(DEPOSITS // WORKERS))
            for w in range(WORKERS)
        }
        self.sent: dict[str, tuple[str, int]] = {}
        self.answered: set[str] = set()  # HTTP 200
        self.unanswered: set[str] = set()  # no answer, or an error status
        self.errors: list[str] = []

    async def send(self, url: str, *, stop_on_error: bool) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=WAIT) as client:
            await asyncio.gather(*(self._client(client, a, stop_on_error) for a in self.queues))

    async def _client(self, client: httpx.AsyncClient, account: str, stop_on_error: bool) -> None:
        queue = self.queues[account]
        while queue:
            key = queue.popleft()
            amount = int(key.rpartition("-")[2]) + 1
            self.sent[key] = (account, amount)
            try:
                response = await client.post("/deposit", json=deposit(key, account, amount))
            except httpx.TransportError as error:
                self.unanswered.add(key)
                self.errors.append(f"{key}: {type(error).__name__}")
                if stop_on_error:
                    return  # the process is dead: what is left is sent after the restart
                continue
            if response.status_code == 200:
                self.answered.add(key)
                if len(self.answered) >= self.kill_at:
                    self.reached.set()
            else:
                self.unanswered.add(key)
                self.errors.append(f"{key}: HTTP {response.status_code} {response.text[:200]}")


async def kill_when(process, stream: Stream, rng: random.Random) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stream.reached.wait(), WAIT)
    await asyncio.sleep(rng.uniform(0, 0.01))  # anywhere: in a command, the relay, a consumer
    process.popen.kill()


async def test_a_stream_of_deposits_killed_at_a_random_moment_loses_and_duplicates_no_effect(
    bank, spawn
):
    seed = secrets.randbelow(2**32)
    rng = random.Random(seed)  # noqa: S311 - the seed names the kill point, no secret
    stream = Stream(kill_at=rng.randint(DEPOSITS // 10, DEPOSITS // 2))
    process, url = await start(spawn, bank)
    await asyncio.gather(stream.send(url, stop_on_error=True), kill_when(process, stream, rng))
    assert await finish(process) == -signal.SIGKILL, process.output
    unanswered_before_restart = set(stream.unanswered)
    at_kill = (
        f"killed after {len(stream.answered)} answers with {len(stream.unanswered)} unanswered, "
        f"leaving {(await bank.outbox())[1]} events unsent, {await bank.unacknowledged()} "
        "of them handled"
    )

    process, url = await start(spawn, bank)
    await stream.send(url, stop_on_error=False)
    await bank.drained()
    await stop(process)

    receipts = await bank.receipts()
    committed = set(receipts)
    ledger = await bank.ledger()
    lost = sorted(committed - set(ledger))
    duplicated = sorted(key for key, count in ledger.items() if count > 1)
    phantom = sorted(set(ledger) - committed)
    unanswered_committed = stream.unanswered & committed
    report = (
        f"seed {seed}: {len(stream.sent)} deposits sent, {at_kill}; in all "
        f"{len(stream.answered)} answered, "
        f"{len(stream.unanswered)} unanswered of which {len(unanswered_committed)} committed; "
        f"{len(committed)} committed; ledger: {sum(ledger.values())} rows, {len(lost)} lost "
        f"{lost[:5]}, {len(duplicated)} duplicated {duplicated[:5]}, {len(phantom)} phantom "
        f"{phantom[:5]}; errors {stream.errors[:5]}"
    )
    assert len(stream.sent) == DEPOSITS, report
    assert stream.answered <= committed, (
        f"answered, not committed: {stream.answered - committed}; {report}"
    )
    assert committed <= set(stream.sent), report
    assert all(receipts[key] == stream.sent[key] for key in committed), report
    assert (lost, duplicated, phantom) == ([], [], []), report
    # Each command's change, receipt, event and effect went together.
    totals = collections.Counter()
    for account, amount in receipts.values():
        totals[account] += amount
    assert await bank.balances() == dict(totals), report
    assert await bank.ledger_sums() == dict(totals), report
    assert await bank.outbox() == (len(committed), 0), report
    assert len(set(await bank.inbox())) == len(committed), report
    # After the restart the service answers every deposit.
    assert stream.unanswered == unanswered_before_restart, report
