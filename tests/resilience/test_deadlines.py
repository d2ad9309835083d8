"""Deadlines: a call's time, carried to every service it reaches, refused and cancelled by it."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import atoll
from atoll.clients.directory import ClientOptions
from atoll.errors import DeadlineExceededError, RemoteUnavailableError
from atoll.messaging.broker import Broker
from atoll.resilience.deadlines import (
    budget,
    carried_timeout,
    current_deadline,
    deadline_header,
    reset_deadline,
    seconds_of,
    set_deadline,
)
from atoll.testing import run
from tests.rpc_doubles import served_here

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

LIMIT = 10.0
"""The longest any wait of these tests may take: a bug fails a test rather than hang it."""


def test_the_header_gives_the_seconds_the_caller_still_waits():
    assert seconds_of(b"1500") == 1.5
    assert seconds_of(" 0 ") == 0
    assert carried_timeout({"x-timeout-ms": "250"}) == 0.25
    assert carried_timeout({}) is None


@pytest.mark.parametrize("value", [b"-5", b"1.5", b"soon", b"", b"1" * 13, "١٢".encode()])
def test_a_malformed_header_is_no_deadline(value):
    assert seconds_of(value) is None


def test_a_call_gets_its_timeout_or_what_is_left_of_the_deadline_if_less():
    assert budget(10.0, "users") == 10.0
    assert budget(None, "users") is None
    token = set_deadline(time.monotonic() + 2.0)
    try:
        left = budget(10.0, "users")
        assert left is not None
        assert 0 < left <= 2.0
        assert budget(0.5, "users") == 0.5
        assert budget(None, "users") == pytest.approx(left, abs=1.0)
    finally:
        reset_deadline(token)


def test_a_call_whose_deadline_passed_is_not_sent():
    token = set_deadline(time.monotonic() - 0.25)
    try:
        with pytest.raises(DeadlineExceededError, match=r"passed 0\.2\d\d s ago") as raised:
            budget(10.0, "http://users/rpc")
    finally:
        reset_deadline(token)
    assert "the call to http://users/rpc" in str(raised.value)
    assert "it was not sent" in str(raised.value)
    assert isinstance(raised.value, RemoteUnavailableError)
    assert isinstance(raised.value, TimeoutError)


def test_the_header_carries_whole_milliseconds_rounded_up_and_never_none():
    assert deadline_header(1.2345) == "1235"
    assert deadline_header(0.25) == "250"
    assert deadline_header(0.0001) == "1"


class Seen:
    """What the handlers of the services under test saw, each an event set once."""

    def __init__(self) -> None:
        self.started: dict[str, asyncio.Event] = {}
        self.cancelled: dict[str, asyncio.Event] = {}
        self.deadlines: dict[str, float | None] = {}

    def event(self, kind: dict[str, asyncio.Event], name: str) -> asyncio.Event:
        return kind.setdefault(name, asyncio.Event())

    async def wait(self, kind: dict[str, asyncio.Event], name: str) -> None:
        await asyncio.wait_for(self.event(kind, name).wait(), LIMIT)


def sleeper(seen: Seen, name: str = "c") -> atoll.Service:
    """A service whose ``slow`` sleeps five seconds unless cancelled, and whose ``fast`` and
    ``GET /now`` answer the deadline they run under (seconds left, or None)."""
    service = atoll.Service(name)

    @service.rpc
    async def slow() -> str:
        seen.event(seen.started, name).set()
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            seen.event(seen.cancelled, name).set()
            raise
        return "slept"

    @service.rpc
    async def fast() -> float | None:
        deadline = current_deadline()
        return None if deadline is None else deadline - time.monotonic()

    @service.get("/now")
    async def now() -> dict[str, float | None]:
        return {"left": await fast()}

    return service


def relay(seen: Seen) -> atoll.Service:
    """``b``: its ``relay`` calls ``c``'s ``slow``, its ``left`` ``c``'s ``fast``."""
    service = atoll.Service("b")

    @service.rpc
    async def relay(clients: atoll.Clients) -> str:
        seen.event(seen.started, "b").set()
        try:
            result: str = await clients.get("c").methods.slow()
        except asyncio.CancelledError:
            seen.event(seen.cancelled, "b").set()
            raise
        return result

    @service.rpc
    async def left(clients: atoll.Clients) -> float | None:
        seen.deadlines["b"] = current_deadline()
        answer: float | None = await clients.get("c").methods.fast()
        return answer

    return service


async def test_a_call_whose_deadline_passed_is_refused_without_running():
    seen = Seen()
    async with run(sleeper(seen)) as c:
        call = await c.client.post(
            "/rpc",
            json={"jsonrpc": "2.0", "method": "slow", "id": 1},
            headers={"X-Timeout-Ms": "0"},
        )
    assert call.status_code == 504
    problem = call.json()
    assert problem["title"] == "deadline exceeded"
    assert "had passed when the request came; it was not run" in problem["detail"]
    assert "c" not in seen.started


async def test_a_call_runs_under_its_callers_deadline_and_a_rest_request_under_none():
    seen = Seen()
    call = {"jsonrpc": "2.0", "method": "fast", "id": 1}
    async with run(sleeper(seen)) as c:
        timed = (await c.client.post("/rpc", json=call, headers={"X-Timeout-Ms": "3000"})).json()
        untimed = (await c.client.post("/rpc", json=call)).json()
        rest = (await c.client.get("/now", headers={"X-Timeout-Ms": "3000"})).json()
    assert 0 < timed["result"] <= 3.0
    assert untimed["result"] is None
    # REST is for the fleet's own callers; its hot path reads no deadline.
    assert rest["left"] is None


async def test_a_request_whose_time_runs_out_is_stopped_and_answered_504():
    seen = Seen()
    async with run(sleeper(seen)) as c:
        call = await c.client.post(
            "/rpc",
            json={"jsonrpc": "2.0", "method": "slow", "id": 1},
            headers={"X-Timeout-Ms": "200"},
        )
        await seen.wait(seen.cancelled, "c")
    assert call.status_code == 504
    assert "its work was stopped" in call.json()["detail"]


@contextlib.asynccontextmanager
async def served(harness) -> AsyncIterator[str]:
    """``harness``'s HTTP app on a port of its own, in this event loop; yield its RPC URL."""
    async with served_here(harness.http.entry) as base:
        yield f"{base}/rpc"


