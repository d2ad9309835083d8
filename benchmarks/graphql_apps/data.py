"""The data every GraphQL benchmark app serves: 100 users with 50 runs each, in memory.

Built the same way at every import, from the ids alone (no randomness, no clock), so that each
server process holds the same values and every contender can be checked against the others.
Plain dataclasses of ``int`` and ``str`` fields: every contender maps them the same way (a
run's ``day`` is an ISO date string, not a date, so that no library's date scalar is measured).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

USER_COUNT = 100
RUNS_PER_USER = 50
FIRST_DAY = date(2026, 1, 1)


@dataclass(frozen=True)
class User:
    """A runner."""

    id: int
    name: str
    email: str


@dataclass(frozen=True)
class Run:
    """One run of a user: how far (meters), how long (seconds) and on which day."""

    id: int
    user_id: int
    meters: int
    seconds: int
    day: str


def make_runs(user_id: int) -> list[Run]:
    """The runs of ``user_id``, oldest first, one every other day from ``FIRST_DAY``."""
    runs = []
    for number in range(RUNS_PER_USER):
        run_id = (user_id - 1) * RUNS_PER_USER + number + 1
        meters = 3000 + run_id * 37 % 12000
        pace = 240 + run_id % 120  # seconds per kilometre
        day = FIRST_DAY + timedelta(days=2 * number)
        runs.append(Run(run_id, user_id, meters, meters * pace // 1000, day.isoformat()))
    return runs


USERS = {
    user_id: User(user_id, f"runner {user_id}", f"runner{user_id}@example.com")
    for user_id in range(1, USER_COUNT + 1)
}
RUNS = {user_id: make_runs(user_id) for user_id in USERS}
"""Each user's runs, oldest first."""


def find_user(user_id: int) -> User | None:
    """The user with this id, or None."""
    return USERS.get(user_id)


def last_runs(user_id: int, last: int) -> list[Run]:
    """The ``last`` most recent runs of ``user_id``, newest first."""
    if last <= 0:
        return []
    return RUNS.get(user_id, [])[::-1][:last]
