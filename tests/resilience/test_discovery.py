"""Discovery: services register themselves, and clients spread their calls across instances."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections import Counter
from typing import TYPE_CHECKING

import pytest

import atoll
from atoll.clients.discovered import DiscoveredTransport, DnsInstances, StaticInstances
from atoll.errors import ConfigError, RemoteUnavailableError
from atoll.kernel.lifecycle import Lifecycle, State, Unit
from atoll.resilience import CircuitBreaker
from atoll.resilience.registration import Discovery, Registration, RegistryOptions, advertised
from atoll.resilience.registry import Instance, MemoryRegistry
from atoll.testing import ServiceHarness, run
from tests.rpc_doubles import RpcApp, served_here, serving

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

LIMIT = 10.0
"""The longest any wait here may take: a bug fails the test rather than hang it."""


def users(label: str) -> atoll.Service:
    """``users``, whose ``whoami`` answers which instance took the call."""
    service = atoll.Service("users", version="2.1.0")

    @service.rpc
    async def whoami() -> str:
        return label

    return service


def front() -> atoll.Service:
    """``front``, which calls ``users`` through its clients."""
    service = atoll.Service("front")

    @service.rpc
    async def ask(clients: atoll.Clients) -> str:
        answer: str = await clients.get("users").methods.whoami()
        return answer

    return service


@contextlib.asynccontextmanager
async def instance(
    label: str, url: str, ttl: float = 30
) -> AsyncIterator[tuple[str, ServiceHarness]]:
    """An instance of ``users`` served over HTTP on a port of its own, registered at ``url``."""
    sock = socket.create_server(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    flags = ["--registry-url", url, "--registry-advertise", base, "--registry-ttl", str(ttl)]
    async with run(users(label), argv=flags) as harness, served_here(harness.http.entry, sock):
        yield base, harness


@pytest.fixture
def url() -> str:
    return f"memory://discovery-{uuid.uuid4().hex}"


async def test_a_service_registers_where_it_is_served_and_leaves_when_it_stops(url):
    registry = MemoryRegistry(url)
    async with instance("a", url) as (base, _):
        (listed,) = await registry.instances("users")
        assert listed.urls["http"] == f"{base}/rpc"
        assert listed.version == "2.1.0"
        assert listed.health == "up"
    assert await registry.instances("users") == []


async def test_an_instance_leaves_the_registry_as_its_drain_begins_while_it_still_serves(url):
    registry = MemoryRegistry(url)
    discovery = Discovery.of(RegistryOptions(url=url))
    lifecycle = Lifecycle("users", drain=LIMIT)
    registration = Registration(
        discovery, [Instance("users", "a", urls={"http": "http://a/rpc"})], lifecycle
    )
    units = [Unit("discovery", discovery), Unit("registration", registration, {"discovery"})]
    async with lifecycle.running(units):
        assert len(await registry.instances("users")) == 1
        lifecycle.request_stop(drain=True)  # a SIGTERM's stop: it drains for LIMIT seconds
        async with asyncio.timeout(LIMIT / 2):
            while await registry.instances("users"):  # noqa: ASYNC110 - polled
                await asyncio.sleep(0.01)
        assert lifecycle.state is State.STOPPING  # left while still serving
        lifecycle.request_stop(force=True)  # end the drain
    assert await registry.instances("users") == []


async def test_an_instance_beats_within_its_ttl_and_stays_listed(url):
    registry = MemoryRegistry(url)
    async with instance("a", url, ttl=0.3) as (_, harness):
        registration = harness.container.get(Registration)
        async with asyncio.timeout(LIMIT):
            while registration.beats < 4:  # noqa: ASYNC110 - a count, not an event
                await asyncio.sleep(0.05)
        # Four beats of a tenth of a second: past its ttl, it is listed still.
        assert [i.version for i in await registry.instances("users")] == ["2.1.0"]


async def test_calls_go_round_robin_to_the_instances_in_the_registry(url):
    async with (
        instance("a", url),
        instance("b", url),
        run(front(), argv=["--registry-url", url]) as caller,
    ):
        answers = [await caller.rpc.methods.ask() for _ in range(6)]
    assert Counter(answers) == {"a": 3, "b": 3}
    assert answers[0] != answers[1]


async def test_an_instance_out_of_reach_is_passed_over_and_a_safe_call_tried_on_another(url):
    with socket.socket() as sock:  # a port where nothing listens: a killed instance's
        sock.bind(("127.0.0.1", 0))
        gone = f"http://127.0.0.1:{sock.getsockname()[1]}/rpc"
    await MemoryRegistry(url).register(Instance("users", "killed", urls={"http": gone}), 30)
    flags = ["--registry-url", url, "--clients-safe", "users=*", "--clients-backoff", "0.01"]
    async with instance("b", url), run(front(), argv=flags) as caller:
        answers = [await caller.rpc.methods.ask() for _ in range(4)]
    assert answers == ["b"] * 4


async def test_a_service_with_no_instance_says_where_it_looked(url):
    async with run(front(), argv=["--registry-url", url]) as caller:
        clients = await caller.container.aget(atoll.Clients)
        with pytest.raises(RemoteUnavailableError, match="no instance of 'users' is registered"):
            await clients.get("users").methods.whoami()


async def test_least_in_flight_chooses_the_instance_with_the_fewest_calls(url):
    registry = MemoryRegistry(url)
    for name, port in (("x", 1), ("y", 2)):
        await registry.register(Instance("users", name, urls={"http": f"http://h:{port}"}), 30)
    transport = DiscoveredTransport(registry, "users", balance="least-in-flight")
    transport.in_flight = {"http://h:1/rpc": 3, "http://h:2/rpc": 1}
    assert {(await transport._ordered())[0] for _ in range(4)} == {"http://h:2/rpc"}


def test_an_advertised_url_comes_from_the_server_unless_given():
    options = RegistryOptions()
    assert advertised(options, "127.0.0.1", 8001) == "http://127.0.0.1:8001"
    assert advertised(options, "0.0.0.0", 8001) == f"http://{socket.gethostname()}:8001"  # noqa: S104
    given = RegistryOptions(advertise="https://users.internal/")
    assert advertised(given, "0.0.0.0", 0) == "https://users.internal"  # noqa: S104
    with pytest.raises(ConfigError, match="--server-port 0 chooses a port no one else can know"):
        advertised(options, "127.0.0.1", 0)


def test_a_registry_url_of_another_kind_is_refused():
    with pytest.raises(ValueError, match="use memory://NAME, redis://HOST:6379/0 or nats://"):
        RegistryOptions(url="consul://127.0.0.1:8500")


async def test_without_a_registry_nothing_registers():
    async with run(users("a")) as alone:
        registration = alone.container.get(Registration)
        assert registration.discovery.registry is None
        assert registration.instances == []


async def test_several_urls_for_a_name_are_its_instances_called_in_turn(url):
    async with instance("a", url) as (base_a, _), instance("b", url) as (base_b, _):
        flags = ["--clients-urls", f"users={base_a},users={base_b}"]
        async with run(front(), argv=flags) as caller:
            answers = [await caller.rpc.methods.ask() for _ in range(4)]
    assert Counter(answers) == {"a": 2, "b": 2}


async def test_a_dns_url_stands_for_every_address_of_its_host(url):
    async with instance("a", url) as (base, _):
        port = base.rpartition(":")[2]
        # localhost may resolve to ::1 too, where nothing listens: passed over, and tried again.
        flags = [
            "--clients-urls",
            f"users=dns://localhost:{port}/rpc",
            "--clients-safe",
            "users=*",
            "--clients-backoff",
            "0.01",
        ]
        async with run(front(), argv=flags) as caller:
            answers = [await caller.rpc.methods.ask() for _ in range(3)]
    assert answers == ["a"] * 3


async def test_a_dns_name_that_does_not_resolve_lists_no_instance():
    source = DnsInstances("dns://nowhere.invalid:8000")
    assert await source.instances("users") == []
    assert source.describe() == "dns://nowhere.invalid:8000/rpc"


async def test_an_instance_whose_breaker_opened_is_passed_over():
    good_service = users("good")
    async with run(good_service) as good:
        down = RpcApp(answer=b"down", status=503)
        with serving(good.http.entry) as good_url, serving(down) as down_url:
            source = StaticInstances([good_url, down_url])
            transport = DiscoveredTransport(
                source,
                "users",
                refresh=0.0,  # nothing passed over for long: the breaker alone keeps it away
                breaker_of=lambda url: CircuitBreaker(url, minimum_calls=2, open_for=60),
            )
            remote = atoll.RemoteService(transport)
            outcomes = []
            for _ in range(10):
                try:
                    outcomes.append(await remote.methods.whoami())
                except RemoteUnavailableError:
                    outcomes.append("refused")
            await remote.aclose()
    assert len(down.bodies) == 2  # its breaker opened after two failures
    assert outcomes.count("good") == 8
    breaker = transport.breakers[down_url]
    assert breaker is not None
    assert breaker.state == "open"
