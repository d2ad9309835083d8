"""The protections of remote calls: retries of what is safe, a breaker, a bulkhead, fallbacks."""

from __future__ import annotations

import asyncio
import socket
import time

import msgspec
import pytest

import atoll
from atoll.clients.directory import ClientOptions, Clients
from atoll.clients.protection import Protection
from atoll.clients.remote import RemoteService
from atoll.clients.transports import HttpTransport
from atoll.endpoints.rpc.engines import RpcEngines
from atoll.errors import (
    BulkheadFullError,
    CircuitOpenError,
    DeadlineExceededError,
    RemoteError,
    RemoteUnavailableError,
)
from atoll.resilience import Bulkhead, CircuitBreaker, Retry
from atoll.resilience.deadlines import reset_deadline, set_deadline
from atoll.testing import run
from tests.rpc_doubles import LIMIT, serving


class Flaky:
    """A JSON-RPC endpoint answering HTTP 503 to its first ``failures`` requests, then the
    result ``"ok"``; it keeps every request's body (its hit counter)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.bodies: list[dict[str, object]] = []

    async def __call__(self, scope, receive, send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        request = msgspec.json.decode(body)
        self.bodies.append(request)
        if len(self.bodies) <= self.failures:
            status, answer = 503, b"down"
        else:
            status, answer = (
                200,
                msgspec.json.encode({"jsonrpc": "2.0", "result": "ok", "id": request["id"]}),
            )
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": answer})


class Waits:
    """The waits between tries, recorded rather than slept."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def protected(url: str, waits: Waits, **guards: object) -> RemoteService:
    protection = Protection(
        "flaky",
        5.0,
        retry=Retry(attempts=3, base=0.1),
        safe=["get_*"],
        sleep=waits,
        draw=lambda: 0.999,
        **guards,  # type: ignore[arg-type]
    )
    return RemoteService(HttpTransport(url, timeout=5.0), protection=protection)


async def test_a_safe_call_failing_twice_gets_three_tries_with_growing_waits():
    flaky, waits = Flaky(failures=2), Waits()
    with serving(flaky) as url:
        async with protected(url, waits) as remote:
            assert await remote.methods.get_profile(user_id=1) == "ok"
    assert len(flaky.bodies) == 3
    assert waits.seconds == pytest.approx([0.0999, 0.1998])
    # Each try is a request of its own.
    assert [body["id"] for body in flaky.bodies] == [1, 2, 3]


async def test_a_command_is_tried_once():
    flaky, waits = Flaky(failures=2), Waits()
    with serving(flaky) as url:
        async with protected(url, waits) as remote:
            with pytest.raises(RemoteUnavailableError, match="answered HTTP 503"):
                await remote.methods.record_run(meters=5000)
    assert len(flaky.bodies) == 1
    assert waits.seconds == []


async def test_a_call_with_an_idempotency_key_is_safe_to_try_again():
    flaky, waits = Flaky(failures=1), Waits()
    with serving(flaky) as url:
        async with protected(url, waits) as remote:
            result = await remote.call("record_run", {"meters": 5000}, idempotency_key="run-7")
    assert result == "ok"
    assert [body["idempotency_key"] for body in flaky.bodies] == ["run-7", "run-7"]


async def test_tries_stop_at_the_attempts_and_raise_the_last_error():
    flaky, waits = Flaky(failures=5), Waits()
    with serving(flaky) as url:
        async with protected(url, waits) as remote:
            with pytest.raises(RemoteUnavailableError, match="answered HTTP 503"):
                await remote.methods.get_profile(user_id=1)
    assert len(flaky.bodies) == 3


async def test_an_open_breaker_refuses_calls_without_touching_the_remote():
    flaky, waits = Flaky(failures=100), Waits()
    breaker = CircuitBreaker("flaky", minimum_calls=4, failure_ratio=0.5, open_for=30.0)
    with serving(flaky) as url:
        async with protected(url, waits, breaker=breaker) as remote:
            for _ in range(4):
                with pytest.raises(RemoteUnavailableError, match="answered HTTP 503"):
                    await remote.methods.record_run(meters=1)
            hits = len(flaky.bodies)
            with pytest.raises(CircuitOpenError) as refused:
                await remote.methods.record_run(meters=1)
            with pytest.raises(CircuitOpenError):
                await remote.methods.get_profile(user_id=1)  # safe, yet not tried again
    assert hits == len(flaky.bodies) == 4
    assert str(refused.value).startswith(
        "the circuit breaker of flaky is open: 4 of its last 4 calls failed; it lets a probe "
        "through in "
    )
    assert refused.value.service == "flaky"
    assert 29 < refused.value.probe_in <= 30


class SoldOutError(Exception):
    """Nothing left to buy: an error ``shop`` declares."""


def shop() -> atoll.Service:
    """``shop``: its ``buy`` fails with an error it declared, its ``crash`` as a bug would."""
    service = atoll.Service("shop")
    service.error(SoldOutError, code=-32050, status=409)

    @service.rpc
    async def buy() -> None:
        raise SoldOutError("sold out")

    @service.rpc
    async def crash() -> None:
        raise RuntimeError("a bug")

    return service


