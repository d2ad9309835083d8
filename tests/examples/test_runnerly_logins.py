"""Runnerly paces registrations and logins, and locks an email out after failed logins.

Registering is limited per client address (5 a minute, 20 an hour), logging in too (10 a
minute, 100 an hour), by atoll's limits. Five failed logins in a row with one email refuse
its logins for a minute (429, ``Retry-After``), each failure after that for twice as long,
15 minutes at the most; a login that succeeds starts the count again. The count is the users
service's, in its database: every instance agrees, and an email no account has is counted
and locked alike, so that a lockout tells nothing of which accounts exist.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import httpx
import pytest

import atoll
import atoll.testing
from atoll.errors import RateLimitedError
from atoll.persistence.ports import Database
from atoll.testing.client import TEST_BASE_URL
from runnerly.app import service, system
from runnerly.users.contracts import LogIn
from runnerly.users.domain import Clock, lockout
from runnerly.users.infrastructure import FailedLoginRecords
from tests.examples.test_runnerly import MEMORY, PASSWORD, ada, on_sqlite

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

WRONG = "not her password at all"
NO_LIMITS = [*MEMORY, "--no-limits-enabled"]
"""The addresses' limits off: the tests of the lockout alone make more logins than they allow."""


class FrozenClock:
    """The time, as a test moves it: the lockouts' clock."""

    def __init__(self) -> None:
        self.time = 1_800_000_000.0

    def now(self) -> float:
        """Seconds since the epoch."""
        return self.time

    def advance(self, seconds: float) -> None:
        """Move on by ``seconds``."""
        self.time += seconds


@contextlib.asynccontextmanager
async def club(
    argv: list[str], clock: FrozenClock | None = None
) -> AsyncIterator[atoll.testing.ServiceHarness]:
    """The system with Ada and Bo registered, its lockouts on ``clock``."""
    overrides = {Clock: clock or FrozenClock()}
    async with atoll.testing.run(system(), argv=argv, overrides=overrides) as harness:
        await harness.send(ada())
        await harness.send(ada("bo@example.org", "Bo"))
        yield harness


async def login(
    client: httpx.AsyncClient, email: str = "ada@example.org", password: str = WRONG
) -> httpx.Response:
    """The answer to a login over REST."""
    return await client.post("/login", json={"email": email, "password": password})