def open_descriptors() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir())


async def settled(baseline: int, count: Callable[[], int]) -> int:
    """``count()`` once it is back to ``baseline`` (or, after the bound, what it is)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LIMIT):
            while count() > baseline:  # noqa: ASYNC110 - counted, not signalled
                await asyncio.sleep(0.05)
    return count()


async def test_a_deadline_crosses_two_services_and_stops_the_work_of_both():
    seen = Seen()
    async with (
        run(sleeper(seen)) as c,
        served(c) as c_url,
        run(relay(seen), argv=["--clients-urls", f"c={c_url}"]) as b,
        served(b) as b_url,
    ):
        tasks, descriptors = len(asyncio.all_tasks()), open_descriptors()
        async with atoll.RemoteService(b_url, timeout=1.0) as a:
            started = time.monotonic()
            with pytest.raises(DeadlineExceededError, match="within 1 s"):
                await a.methods.relay()
            waited = time.monotonic() - started
        await seen.wait(seen.cancelled, "b")
        await seen.wait(seen.cancelled, "c")
        assert await settled(tasks, lambda: len(asyncio.all_tasks())) == tasks
        assert await settled(descriptors, open_descriptors) == descriptors
    assert seen.event(seen.started, "c").is_set()
    # A waited its one second, not C's five; never less than the deadline.
    assert 1.0 <= waited < 3.0


async def test_each_hop_gets_what_is_left_of_the_deadline():
    seen = Seen()
    async with (
        run(sleeper(seen)) as c,
        served(c) as c_url,
        run(relay(seen), argv=["--clients-urls", f"c={c_url}"]) as b,
        served(b) as b_url,
        atoll.RemoteService(b_url, timeout=4.0) as a,
    ):
        at_c = await a.methods.left()
    assert seen.deadlines["b"] is not None
    # B's own client timeout is 10 s: the 4 s of A's deadline bound what C got.
    assert 0 < at_c <= 4.0


async def test_a_local_call_carries_the_deadline_and_is_cancelled_with_it():
    seen = Seen()
    system = atoll.System(relay(seen), sleeper(seen), name="pair")
    async with run(system, argv=["--clients-timeout", "0.3"]) as pair:
        clients = await pair.container.aget(atoll.Clients)
        with pytest.raises(DeadlineExceededError, match=r"within 0\.3 s"):
            await clients.get("b").methods.relay()
        await seen.wait(seen.cancelled, "c")
        left = await clients.get("b").methods.left()
    assert 0 < left <= 0.3


async def test_broker_rpc_carries_the_deadline_and_the_responder_keeps_it():
    seen = Seen()
    url = f"memory://deadlines-{uuid.uuid4().hex}"
    async with run(sleeper(seen), argv=["--broker-url", url]) as c:
        broker = await c.container.aget(Broker)
        refused = await broker.request(
            "c", b'{"jsonrpc":"2.0","method":"slow","id":1}', 5.0, {"x-timeout-ms": "0"}
        )
        assert refused == b""  # not run: no one waits for its answer
        assert "c" not in seen.started
        clients = atoll.Clients(ClientOptions(timeout=0.3), broker=broker)
        try:
            # The same error as over HTTP; "nobody serves" is not taken for it.
            with pytest.raises(DeadlineExceededError, match=r"within 0\.3 s; the call may"):
                await clients.get("c").methods.slow()
            await seen.wait(seen.cancelled, "c")  # its own deadline stopped it
            left = await clients.get("c").methods.fast()
            with pytest.raises(RemoteUnavailableError, match="serves") as raised:
                await clients.get("nobody").methods.fast()
            assert not isinstance(raised.value, DeadlineExceededError)
        finally:
            await clients.aclose()
    assert 0 < left <= 0.3


async def test_a_handler_whose_remote_call_ran_out_of_time_answers_deadline_exceeded():
    seen = Seen()
    system = atoll.System(relay(seen), sleeper(seen), name="pair")
    call = {"jsonrpc": "2.0", "method": "relay", "id": 7}
    async with run(system, argv=["--clients-timeout", "0.2"]) as pair:
        answer = (await pair.client.post("/rpc/b", json=call)).json()
    assert answer["error"]["code"] == -32018
    assert answer["error"]["message"] == "deadline exceeded"
    assert "what was left" not in answer["error"]["data"]["detail"]
    assert "within 0.2 s" in answer["error"]["data"]["detail"]
