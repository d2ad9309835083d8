"""No secret of Runnerly's reaches a log record or an answer, whatever an attacker sends.

An attack on Runnerly in one process, on SQLite (so that its SQL is logged too), with every
logger at DEBUG: registrations (a weak password, a taken email), logins with wrong passwords
and unknown emails, bad, forged and tampered tokens, a token in the URL, calls with valid
tokens over REST and JSON-RPC (a batch, a login and a refresh over JSON-RPC, invalid params),
refreshes, a refresh token used twice, logouts. Every secret the run used or made (the
passwords, the access and refresh tokens, the forged ones, the users service's client secret
at the token service, the token service's private signing keys) is then looked for in every
log record (its message, its arguments, its extra fields, its exception and traceback) and
in every answer, but for the tokens a login or a refresh hands to the caller.
"""

from __future__ import annotations

import base64
import json
import logging
import traceback
from typing import TYPE_CHECKING

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import atoll.testing
from atoll.auth.keyring import Keyring
from atoll.testing.client import TEST_BASE_URL
from runnerly.app import SessionClient, system
from tests.examples.test_runnerly import PASSWORD, on_sqlite

if TYPE_CHECKING:
    import httpx

EMAIL = "ada@example.org"
WRONG = "not her password at all"
WEAK = "seven77"


@pytest.fixture
def every_logger_at_debug(caplog):
    """caplog at DEBUG, and every logger made so far at DEBUG too; levels restored after."""
    caplog.set_level(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]
    levels = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    yield caplog
    for logger, level in levels:
        logger.setLevel(level)


class Attack:
    """The answers of an attack, and the secrets they may hand out where they should."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.answers: list[httpx.Response] = []
        self.issued: list[httpx.Response] = []
        """The answers that hand tokens to their caller: a login's, a refresh's."""

    async def send(self, method: str, path: str, *, issues: bool = False, **kwargs):
        answer = await self.client.request(method, path, **kwargs)
        (self.issued if issues else self.answers).append(answer)
        return answer

    async def log_in(self, password: str = PASSWORD) -> dict:
        body = {"email": EMAIL, "password": password}
        answer = await self.send("POST", "/login", json=body, issues=password == PASSWORD)
        return answer.json()

    async def rpc(self, token: str | None, *calls: dict, issues: bool = False):
        headers = {} if token is None else {"authorization": f"Bearer {token}"}
        body = calls[0] if len(calls) == 1 else list(calls)
        answer = await self.send("POST", "/rpc", json=body, headers=headers, issues=issues)
        return answer.json()


def call(method: str, ident: int = 1, **params) -> dict:
    return {"jsonrpc": "2.0", "method": method, "params": params, "id": ident}


def forged_tokens(real: str) -> list[str]:
    """Tokens an attacker makes: unsigned, signed by a key of their own, and tampered."""
    header, payload, signature = real.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    kid = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    unsigned = jwt.encode({**claims, "sub": "2"}, key=None, algorithm="none")
    own_key = jwt.encode(
        {**claims, "sub": "2"}, Ed25519PrivateKey.generate(), "EdDSA", headers={"kid": kid}
    )
    by_the_public_key = jwt.encode({**claims, "sub": "2"}, kid * 4, "HS256")
    other = base64.urlsafe_b64encode(json.dumps({**claims, "sub": "2"}).encode()).rstrip(b"=")
    tampered = f"{header}.{other.decode()}.{signature}"
    return [unsigned, own_key, by_the_public_key, tampered, "eyJhbGciOi.garbage.x"]


async def attack(harness) -> tuple[Attack, list[str]]:
    """Run the attack; the tokens it used (issued and forged)."""
    run = Attack(harness.client)
    runner = {"email": EMAIL, "name": "Ada", "password": PASSWORD}
    await run.send("POST", "/users", json={**runner, "password": WEAK})
    await run.send("POST", "/users", json=runner)
    await run.send("POST", "/users", json=runner)  # taken
    await run.log_in(WRONG)
    await run.send("POST", "/login", json={"email": "bo@example.org", "password": PASSWORD})
    first = await run.log_in()
    access, refresh = first["access_token"], first["refresh_token"]
    forged = forged_tokens(access)
    for token in [*forged, refresh, access + "x", access[:-4]]:
        refused = await run.send("GET", "/me", headers={"authorization": f"Bearer {token}"})
        assert refused.status_code == 401, refused.text
        answer = await run.rpc(token, call("runs.weekly_meters", user_id=1))
        assert answer["error"]["code"] == -32012, answer
    in_the_url = await run.send("GET", "/me", params={"access_token": access})
    twice = await run.send("GET", "/me", headers=[("authorization", f"Bearer {access}")] * 2)
    assert (in_the_url.status_code, twice.status_code) == (400, 400)
    await run.send("GET", "/me", headers={"authorization": f"Basic {access}"})
    bearer = {"authorization": f"Bearer {access}"}
    run_body = {"user_id": 1, "meters": 5000, "seconds": 1500, "started_at": "2026-11-23T07:30Z"}
    await run.send("POST", "/runs", json=run_body, headers=bearer)
    await run.send("POST", "/runs", json={**run_body, "meters": PASSWORD}, headers=bearer)
    for path in ("/me", "/users/1", "/users/1/runs", "/users/1/weekly-totals"):
        await run.send("GET", path, headers=bearer)
    await run.rpc(
        access,
        call("runs.weekly_meters", 1, user_id=1),
        call("users.get_profile", 2, user_id=1),
        call("users.log_in", 3, email=EMAIL, password=WRONG),
        call("users.log_in", 4, email=EMAIL, password=[PASSWORD]),
        call("users.log_in", 5, email=EMAIL, password=PASSWORD, otp=PASSWORD),
        call("users.register_user", 6, email="bo@example.org", name="Bo", password=WEAK),
        call("users.refresh_session", 7, refresh_token=access),
        call("no.such_method", 8, token=access),
    )
    over_rpc = await run.rpc(
        None, call("users.log_in", email=EMAIL, password=PASSWORD), issues=True
    )
    tokens = over_rpc["result"]
    renewed = await run.send("POST", "/refresh", json={"refresh_token": refresh}, issues=True)
    reused = await run.send("POST", "/refresh", json={"refresh_token": refresh})
    assert reused.status_code == 401  # and the session has ended
    await run.send("POST", "/refresh", json={"refresh_token": renewed.json()["refresh_token"]})
    by_rpc = await run.rpc(
        None, call("users.refresh_session", refresh_token=tokens["refresh_token"]), issues=True
    )
    await run.rpc(None, call("users.log_out", refresh_token=by_rpc["result"]["refresh_token"]))
    await run.send("POST", "/logout", json={"refresh_token": tokens["refresh_token"]})
    await run.send("POST", "/logout", json={"refresh_token": PASSWORD})
    issued = [first, renewed.json(), tokens, by_rpc["result"]]
    used = [t for answer in issued for t in (answer["access_token"], answer["refresh_token"])]
    return run, [*used, *forged]


def parts(token: str) -> list[str]:
    """A token, and each of its JWT segments long enough to be its own (a log of one leaks)."""
    return [token, *(part for part in token.split(".")[1:] if len(part) >= 16)]


def pem_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def everything_in(record: logging.LogRecord) -> str:
    """A record's message, arguments, extra fields, exception and traceback, as text."""
    text = [record.getMessage(), repr(record.args), repr(vars(record))]
    if record.exc_info and record.exc_info[1] is not None:
        text.append("".join(traceback.format_exception(record.exc_info[1])))
    if record.exc_text:
        text.append(record.exc_text)
    return "\n".join(text)


