"""atoll auth: clients added with a secret shown once, listed, removed; keys rotated and listed."""

from __future__ import annotations

from click.testing import CliRunner

from atoll.cli import cli


def _invoke(*argv: str):
    return CliRunner().invoke(cli, ["auth", *argv])


def test_clients_are_added_listed_and_removed(tmp_path):
    db = ["--db-url", f"sqlite+aiosqlite:///{tmp_path}/auth.db"]
    added = _invoke(
        "clients",
        "add",
        "atoll.auth:service",
        "--client-id",
        "runs-worker",
        "--scope",
        "runs:read",
        "--scope",
        "runs:write",
        "--audience",
        "https://runs.example.org",
        *db,
    )
    assert added.exit_code == 0, added.output
    lines = dict(line.split(": ", 1) for line in added.stdout.splitlines() if ": " in line)
    assert lines["client_id"] == "runs-worker"
    secret = lines["client_secret"]
    assert len(secret) == 43
    listed = _invoke("clients", "list", *db)  # the target is atoll.auth:service by default
    assert listed.exit_code == 0, listed.output
    assert "runs-worker" in listed.stdout
    assert "runs:read runs:write" in listed.stdout
    assert secret not in listed.output
    assert "scrypt" not in listed.output
    again = _invoke("clients", "add", "--client-id", "runs-worker", "--audience", "runs", *db)
    assert again.exit_code == 1
    assert "exists already" in again.output
    removed = _invoke("clients", "remove", "runs-worker", *db)
    assert removed.exit_code == 0, removed.output
    missing = _invoke("clients", "remove", "atoll.auth:service", "runs-worker", *db)
    assert missing.exit_code == 1
    assert "no client 'runs-worker'" in missing.output


def test_a_malformed_client_is_a_usage_error(tmp_path):
    db = ["--db-url", f"sqlite+aiosqlite:///{tmp_path}/auth.db"]
    result = _invoke("clients", "add", "--client-id", "runs worker", "--audience", "runs", *db)
    assert result.exit_code == 2
    assert "client id 'runs worker'" in result.output


def test_keys_are_rotated_and_listed(tmp_path):
    db = ["--db-url", f"sqlite+aiosqlite:///{tmp_path}/auth.db"]
    rotated = _invoke("keys", "rotate", *db, "--tokens-rotation-delay", "900")
    assert rotated.exit_code == 0, rotated.output
    kid = rotated.stdout.split()[2]
    listed = _invoke("keys", "list", *db)
    assert listed.exit_code == 0, listed.output
    assert kid in listed.stdout
    assert "PRIVATE" not in listed.output


def test_a_target_without_a_token_service_is_a_usage_error():
    result = _invoke("clients", "list", "atoll.errors:AtollError")
    assert result.exit_code == 2
    assert "no token service" in result.output