@contextlib.asynccontextmanager
async def client_at(
    harness: atoll.testing.ServiceHarness, address: str
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the system whose requests come from ``address``."""
    transport = httpx.ASGITransport(app=harness.http.entry, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url=TEST_BASE_URL) as client:
        yield client


async def failures_of(harness: atoll.testing.ServiceHarness, email: str) -> int:
    """The failed logins counted for ``email`` in the users database."""
    async with atoll.UnitOfWork(harness.container.get(Database, "users")) as uow:
        counted = await FailedLoginRecords(uow).get(email)
    return 0 if counted is None else counted.failures


# -- the lockout --------------------------------------------------------------------------------


def test_a_lockout_starts_at_the_fifth_failure_and_doubles_up_to_15_minutes():
    assert [lockout(n) for n in range(1, 12)] == [0, 0, 0, 0, 60, 120, 240, 480, 900, 900, 900]
    assert lockout(10_000) == 900


async def test_five_failures_lock_the_email_out_with_a_429_saying_when_to_come_back():
    async with club(MEMORY) as harness:
        for _ in range(5):
            assert (await login(harness.client)).status_code == 401
        locked = await login(
            harness.client, password=PASSWORD
        )  # the right one: locked all the same
        assert locked.status_code == 429
        assert locked.headers["retry-after"] == "60"
        assert locked.json()["detail"] == (
            "too many failed logins with this email: log in again in 60 s"
        )
        assert locked.headers["ratelimit-policy"] == '"failed_logins";q=5;w=86400'
        call = {"jsonrpc": "2.0", "method": "users.log_in", "id": 1}
        call["params"] = {"email": "ada@example.org", "password": PASSWORD}
        error = (await harness.client.post("/rpc", json=call)).json()["error"]
        assert (error["code"], error["data"]["retry_after"]) == (-32015, 60)
        with pytest.raises(RateLimitedError, match="log in again in 60 s"):
            await harness.send(LogIn("ada@example.org", PASSWORD))
        assert await failures_of(harness, "ada@example.org") == 5  # a locked try is no failure


async def test_a_lockout_says_nothing_of_whether_the_account_exists():
    async with club(NO_LIMITS) as harness:
        answers = {}
        for email in ("ada@example.org", "nobody@example.org"):
            for _ in range(5):
                assert (await login(harness.client, email)).status_code == 401
            answers[email] = await login(harness.client, email)
        known, unknown = answers.values()
        assert (known.status_code, unknown.status_code) == (429, 429)
        assert known.json() == unknown.json()
        for header in ("retry-after", "ratelimit-policy", "ratelimit"):
            assert known.headers[header] == unknown.headers[header]


async def test_a_lockout_is_the_emails_alone_and_another_account_logs_in():
    async with club(MEMORY) as harness:
        for _ in range(5):
            await login(harness.client)
        assert (await login(harness.client, password=PASSWORD)).status_code == 429
        bos = await login(harness.client, "bo@example.org", PASSWORD)  # from the same address
        assert bos.status_code == 200
        assert (await login(harness.client, " ADA@Example.org ")).status_code == 429  # one email


async def test_each_failure_after_a_lockout_doubles_it_up_to_15_minutes():
    clock = FrozenClock()
    async with club(NO_LIMITS, clock) as harness:
        for _ in range(5):
            await login(harness.client)
        waits = []
        for _ in range(6):
            locked = await login(harness.client)
            assert locked.status_code == 429
            waits.append(int(locked.headers["retry-after"]))
            clock.advance(waits[-1] - 1)
            assert (await login(harness.client)).status_code == 429  # a second early
            clock.advance(1)
            assert (await login(harness.client)).status_code == 401  # over: tried, and failed
        assert waits == [60, 120, 240, 480, 900, 900]


async def test_a_login_that_succeeds_starts_the_count_again():
    clock = FrozenClock()
    async with club(NO_LIMITS, clock) as harness:
        for _ in range(5):
            await login(harness.client)
        clock.advance(60)
        assert (await login(harness.client, password=PASSWORD)).status_code == 200
        assert await failures_of(harness, "ada@example.org") == 0
        for _ in range(4):
            assert (await login(harness.client)).status_code == 401
        assert (await login(harness.client, password=PASSWORD)).status_code == 200


async def test_failures_a_day_apart_are_not_in_a_row():
    clock = FrozenClock()
    async with club(NO_LIMITS, clock) as harness:
        for _ in range(4):
            await login(harness.client)
        clock.advance(24 * 60 * 60)
        assert (await login(harness.client)).status_code == 401  # the first of a new count
        assert (await login(harness.client, password=PASSWORD)).status_code == 200


async def test_every_instance_of_users_counts_in_its_database_and_agrees(tmp_path):
    clock = FrozenClock()
    # A second instance of users, alone, on the same database; it would open sessions at a
    # token service of its own, which a failed login never reaches.
    alone = ["--db-data-dir", str(tmp_path), "--clients-client-id", "users"]
    alone += ["--clients-token-url", "http://127.0.0.1:8004/oauth/token"]
    alone += ["--clients-client-secret", "never-used"]
    async with (
        club(on_sqlite(tmp_path), clock) as first,
        atoll.testing.run(service("users"), argv=alone, overrides={Clock: clock}) as second,
    ):
        for instance in (first, second, first, second, first):
            assert (await login(instance.client)).status_code == 401
        for instance in (first, second):
            assert (await login(instance.client, password=PASSWORD)).status_code == 429


async def test_failures_at_once_are_each_counted():
    async with club(NO_LIMITS) as harness:
        answers = await asyncio.gather(
            *(login(harness.client, "nobody@example.org") for _ in range(6))
        )
        refused = [answer.status_code for answer in answers].count(401)
        assert refused >= 5  # what a conflict sent back to run again was counted then
        assert await failures_of(harness, "nobody@example.org") == refused
        assert (await login(harness.client, "nobody@example.org")).status_code == 429


# -- the limits per client address --------------------------------------------------------------


async def test_registrations_are_limited_per_client_address():
    async with (
        atoll.testing.run(system(), argv=MEMORY) as harness,
        client_at(harness, "203.0.113.7") as one,
        client_at(harness, "198.51.100.9") as two,
    ):
        for number in range(5):
            account = {"email": f"r{number}@example.org", "name": "R", "password": PASSWORD}
            assert (await one.post("/users", json=account)).status_code == 201
        account = {"email": "r5@example.org", "name": "R", "password": PASSWORD}
        refused = await one.post("/users", json=account)
        assert refused.status_code == 429
        assert refused.headers["ratelimit-policy"] == '"register_user";q=5;w=60'
        assert int(refused.headers["retry-after"]) > 0
        assert (await two.post("/users", json=account)).status_code == 201


async def test_logins_are_limited_per_client_address_whatever_the_email():
    async with (
        club(MEMORY) as harness,
        client_at(harness, "203.0.113.7") as one,
        client_at(harness, "198.51.100.9") as two,
    ):
        for number in range(10):  # a different email each time: no lockout
            assert (await login(one, f"guess{number}@example.org")).status_code == 401
        refused = await login(one, "ada@example.org", PASSWORD)
        assert refused.status_code == 429
        assert refused.headers["ratelimit-policy"] == '"log_in";q=10;w=60'
        assert (await login(two, "ada@example.org", PASSWORD)).status_code == 200
