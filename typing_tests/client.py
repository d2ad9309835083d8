# Clients of remote services, used as a service or a script would use them.
# Type-checked by mypy --strict, never run. Each `type: ignore[code]` marks a line mypy must
# reject: with warn_unused_ignores (part of --strict), mypy fails if the error goes away.
from dataclasses import dataclass
from typing import Any, assert_type

import httpx

from atoll.clients.directory import ClientOptions, Clients
from atoll.clients.remote import (
    Batch,
    Pending,
    RemoteService,
    SyncBatch,
    SyncRemoteService,
)
from atoll.clients.transports import (
    HttpTransport,
    LocalTransport,
    SyncHttpTransport,
    Transport,
)
from atoll.endpoints.rpc.jsonrpc import JsonRpc


@dataclass(frozen=True)
class Profile:
    user_id: int
    name: str


class Engine:
    async def handle(self, body: bytes) -> bytes | None:
        return body


class BlockingEngine:
    def handle(self, body: bytes) -> bytes | None:
        return body


def _text(_error: Exception) -> str:
    return "none"


async def calls(engine: JsonRpc) -> None:
    users = RemoteService("http://127.0.0.1:8001/rpc", timeout=2.0)
    assert_type(await users.methods.get_profile(user_id=1), Any)
    assert_type(await users.methods.users.get_profile(1), Any)
    assert_type(await users.notifications.touch(user_id=1), None)
    assert_type(await users.call("get_profile", {"user_id": 1}), Any)
    assert_type(await users.call("get_profile", [1], result_type=Profile), Profile)
    assert_type(await users.call("ids", result_type=list[int]), list[int])
    fallback = await users.call("ids", result_type=list[int], fallback=lambda _error: [])
    assert_type(fallback, list[int])
    await users.call("ids", result_type=list[int], fallback=_text)  # type: ignore[arg-type]
    assert_type(await users.call("record_run", idempotency_key="run-7"), Any)
    await users.call("get_profile", "1")  # type: ignore[call-overload]
    assert_type(await users.notify("touch", {"user_id": 1}), None)
    assert_type(await users.raw(b"{}"), bytes | None)
    assert_type(await users.name(), str)
    assert_type(await users.method_names(), list[str])
    assert_type(users.url, str)
    async with users.batch() as batch:
        assert_type(batch, Batch)
        pending = batch.methods.get_profile(user_id=1)
        assert_type(batch.notifications.touch(user_id=1), None)
    assert_type(pending, Pending)
    assert_type(pending.result(), Any)
    assert_type(pending.done, bool)
    async with RemoteService(LocalTransport(engine, name="users")) as local:
        assert_type(local, RemoteService)
    RemoteService(LocalTransport(Engine()))
    LocalTransport(BlockingEngine())  # type: ignore[arg-type]
    transport: Transport = HttpTransport("http://h:1", client=httpx.AsyncClient())
    RemoteService(transport)
    RemoteService(SyncHttpTransport("http://h:1"))  # type: ignore[arg-type]
    RemoteService(1)  # type: ignore[arg-type]
    await users.aclose()


def script() -> None:
    with SyncRemoteService("http://127.0.0.1:8001/rpc") as users:
        assert_type(users.methods.get_profile(user_id=1), Any)
        assert_type(users.notifications.touch(user_id=1), None)
        assert_type(users.call("get_profile", [1], result_type=Profile), Profile)
        assert_type(users.name, str)
        assert_type(users.method_names(), list[str])
        assert_type(users.raw(b"{}"), bytes | None)
        with users.batch() as batch:
            assert_type(batch, SyncBatch)
            assert_type(batch.methods.add(1, 2), Pending)
    SyncRemoteService(SyncHttpTransport("http://h:1", client=httpx.Client()))
    SyncRemoteService(HttpTransport("http://h:1"))  # type: ignore[arg-type]


async def by_name(engine: JsonRpc) -> None:
    options = ClientOptions(urls=["users=http://127.0.0.1:8001/rpc"], timeout=5.0)
    assert_type(options.targets(), dict[str, tuple[str, ...]])
    clients = Clients(options, {"runs": engine}, env_prefix="RUNS")
    assert_type(clients.get("users"), RemoteService)
    await clients.start()
    await clients.stop()
    ClientOptions(urls="users=http://h")  # type: ignore[arg-type]
    Clients(options, {"runs": BlockingEngine()})  # type: ignore[dict-item]
