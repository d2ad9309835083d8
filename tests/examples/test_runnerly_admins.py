"""Runnerly's admins list every runner; a runner's token is refused it before it runs (BFLA).

An admin is a runner whose email is in ``--accounts-admins``: a login of hers gives a token
whose ``scope`` holds ``runnerly:admin``, which the policy of ``list_users`` asks for. Bo, a
runner, tries the admin's operation over REST, JSON-RPC (alone and in a batch), broker RPC and
in the process: 403, or the pinned JSON-RPC code, and the handler never runs.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

import atoll
import atoll.testing
from atoll.errors import RemoteError
from atoll.messaging.broker import Broker
from atoll.service.definition import FORBIDDEN_CODE
from runnerly.app import system
from runnerly.users.contracts import UNKNOWN_USER
from tests.examples.test_runnerly import MEMORY, ada, bearer, log_in

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

REFUSED = "list_users needs scopes runnerly:admin"
"""What the policy of list_users says to a caller it refuses."""
LISTED = "listed the"
"""What list_users logs each time it runs: an admin's operation leaves a trace."""


@dataclass
class Club:
    """The system with Ada, an admin (id 1), and Bo, a runner (id 2)."""

    harness: atoll.testing.ServiceHarness
    ada: dict[str, str]
    bo: dict[str, str]


@contextlib.asynccontextmanager
async def club(*more: str) -> AsyncIterator[Club]:
    """Ada is an admin by her email; the services serve broker RPC on a broker of their own."""
    argv = [*MEMORY, "--broker-url", f"memory://admins-{uuid.uuid4().hex}"]
    argv += ["--accounts-admins", "ada@example.org", *more]
    async with atoll.testing.run(system(), argv=argv) as harness:
        await harness.send(ada())
        await harness.send(ada("bo@example.org", "Bo"))
        yield Club(harness, await bearer(harness), await bearer(harness, "bo@example.org"))


def claims_of(headers: dict[str, str]) -> dict[str, Any]:
    """The claims of the access token of ``headers``, read without checking it."""
    payload = headers["authorization"].split()[1].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def listings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The lines list_users logged: one each time it ran."""
    return [r.getMessage() for r in caplog.records if LISTED in r.getMessage()]


async def attempt(club: Club, transport: str, headers: dict[str, str]) -> Any:
    """Call list_users over ``transport`` with ``headers``: REST's status and body, or the
    JSON-RPC answer's ``result`` or ``error``."""
    harness = club.harness
    if transport == "rest":
        response = await harness.client.get("/users", headers=headers)
        return response.status_code, response.json()
    if transport == "in-process":
        who = atoll.Identity(
            kind="user",
            subject=claims_of(headers)["sub"],
            scopes=frozenset(claims_of(headers)["scope"].split()),
            scheme="jwt",
        )
        with harness.acting_as(who):
            try:
                return {"result": await harness.rpc.methods.users.list_users()}
            except RemoteError as error:
                return {"error": {"code": error.code, "data": error.data}}
    if transport == "json-rpc":
        call = {"jsonrpc": "2.0", "method": "users.list_users", "id": 1}
        answer = (await harness.client.post("/rpc", json=call, headers=headers)).json()
    else:
        broker = await harness.container.aget(Broker)
        call = {"jsonrpc": "2.0", "method": "list_users", "id": 1}
        answer = json.loads(await broker.request("users", json.dumps(call).encode(), 10.0, headers))
    return {key: answer[key] for key in ("result", "error") if key in answer}


