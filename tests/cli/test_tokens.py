"""``atoll tokens``: a service's API tokens issued, listed and revoked from the command line.

The targets are the factories of ``tokens_service.py`` beside this file, on a SQLite file in
the test's directory; a service started on that file accepts what the command issued.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

import atoll.testing
from atoll.cli import cli
from tests.cli import tokens_service

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def importable(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))


def atoll_tokens(*args: str):
    return CliRunner().invoke(cli, ["tokens", *args], env={})


async def command(*args: str):
    return await asyncio.to_thread(atoll_tokens, *args)


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"


async def test_create_list_and_revoke_round_trip(url, caplog):
    """The commands run in a thread of their own: each runs an event loop, as in a shell."""
    caplog.set_level(logging.DEBUG)
    target = "tokens_service:service"
    created = await command(
        "create", target, "--subject", "ci-bot", "--scope", "runs:read", "--scope", "runs:write",
        "--kind", "service", "--label", "nightly export", "--expires-in", "30d", "--db-url", url,
    )  # fmt: skip
    token = ok(created).strip()
    assert token.startswith("atl_")
    assert "\n" not in token
    assert "shown this once" in created.stderr
    assert token not in created.stderr
    listed = ok(await command("list", target, "--db-url", url))
    header, row = listed.splitlines()
    assert header.split() == [
        "ID", "LABEL", "KIND", "SUBJECT", "SCOPES", "CREATED", "EXPIRES", "REVOKED",
    ]  # fmt: skip
    token_id = row.split()[0]
    assert "nightly export" in row
    assert "service  ci-bot" in row
    assert "runs:read,runs:write" in row
    assert row.rstrip().endswith("-")  # not revoked
    assert token not in listed
    argv = ["--no-auth-anonymous", "--auth-api-tokens", "--db-url", url]
    async with atoll.testing.run(tokens_service.service(), argv=argv) as running:
        answer = await running.client.get("/me", headers={"x-api-key": token})
        assert answer.json() == "ci-bot"
    revoked = ok(await command("revoke", target, token_id, "--db-url", url))
    assert f"revoked API token {token_id} of ci-bot" in revoked
    assert "running processes refuse it within 5 s" in revoked
    assert not ok(await command("list", target, "--db-url", url)).splitlines()[1].endswith("-")
    async with atoll.testing.run(tokens_service.service(), argv=argv) as running:
        answer = await running.client.get("/me", headers={"x-api-key": token})
        assert answer.status_code == 401
    assert token not in caplog.text


def test_revoking_an_unknown_id_fails_and_says_so(url):
    result = atoll_tokens("revoke", "tokens_service:service", "nope", "--db-url", url)
    assert result.exit_code == 1
    assert "no API token has the ID 'nope'" in result.stderr


def test_revoke_needs_an_id():
    result = atoll_tokens("revoke", "tokens_service:service")
    assert result.exit_code == 2
    assert "needs the token's ID" in result.output


def test_an_empty_list_says_so(url):
    assert ok(atoll_tokens("list", "tokens_service:service", "--db-url", url)) == "no API tokens\n"


@pytest.mark.parametrize("duration", ["0d", "30 days", "1y", "-5m"])
def test_a_duration_that_is_none_is_a_usage_error(url, duration):
    result = atoll_tokens(
        "create", "tokens_service:service", "--subject", "a", "--expires-in", duration,
        "--db-url", url,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "is no duration above 0" in result.output


def test_memory_is_refused_as_out_of_reach():
    result = atoll_tokens(
        "create", "tokens_service:service", "--subject", "a", "--db-url", "memory://"
    )
    assert result.exit_code == 2
    assert "lives in the memory of one running process" in result.stderr


def test_a_service_without_a_database_is_a_usage_error():
    result = atoll_tokens("list", "tokens_service:no_database")
    assert result.exit_code == 2
    assert "keeps no database" in result.output


def test_a_system_keeps_its_tokens_in_its_first_database_unless_told(tmp_path):
    runs = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    users = f"sqlite+aiosqlite:///{tmp_path / 'users.db'}"
    options = ["--runs-db-url", runs, "--users-db-url", users]
    target = "tokens_service:system"
    ok(atoll_tokens("create", target, "--subject", "a", *options))
    ok(atoll_tokens("create", target, "--service", "users", "--subject", "b", *options))
    first = ok(atoll_tokens("list", target, *options))
    named = ok(atoll_tokens("list", target, "--service", "users", *options))
    assert [line.split()[3] for line in first.splitlines()[1:]] == ["a"]
    assert [line.split()[3] for line in named.splitlines()[1:]] == ["b"]
