"""The examples of docs/reference/client.md run as shown, against a service served for real.

The page's calls go to ``http://127.0.0.1:8001/rpc``. The test serves a ``runs`` service with
the methods they call on a free port, with atoll's own HTTP server, and runs each block with
that one port in the URL instead of 8001: the rest of each block is the page's text.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
from types import CodeType
from typing import TYPE_CHECKING, Any

import pytest

import atoll
import atoll.testing
from atoll.clients.directory import ClientOptions, Clients
from atoll.endpoints.http.server import HttpServer
from atoll.errors import RemoteError
from atoll.kernel.entrypoint import load_config, running
from atoll.security.identity import Identity
from atoll.service.composition import compose_target
from runnerly.app import system
from runnerly.users.contracts import UNKNOWN_USER, RegisterUser
from tests.docs.pages import REFERENCE, python_blocks

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

PAGE = REFERENCE / "client.md"
PAGE_URL = "http://127.0.0.1:8001/rpc"
TOP_LEVEL_AWAIT = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
RUNNERLY = [
    "--no-demo-seed",
    *(f"--{name}-db-url=memory://" for name in ("users", "runs", "stats", "auth")),
]


def runs_service(calls: list[str]) -> atoll.Service:
    """The service the page's blocks call: each method they name, recording its calls."""
    service = atoll.Service("runs")

    @service.rpc
    async def weekly_meters(user_id: int) -> float:
        calls.append(f"weekly_meters({user_id})")
        return 1000.0 * user_id + 500

    @service.rpc
    async def add(a: int, b: int) -> int:
        calls.append(f"add({a}, {b})")
        return a + b

    @service.rpc
    async def touch(user_id: int) -> None:
        calls.append(f"touch({user_id})")

    @service.rpc(name="users.get_profile")
    async def get_profile(user_id: int) -> dict[str, Any]:
        calls.append(f"users.get_profile({user_id})")
        return {"user_id": user_id, "name": "Ada"}

    @service.rpc(name="get-profile")
    async def get_profile_by_another_name(user_id: int) -> dict[str, Any]:
        calls.append(f"get-profile({user_id})")
        return {"user_id": user_id, "name": "Ada"}

    @service.rpc
    async def best_run(user_id: int) -> dict[str, Any]:
        calls.append(f"best_run({user_id})")
        return {"user_id": user_id, "meters": 8000.0}

    return service


@contextlib.asynccontextmanager
async def served(service: atoll.Service) -> AsyncIterator[str]:
    """``service`` served over HTTP on a free port, as ``atoll run`` serves it; its RPC URL."""
    app = compose_target(service, serve=True)
    config = load_config(app, ["--server-port", "0"], {})
    async with running(app, config) as container:
        yield container.get(HttpServer).url + "/rpc"


def block(number: int, url: str | None = None, *, flags: int = 0) -> CodeType:
    """The page's python block ``number`` (from 1), compiled, the URL it calls made ``url``."""
    text = python_blocks(PAGE)[number - 1]
    if url is not None:
        assert text.count(PAGE_URL) == 1, text
        text = text.replace(PAGE_URL, url)
    return compile(text, f"client.md, block {number}", "exec", flags=flags)


async def run_async(code: CodeType, namespace: dict[str, Any]) -> None:
    """Run a block whose statements await at its top level, as in an async REPL."""
    await eval(code, namespace)  # noqa: S307 - the documentation's own example


def test_the_page_has_the_four_blocks_read_here():
    assert len(python_blocks(PAGE)) == 4


async def test_the_async_client_calls_by_name_by_position_and_notifies():
    calls: list[str] = []
    async with served(runs_service(calls)) as url:
        namespace: dict[str, Any] = {"atoll": atoll}
        await run_async(block(1, url, flags=TOP_LEVEL_AWAIT), namespace)
    assert calls == [
        "weekly_meters(1)",
        "add(1, 2)",
        "touch(1)",  # the notification: run, with nothing returned
        "users.get_profile(1)",
        "get-profile(1)",
    ]
    assert namespace["meters"] == 1500.0
    assert namespace["total"] == 3
    assert namespace["profile"] == {"user_id": 1, "name": "Ada"}


async def test_the_blocking_client_calls_notifies_batches_and_names_the_service(capsys):
    calls: list[str] = []
    async with served(runs_service(calls)) as url:
        namespace: dict[str, Any] = {"atoll": atoll}
        # Blocking calls, from a thread: the server runs on this test's event loop.
        await asyncio.to_thread(exec, block(2, url), namespace)
    assert calls == ["weekly_meters(1)", "touch(1)", "add(1, 2)"]
    assert namespace["meters"] == 1500.0
    names = ["weekly_meters", "add", "touch", "users.get_profile", "get-profile", "best_run"]
    assert capsys.readouterr().out == f"3 runs {names}\n"  # rpc.discover's names, in order


async def test_a_batch_sends_its_calls_together_and_each_pending_holds_its_result(capsys):
    calls: list[str] = []
    async with (
        served(runs_service(calls)) as url,
        atoll.RemoteService(url) as runs,
    ):
        namespace: dict[str, Any] = {"runs": runs}
        await run_async(block(3, flags=TOP_LEVEL_AWAIT), namespace)
    assert sorted(calls) == ["best_run(1)", "touch(1)", "weekly_meters(1)"]
    assert capsys.readouterr().out == "1500.0 {'user_id': 1, 'meters': 8000.0}\n"


def user_directory() -> type:
    """The page's ``RemoteUserDirectory``, its unknown-user code runnerly's users service's."""
    namespace: dict[str, Any] = {"USERS_UNKNOWN_USER": UNKNOWN_USER}
    exec(block(4), namespace)  # noqa: S102 - the documentation's own example
    return namespace["RemoteUserDirectory"]


async def test_the_user_directory_asks_the_users_service_in_the_process():
    async with atoll.testing.run(system(), argv=RUNNERLY) as harness:
        registering = RegisterUser("ada@example.org", "Ada", "ada runs far")
        ada = await harness.send(registering)
        directory = user_directory()(harness.container.get(Clients))
        with harness.acting_as(Identity(kind="user", subject=str(ada.id))):  # a token is needed
            assert await directory.exists(ada.id) is True
            assert await directory.exists(ada.id + 1) is False  # -32004, the users service's


class UsersAwayError(Exception):
    pass


async def test_the_user_directory_asks_over_http_and_raises_any_other_error():
    users = atoll.Service("users")
    users.error(UsersAwayError, status=503, code=-32050)

    @users.rpc
    async def get_profile(user_id: int) -> dict[str, Any]:
        if user_id == 1:
            return {"user_id": 1, "name": "Ada"}
        raise UsersAwayError(f"cannot look up user {user_id} now")

    async with served(users) as url:
        clients = Clients(ClientOptions(urls=[f"users={url}"]))
        directory = user_directory()(clients)
        try:
            assert await directory.exists(1) is True
            with pytest.raises(RemoteError) as raised:
                await directory.exists(2)
            assert raised.value.code == -32050
        finally:
            await clients.stop()