async def test_no_password_token_key_or_secret_reaches_a_log_record_or_an_answer(
    tmp_path, every_logger_at_debug
):
    caplog = every_logger_at_debug
    async with atoll.testing.run(system(), argv=on_sqlite(tmp_path)) as harness:
        run, tokens = await attack(harness)
        client_secret = harness.container.get(SessionClient).secret
        private_keys = [key.private_key for key in await harness.container.get(Keyring).keys()]
    assert client_secret
    assert private_keys
    records = [  # but the test's client's own, which logs the URLs it asks (a token in one)
        record
        for record in caplog.records
        if not (record.name == "httpx" and TEST_BASE_URL in record.getMessage())
    ]
    logged = "\n".join(everything_in(record) for record in records)
    assert "issued token" in logged  # the token service logged at DEBUG
    assert "INSERT INTO" in logged  # and so did SQLAlchemy, statement by statement
    credentials = [PASSWORD, WRONG, WEAK, client_secret]
    secrets = [*credentials, *(part for t in tokens for part in parts(t))]
    secrets += [line for pem in private_keys for line in pem_lines(pem)]
    answered = "\n".join(answer.text for answer in run.answers)
    handed = "\n".join(answer.text for answer in run.issued)
    for secret in secrets:
        assert secret not in logged, f"a secret is logged: {secret[:6]}..."
        assert secret not in answered, f"a secret is answered: {secret[:6]}..."
    for secret in [*credentials, *(line for pem in private_keys for line in pem_lines(pem))]:
        assert secret not in handed, f"a login or refresh answers a secret: {secret[:6]}..."
    assert len(run.answers) + len(run.issued) == 40
