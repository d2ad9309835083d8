"""Runnerly's accounts: passwords, sessions from the token service, and tokens on every call."""

from __future__ import annotations

import contextlib
import logging
import sqlite3

import pytest

import atoll.testing
from atoll.errors import ConfigError, RemoteError
from runnerly.app import service, system
from runnerly.users.contracts import (
    INVALID_CREDENTIALS,
    SESSION_ENDED,
    WEAK_PASSWORD,
    LogIn,
    RegisterUser,
)
from runnerly.users.domain import InvalidCredentialsError, WeakPasswordError
from tests.examples.test_runnerly import MEMORY, PASSWORD, ada, bearer, log_in, on_sqlite


async def test_a_password_is_kept_as_an_argon2id_hash_and_never_shown(tmp_path):
    async with atoll.testing.run(system(), argv=on_sqlite(tmp_path)) as harness:
        profile = await harness.send(ada())
    with contextlib.closing(sqlite3.connect(tmp_path / "users.db")) as database:
        (hashed,) = database.execute("SELECT password_hash FROM users").fetchone()
    assert hashed.startswith("$argon2id$")
    assert PASSWORD not in hashed
    assert PASSWORD not in repr(ada())
    assert not hasattr(profile, "password_hash")


async def test_a_password_too_short_or_too_long_is_a_422_saying_which():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        short = await harness.client.post(
            "/users", json={"email": "bo@example.org", "name": "Bo", "password": "seven77"}
        )
        assert short.status_code == 422
        assert short.json()["detail"] == "a password has at least 8 characters; a phrase is best"
        assert short.json()["error_type"] == "WeakPasswordError"
        with pytest.raises(WeakPasswordError, match="at most 256 characters"):
            await harness.send(RegisterUser("bo@example.org", "Bo", "x" * 257))
        with pytest.raises(RemoteError) as over_rpc:
            await harness.rpc.methods.users.register_user(
                email="bo@example.org",
                name="Bo",
                password="short",  # noqa: S106 - refused
            )
        assert over_rpc.value.code == WEAK_PASSWORD


async def test_a_login_gives_tokens_that_every_service_accepts():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        await harness.send(ada())
        tokens = await log_in(harness, email=" ADA@example.org ")
        assert tokens["token_type"] == "Bearer"  # noqa: S105 - a token type, no password
        assert tokens["expires_in"] == 300
        assert tokens["refresh_token"].startswith("atr_")
        headers = {"authorization": f"Bearer {tokens['access_token']}"}
        me = await harness.client.get("/me", headers=headers)
        assert me.json() == {"id": 1, "email": "ada@example.org", "name": "Ada"}
        for path in (
            "/users/1",
            "/users/1/runs",
            "/users/1/weekly-meters",
            "/users/1/weekly-totals",
        ):
            assert (await harness.client.get(path, headers=headers)).status_code == 200, path


async def test_without_a_token_every_call_but_the_public_ones_is_a_401():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        await harness.send(ada())
        for path in ("/users/1", "/me", "/users/1/runs", "/users/1/weekly-totals"):
            refused = await harness.client.get(path)
            assert refused.status_code == 401, path
            assert refused.headers["www-authenticate"].startswith("Bearer")
        call = {"jsonrpc": "2.0", "method": "runs.weekly_meters", "params": {"user_id": 1}, "id": 1}
        answer = (await harness.client.post("/rpc", json=call)).json()
        assert answer["error"]["code"] == -32012
        forged = {"authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."}
        assert (await harness.client.get("/me", headers=forged)).status_code == 401
        for path in ("/.well-known/jwks.json", "/health/ready", "/docs"):
            assert (await harness.client.get(path)).status_code == 200, path


async def test_a_wrong_password_and_an_unknown_email_get_the_same_401():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        await harness.send(ada())
        wrong = await harness.client.post(
            "/login", json={"email": "ada@example.org", "password": PASSWORD + "!"}
        )
        unknown = await harness.client.post(
            "/login", json={"email": "nobody@example.org", "password": PASSWORD}
        )
        for refused in (wrong, unknown):
            assert refused.status_code == 401
            assert refused.json()["detail"] == "the email or the password is wrong"
        with pytest.raises(InvalidCredentialsError):
            await harness.send(LogIn("ada@example.org", "not it at all"))
        with pytest.raises(RemoteError) as over_rpc:
            await harness.rpc.methods.users.log_in(
                email="ada@example.org",
                password="nope nope",  # noqa: S106 - a wrong one
            )
        assert over_rpc.value.code == INVALID_CREDENTIALS


async def test_a_refresh_rotates_and_a_refresh_token_used_twice_ends_the_session():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        await harness.send(ada())
        first = await log_in(harness)
        renewed = await harness.client.post(
            "/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert renewed.status_code == 200
        second = renewed.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        headers = {"authorization": f"Bearer {second['access_token']}"}
        assert (await harness.client.get("/me", headers=headers)).status_code == 200
        reused = await harness.client.post(
            "/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert reused.status_code == 401  # a stolen token, or a client that lost track
        assert reused.json()["error_type"] == "SessionEndedError"
        ended = await harness.client.post(
            "/refresh", json={"refresh_token": second["refresh_token"]}
        )
        with pytest.raises(RemoteError) as over_rpc:
            await harness.rpc.methods.users.refresh_session(refresh_token=second["refresh_token"])
        assert over_rpc.value.code == SESSION_ENDED
        assert ended.status_code == 401  # the whole session ended with the reuse
        assert ended.json()["detail"] == (
            "the session has ended, or the refresh token is not valid: log in again"
        )


async def test_a_logout_ends_the_session_and_other_sessions_go_on():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        await harness.send(ada())
        phone, laptop = await log_in(harness), await log_in(harness)
        out = await harness.client.post("/logout", json={"refresh_token": phone["refresh_token"]})
        assert out.status_code == 204
        refused = await harness.client.post(
            "/refresh", json={"refresh_token": phone["refresh_token"]}
        )
        assert refused.status_code == 401
        goes_on = await harness.client.post(
            "/refresh", json={"refresh_token": laptop["refresh_token"]}
        )
        assert goes_on.status_code == 200
        again = await harness.client.post("/logout", json={"refresh_token": "atr_unknown"})
        assert again.status_code == 204  # nothing to end: the same answer


async def test_no_password_or_token_reaches_a_log_line(caplog):
    caplog.set_level(logging.DEBUG)
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        await harness.client.post(
            "/users", json={"email": "ada@example.org", "name": "Ada", "password": PASSWORD}
        )
        await harness.client.post("/login", json={"email": "ada@example.org", "password": "nope!"})
        tokens = await log_in(harness)
        headers = await bearer(harness)
        await harness.client.get("/me", headers=headers)
        await harness.client.post("/refresh", json={"refresh_token": tokens["refresh_token"]})
        await harness.client.post("/refresh", json={"refresh_token": tokens["refresh_token"]})
        await harness.client.post("/logout", json={"refresh_token": tokens["refresh_token"]})
    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    assert "issued token" in logged  # the token service logged at DEBUG
    secrets = (PASSWORD, "nope!", tokens["access_token"], tokens["refresh_token"])
    for secret in (*secrets, headers["authorization"].split()[1]):
        assert secret not in logged


async def test_users_alone_without_a_token_service_says_which_flags_to_set():
    with pytest.raises(ConfigError, match="set --clients-token-url"):
        async with atoll.testing.run(service("users"), argv=["--db-url", "memory://"]):
            pass
