"""Runnerly, the reference system: its use cases, and the demo as ``make demo`` runs it."""

from __future__ import annotations

import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runnerly.runs.application import RecordRun, Runs, UnknownRunnerError
from runnerly.runs.domain import InvalidRunError, week_of
from runnerly.runs.infrastructure import InMemoryRunRepository, LocalUserDirectory
from runnerly.users.application import RegisterUser, Users
from runnerly.users.domain import EmailTakenError, UnknownUserError
from runnerly.users.infrastructure import InMemoryUserRepository

RUNNERLY = Path(__file__).resolve().parents[2] / "examples" / "runnerly"
MONDAY = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)


@pytest.fixture
def users() -> Users:
    return Users(InMemoryUserRepository())


@pytest.fixture
def runs(users: Users) -> Runs:
    return Runs(InMemoryRunRepository(), LocalUserDirectory(users))


def test_register_normalises_the_email_and_refuses_it_twice(users):
    ada = users.register(RegisterUser(email=" Ada@Example.org ", name="Ada "))
    assert (ada.email, ada.name) == ("ada@example.org", "Ada")
    assert users.profile(ada.id) == ada
    with pytest.raises(EmailTakenError, match=r"ada@example\.org is already registered"):
        users.register(RegisterUser(email="ADA@example.org", name="Other"))


def test_profile_of_an_unknown_user_is_an_error(users):
    with pytest.raises(UnknownUserError, match="no user with id 7"):
        users.profile(7)


def test_weekly_meters_adds_the_runs_of_that_week_only(users, runs):
    ada = users.register(RegisterUser(email="ada@example.org", name="Ada"))
    runs.record(RecordRun(ada.id, 5000, 1500, MONDAY))
    runs.record(RecordRun(ada.id, 3000, 900, MONDAY + timedelta(days=6)))
    runs.record(RecordRun(ada.id, 9000, 2700, MONDAY - timedelta(days=1)))
    assert runs.weekly_meters(ada.id, MONDAY + timedelta(days=2)) == 8000
    assert [r.meters for r in runs.runs_of(ada.id)] == [9000, 5000, 3000]
    assert runs.runs_of(ada.id)[1].pace == 300


def test_a_run_needs_a_registered_runner_distance_and_time(users, runs):
    with pytest.raises(UnknownRunnerError, match="no runner with id 1"):
        runs.record(RecordRun(1, 5000, 1500, MONDAY))
    ada = users.register(RegisterUser(email="ada@example.org", name="Ada"))
    with pytest.raises(InvalidRunError, match="covers some distance"):
        runs.record(RecordRun(ada.id, 0, 1500, MONDAY))
    with pytest.raises(InvalidRunError, match="takes some time"):
        runs.record(RecordRun(ada.id, 5000, 0, MONDAY))


def test_a_week_starts_on_monday_at_midnight():
    assert week_of(MONDAY + timedelta(days=3, hours=5)) == MONDAY.replace(hour=0, minute=0)


def test_the_demo_starts_logs_ready_and_stops_cleanly_on_ctrl_c(spawn):
    process = spawn(sys.executable, "-m", "runnerly", cwd=str(RUNNERLY))
    process.wait_for("runnerly ready")
    process.wait_for("seeded runner Ada (id 1): 16.0 km this week")
    process.signal(signal.SIGINT)
    assert process.finish() == 0
    assert "runnerly stopped" in process.output