TRANSPORTS = ("rest", "json-rpc", "broker-rpc", "in-process")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_admin_lists_every_runner(transport, caplog):
    caplog.set_level(logging.INFO, logger="runnerly.users")
    async with club() as runners:
        answer = await attempt(runners, transport, runners.ada)
    listed = answer[1] if transport == "rest" else answer["result"]
    assert [(profile["id"], profile["name"]) for profile in listed] == [(1, "Ada"), (2, "Bo")]
    assert listings(caplog) == ["admin 1 listed the 2 runners"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_runners_token_is_refused_the_admins_operation_which_never_runs(transport, caplog):
    caplog.set_level(logging.INFO, logger="runnerly.users")
    async with club() as runners:
        answer = await attempt(runners, transport, runners.bo)
    if transport == "rest":
        status, problem = answer
        assert (status, problem["detail"], problem["error_type"]) == (
            403,
            REFUSED,
            "ForbiddenError",
        )
    else:
        assert answer["error"]["code"] == FORBIDDEN_CODE
        assert answer["error"]["data"]["detail"] == REFUSED
    assert listings(caplog) == []  # the handler never ran


async def test_in_a_batch_the_admins_call_is_refused_and_the_others_answer(caplog):
    caplog.set_level(logging.INFO, logger="runnerly.users")
    async with club() as runners:
        batch = [
            {"jsonrpc": "2.0", "method": "users.get_profile", "params": {"user_id": 2}, "id": 1},
            {"jsonrpc": "2.0", "method": "users.list_users", "id": 2},
            {"jsonrpc": "2.0", "method": "runs.weekly_meters", "params": {"user_id": 2}, "id": 3},
        ]
        answers = await runners.harness.client.post("/rpc", json=batch, headers=runners.bo)
    by_id = {answer["id"]: answer for answer in answers.json()}
    assert by_id[1]["result"]["name"] == "Bo"
    assert by_id[2]["error"]["code"] == FORBIDDEN_CODE
    assert by_id[2]["error"]["data"]["detail"] == REFUSED
    assert by_id[3]["result"] == 0
    assert listings(caplog) == []


async def test_the_admins_token_carries_the_role_in_its_scope_and_a_runners_does_not():
    async with club() as runners:
        assert claims_of(runners.ada)["scope"].split() == ["runnerly:runner", "runnerly:admin"]
        assert claims_of(runners.bo)["scope"].split() == ["runnerly:runner"]


async def test_the_admin_scope_comes_with_a_login_and_not_with_a_refresh():
    async with club() as runners:
        client = runners.harness.client
        tokens = await log_in(runners.harness)
        refreshed = await client.post("/refresh", json={"refresh_token": tokens["refresh_token"]})
        headers = {"authorization": f"Bearer {refreshed.json()['access_token']}"}
        assert claims_of(headers)["scope"] == "runnerly:runner"
        assert (await client.get("/users", headers=headers)).status_code == 403
        assert (
            await client.get("/users", headers=await bearer(runners.harness))
        ).status_code == 200


async def test_without_admins_no_one_lists_the_runners():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        await harness.send(ada())
        headers = await bearer(harness)
        assert claims_of(headers)["scope"] == "runnerly:runner"
        assert (await harness.client.get("/users", headers=headers)).status_code == 403


async def test_a_runner_sees_her_own_profile_and_anothers_is_answered_as_none():
    async with club() as runners:
        client = runners.harness.client
        own = await client.get("/users/2", headers=runners.bo)
        assert own.json() == {"id": 2, "email": "bo@example.org", "name": "Bo"}
        adas = await client.get("/users/1", headers=runners.bo)
        nobodys = await client.get("/users/99", headers=runners.bo)
        assert (adas.status_code, adas.json()["detail"]) == (404, "no user with id 1")
        assert {**adas.json(), "detail": "", "instance": ""} == {
            **nobodys.json(),
            "detail": "",
            "instance": "",
        }
        bo = atoll.Identity(kind="user", subject="2")
        with runners.harness.acting_as(bo), pytest.raises(RemoteError) as refused:
            await runners.harness.rpc.methods.users.get_profile(user_id=1)
        assert refused.value.code == UNKNOWN_USER
        admins_view = await client.get("/users/2", headers=runners.ada)
        assert admins_view.json() == own.json()  # an admin sees every runner's