async def test_an_error_the_service_declared_keeps_the_breaker_closed():
    breaker = CircuitBreaker("shop", minimum_calls=2)
    async with run(shop()) as shop_:
        protection = Protection("shop", 5.0, breaker=breaker)
        remote = RemoteService(shop_.rpc.transport, protection=protection)
        for _ in range(3):
            with pytest.raises(RemoteError, match="sold out"):
                await remote.methods.buy()
    assert breaker.state == "closed"


async def test_a_full_bulkhead_refuses_a_call_at_once_when_it_does_not_wait():
    service, release = atoll.Service("slow"), asyncio.Event()

    @service.rpc
    async def hold() -> str:
        await release.wait()
        return "held"

    async with run(service) as slow:
        bulkhead = Bulkhead("slow", 1, wait=False)
        remote = RemoteService(
            slow.rpc.transport, protection=Protection("slow", 5.0, bulkhead=bulkhead)
        )
        first = asyncio.create_task(remote.methods.hold())
        async with asyncio.timeout(LIMIT):
            while bulkhead.in_flight == 0:  # noqa: ASYNC110 - a count, not an event
                await asyncio.sleep(0)
        with pytest.raises(BulkheadFullError, match="slow has 1 call in flight"):
            await remote.methods.hold()
        release.set()
        assert await asyncio.wait_for(first, LIMIT) == "held"
    assert bulkhead.in_flight == 0


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_fallback_answers_for_a_service_out_of_reach():
    seen: list[Exception] = []

    def cached(error: Exception) -> dict[str, str]:
        seen.append(error)
        return {"name": "from the cache"}

    async with RemoteService(f"http://127.0.0.1:{unused_port()}/rpc") as down:
        profile = await down.call("get_profile", {"user_id": 1}, fallback=cached)
    assert profile == {"name": "from the cache"}
    assert isinstance(seen[0], RemoteUnavailableError)


async def test_a_fallback_leaves_an_error_the_service_declared_alone():
    async with run(shop()) as shop_:
        remote = RemoteService(shop_.rpc.transport)
        with pytest.raises(RemoteError, match="sold out"):
            await remote.call("buy", fallback=lambda error: "never")
        assert await remote.call("crash", fallback=lambda error: "instead") == "instead"


def test_a_service_has_its_own_settings_over_the_common_ones():
    options = ClientOptions(
        attempts=2,
        services=["users.attempts=5", "users.breaker=off", "users.concurrency=20"],
    )
    users, runs = options.of("users"), options.of("runs")
    assert (users.attempts, users.breaker, users.concurrency) == (5, False, 20)
    assert (runs.attempts, runs.breaker, runs.concurrency) == (2, True, 100)
    protection = options.protection("users")
    assert protection.breaker is None
    assert protection.bulkhead is not None
    assert protection.bulkhead.limit == 20


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("users=5", "is not NAME.SETTING=VALUE; write it like users.attempts=5"),
        ("users.color=red", "sets 'color'; choose among attempts, backoff"),
        ("users.attempts=many", "gives attempts the value 'many', which is no int"),
        ("users.breaker=maybe", "gives breaker the value 'maybe', which is no bool"),
        ("users.attempts=0", "the services entries of 'users': attempts must be 1 or more"),
    ],
)
def test_a_wrong_service_setting_is_refused_with_its_fix(entry, message):
    with pytest.raises(ValueError, match=message):
        ClientOptions(services=[entry])


def test_the_safe_methods_of_a_service_are_its_own_and_every_services():
    options = ClientOptions(safe=["users=get_*", "*=list_*", "runs=weekly"])
    assert options.safe_methods("users") == ["get_*", "list_*"]
    protection = options.protection("users")
    assert protection.repeatable("get_profile", keyed=False)
    assert protection.repeatable("list_users", keyed=False)
    assert not protection.repeatable("weekly", keyed=False)
    assert protection.repeatable("delete_user", keyed=True)


async def test_clients_guard_a_remote_service_and_not_one_in_the_process():
    service = atoll.Service("pair")

    @service.rpc
    async def ping() -> str:
        return "pong"

    async with run(service) as pair:
        engine = (await pair.container.aget(RpcEngines)).whole
        clients = Clients(ClientOptions(urls=["users=http://127.0.0.1:1/rpc"]), {"pair": engine})
        assert clients.get("users").protection is not None
        assert clients.get("pair").protection is None
        users = clients.get("users").protection
        await clients.aclose()  # the connections go; the breaker's memory stays
        assert clients.get("users").protection is users
        await clients.aclose()


async def test_a_call_whose_deadline_passed_is_not_sent_nor_held_against_the_remote():
    flaky, waits = Flaky(failures=0), Waits()
    breaker = CircuitBreaker("flaky", minimum_calls=1)
    token = set_deadline(time.monotonic() - 0.1)
    try:
        with serving(flaky) as url:
            async with protected(url, waits, breaker=breaker) as remote:
                with pytest.raises(DeadlineExceededError, match="it was not sent"):
                    await remote.methods.get_profile(user_id=1)
    finally:
        reset_deadline(token)
    assert flaky.bodies == []
    assert breaker.state == "closed"
