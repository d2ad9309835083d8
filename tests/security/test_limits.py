"""Rate limits: declared beside a handler or for a service, counted per key, refused alike.

Windows of a minute or more, so that what a test sends lands in one window however slow
the machine: the counts are exact, and nothing waits for the clock.
"""

from __future__ import annotations

import ipaddress
import time
import types
import uuid

import pytest

import atoll
import atoll.testing
from atoll.adapters.limits import LimitsRateLimiter
from atoll.errors import ConfigError
from atoll.security.limits import MemoryRateLimiter, client_address, limit
from tests.security.test_policies import headers_of, jwt_argv

REDIS = "redis://127.0.0.1:6379/0"


def limited(name: str = "runs", per: str = "ip") -> atoll.Service:
    service = atoll.Service(name)

    @service.post("/login", limit=limit("3/minute", per=per), public=True)
    async def log_in() -> str:
        return "in"

    @service.rpc(limit=limit("3/minute", per=per))
    async def ping() -> str:
        return "pong"

    @service.get("/free")
    async def free() -> str:
        return "free"

    return service


def rpc(method: str, call_id: int = 1) -> dict[str, object]:
    return {"jsonrpc": "2.0", "method": method, "id": call_id}


async def test_a_caller_over_a_limit_gets_429_with_retry_after_and_the_ratelimit_headers():
    async with atoll.testing.run(limited()) as harness:
        answers = [await harness.client.post("/login") for _ in range(5)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429, 429]
    refused = answers[3]
    retry = int(refused.headers["retry-after"])
    assert 1 <= retry <= 60
    assert refused.headers["ratelimit-policy"] == '"log_in";q=3;w=60'
    assert refused.headers["ratelimit"] == f'"log_in";r=0;t={retry}'
    problem = refused.json()
    assert problem["status"] == 429
    assert problem["detail"] == (
        f"log_in takes 3 calls per 60 s from each ip, and this one went over: call again in "
        f"{retry} s"
    )


async def test_a_call_is_counted_once_whichever_way_its_route_serves_it():
    # A limit per address alone is counted before the call without a call context; a route
    # whose handler reads the request, and a request carrying an idempotency key, are
    # counted in the call's context instead: each once.
    service = atoll.Service("runs")

    @service.post("/plain", limit=limit("3/minute", per="ip"))
    async def plain() -> str:
        return "plain"

    @service.post("/reads", limit=limit("3/minute", per="ip"))
    async def reads(request: atoll.Request) -> str:
        return request.method

    @service.post("/keyed", limit=limit("3/minute", per="ip"))
    async def keyed() -> str:
        return "keyed"

    async with atoll.testing.run(service) as harness:
        plain_answers = [(await harness.client.post("/plain")).status_code for _ in range(4)]
        read_answers = [(await harness.client.post("/reads")).status_code for _ in range(4)]
        keyed_answers = [
            (await harness.client.post("/keyed", headers={"idempotency-key": str(n)})).status_code
            for n in range(4)
        ]
    assert plain_answers == [200, 200, 200, 429]
    assert read_answers == [200, 200, 200, 429]
    assert keyed_answers == [200, 200, 200, 429]


async def test_json_rpc_over_a_limit_gets_its_pinned_code_with_retry_after():
    async with atoll.testing.run(limited()) as harness:
        answers = [(await harness.client.post("/rpc", json=rpc("ping"))).json() for _ in range(4)]
    assert [answer.get("result") for answer in answers[:3]] == ["pong"] * 3
    error = answers[3]["error"]
    assert (error["code"], error["message"]) == (-32015, "rate limited")
    assert 1 <= error["data"]["retry_after"] <= 60


async def test_a_limited_call_never_reaches_the_handler():
    ran: list[int] = []
    service = atoll.Service("runs")

    @service.rpc(limit=limit("2/minute", per="ip"))
    async def count() -> int:
        ran.append(1)
        return len(ran)

    async with atoll.testing.run(service) as harness:
        for _ in range(5):
            await harness.client.post("/rpc", json=rpc("count"))
    assert ran == [1, 1]


async def test_each_key_is_counted_apart():
    async with atoll.testing.run(limited(per="subject"), argv=jwt_argv()) as harness:
        ada, bo = headers_of("writer"), headers_of("reader")
        first = [(await harness.client.post("/login", headers=ada)).status_code for _ in range(4)]
        other = [(await harness.client.post("/login", headers=bo)).status_code for _ in range(3)]
    assert first == [200, 200, 200, 429]
    assert other == [200, 200, 200]  # bo is unaffected by ada's calls


async def test_several_windows_each_must_have_room():
    service = atoll.Service("runs")

    @service.rpc(limit=limit("5/minute; 2/hour", per="ip"))
    async def ping() -> str:
        return "pong"

    async with atoll.testing.run(service) as harness:
        answers = [(await harness.client.post("/rpc", json=rpc("ping"))).json() for _ in range(3)]
    assert ["result" in answer for answer in answers] == [True, True, False]
    assert answers[2]["error"]["data"]["retry_after"] > 60


async def test_a_service_limit_counts_the_calls_of_every_handler_together():
    service = limited()
    service.limit(limit("4/minute", per="ip"))
    async with atoll.testing.run(service) as harness:
        codes = [(await harness.client.get("/free")).status_code for _ in range(3)]
        codes.append((await harness.client.post("/login")).status_code)
        codes.append((await harness.client.get("/free")).status_code)
    assert codes == [200, 200, 200, 200, 429]


async def test_calls_in_the_process_are_not_limited():
    async with atoll.testing.run(limited()) as harness:
        clients = harness.container.get(atoll.Clients).get("runs")
        results = [await clients.call("ping", {}) for _ in range(5)]
    assert results == ["pong"] * 5


async def test_a_key_function_decides_what_is_counted_together():
    def per_tenant(identity: atoll.Identity, request: atoll.Request) -> str | None:
        return request.headers.get("x-tenant")  # no tenant: not limited

    service = atoll.Service("runs")

    @service.rpc(limit=limit("2/minute", per=per_tenant))
    async def ping() -> str:
        return "pong"

    async with atoll.testing.run(service) as harness:

        async def call(tenant: str | None) -> bool:
            headers = {} if tenant is None else {"x-tenant": tenant}
            answer = await harness.client.post("/rpc", json=rpc("ping"), headers=headers)
            return "result" in answer.json()

        red = [await call("red") for _ in range(3)]
        blue = [await call("blue") for _ in range(2)]
        untold = [await call(None) for _ in range(4)]
    assert red == [True, True, False]
    assert blue == [True, True]
    assert untold == [True] * 4


async def test_openapi_lists_429_only_for_limited_operations():
    async with atoll.testing.run(limited()) as harness:
        paths = (await harness.client.get("/openapi.json")).json()["paths"]
    assert "429" in paths["/login"]["post"]["responses"]
    assert "429" not in paths["/free"]["get"]["responses"]


async def test_limits_off_serve_every_call():
    async with atoll.testing.run(limited(), argv=["--no-limits-enabled"]) as harness:
        codes = [(await harness.client.post("/login")).status_code for _ in range(5)]
    assert codes == [200] * 5


@pytest.mark.parametrize(
    ("rates", "said"),
    [
        ("10", "no rate"),
        ("ten/second", "no rate"),
        ("0/second", "no rate"),
        ("5/fortnight", "unit"),
    ],
)
def test_rates_that_are_no_rates_are_refused_when_declared(rates, said):
    with pytest.raises(ConfigError, match=said):
        limit(rates)


def test_per_must_be_a_known_key_or_a_function():
    with pytest.raises(ConfigError, match="per must be 'subject', 'token', 'ip'"):
        limit("1/second", per="email")  # type: ignore[arg-type]


def test_a_limit_says_what_it_counts():
    assert limit("10/second; 1000/hour", per="ip").describe() == "10/second; 1000/hour per ip"
    assert [(w.quota, w.seconds) for w in limit("100/10 minutes").windows] == [(100, 600)]


# -- the client's address, through trusted proxies only -------------------------------------------


PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)


@pytest.mark.parametrize(
    ("peer", "headers", "client"),
    [
        (("203.0.113.9", 5), [(b"x-forwarded-for", b"198.51.100.1")], ("203.0.113.9", 5)),
        (("10.0.0.2", 5), [(b"x-forwarded-for", b"198.51.100.1")], ("198.51.100.1", 0)),
        (
            ("10.0.0.2", 5),
            [(b"x-forwarded-for", b"6.6.6.6, 198.51.100.1, 10.0.0.3")],
            ("198.51.100.1", 0),
        ),
        (("10.0.0.2", 5), [(b"forwarded", b'for="[2001:db8::1]:443";proto=https')],
         ("2001:db8::1", 0)),
        (("10.0.0.2", 5), [], ("10.0.0.2", 5)),
    ],
    ids=["untrusted peer", "trusted proxy", "spoofed left part", "forwarded ipv6", "no header"],
)  # fmt: skip
def test_the_client_is_read_through_trusted_proxies_only(peer, headers, client):
    assert client_address(peer, headers, PROXIES) == client


async def test_a_spoofed_forwarded_for_changes_nothing_without_trusted_proxies():
    async with atoll.testing.run(limited()) as harness:
        codes = [
            (
                await harness.client.post("/login", headers={"x-forwarded-for": f"198.51.100.{n}"})
            ).status_code
            for n in range(4)
        ]
    assert codes == [200, 200, 200, 429]  # one client, whatever it claims


async def test_behind_a_trusted_proxy_each_forwarded_client_is_counted_apart():
    argv = ["--server-trusted-proxies", "127.0.0.1,testclient"]
    with pytest.raises(Exception, match="trusted_proxies holds 'testclient'"):
        async with atoll.testing.run(limited(), argv=argv):
            pass
    async with atoll.testing.run(limited(), argv=["--server-trusted-proxies", "127.0.0.1"]) as h:
        transport = h.client._transport
        transport.client = ("127.0.0.1", 1234)  # type: ignore[attr-defined]

        async def login(client: str) -> int:
            headers = {"x-forwarded-for": client}
            return (await h.client.post("/login", headers=headers)).status_code

        first = [await login("198.51.100.1") for _ in range(4)]
        second = [await login("198.51.100.2") for _ in range(3)]
    assert first == [200, 200, 200, 429]
    assert second == [200, 200, 200]


# -- shared by every instance, in Redis ------------------------------------------------------------


@pytest.mark.services("redis")
async def test_two_processes_counting_in_redis_share_one_limit():
    name = f"runs-{uuid.uuid4().hex[:8]}"  # keys of this test's own in a shared Redis
    argv = ["--limits-storage", REDIS]
    async with (
        atoll.testing.run(limited(name), argv=argv) as one,
        atoll.testing.run(limited(name), argv=argv) as two,
    ):
        codes = []
        for n in range(6):
            harness = one if n % 2 == 0 else two
            codes.append((await harness.client.post("/login")).status_code)
    assert codes == [200, 200, 200, 429, 429, 429]


STRATEGIES = ("moving-window", "fixed-window", "sliding-window-counter")


def backends():
    """Every implementation of the port, in each strategy: the same contract for each."""
    made = []
    for strategy in STRATEGIES:
        made.append(pytest.param(lambda s=strategy: MemoryRateLimiter(s), id=f"memory-{strategy}"))
        made.append(
            pytest.param(
                lambda s=strategy: LimitsRateLimiter("memory://", s), id=f"limits-memory-{strategy}"
            )
        )
        made.append(
            pytest.param(
                lambda s=strategy: LimitsRateLimiter(REDIS, s),
                id=f"redis-{strategy}",
                marks=pytest.mark.services("redis"),
            )
        )
    return made


@pytest.mark.parametrize("make", backends())
async def test_each_rate_limiter_counts_a_quota_exactly_and_keys_apart(make):
    limiter = make()
    await limiter.start()
    key, other = uuid.uuid4().hex, uuid.uuid4().hex
    windows = limit("3/hour").windows
    verdicts = [await limiter.hit(windows, key) for _ in range(4)]
    others = [await limiter.hit(windows, other) for _ in range(2)]
    await limiter.stop()
    assert [verdict is None for verdict in verdicts] == [True, True, True, False]
    refusal = verdicts[3]
    assert refusal.window == windows[0]
    assert 0 < refusal.retry_after <= 3600
    assert others == [None, None]


async def test_a_refusal_read_as_resetting_now_waits_for_the_window_to_end():
    # limits' sliding-window-counter reads the reset of a key made in the same millisecond
    # as a whole number of windows from now: "now". The window is full all the same.
    class ResetNow:
        async def get_window_stats(self, item, key):
            return types.SimpleNamespace(reset_time=time.time(), remaining=0)

    (window,) = limit("3/hour").windows
    refusal = await LimitsRateLimiter._refusal(ResetNow(), window, None, "k")
    assert 0 < refusal.retry_after <= 3600


@pytest.mark.parametrize("make", backends())
async def test_each_rate_limiter_spends_no_window_on_a_call_another_window_refuses(make):
    limiter = make()
    await limiter.start()
    key = uuid.uuid4().hex
    both = limit("5/hour; 2/day").windows
    hourly = limit("5/hour").windows
    verdicts = [await limiter.hit(both, key) for _ in range(3)]
    after = [await limiter.hit(hourly, key) for _ in range(4)]
    await limiter.stop()
    assert [verdict is None for verdict in verdicts] == [True, True, False]
    assert verdicts[2].window.seconds == 86400
    assert [verdict is None for verdict in after] == [True, True, True, False]  # 2 + 3 = 5


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_the_memory_limiter_lets_calls_through_again_as_its_window_moves_on(strategy):
    clock = Clock()
    limiter = MemoryRateLimiter(strategy, clock)
    windows = limit("2/minute").windows
    first = [await limiter.hit(windows, "k") for _ in range(3)]
    clock.now += first[2].retry_after + 0.001  # when the refusal said
    later = await limiter.hit(windows, "k")
    clock.now += 300  # long after: every strategy has room again
    again = [await limiter.hit(windows, "k") for _ in range(2)]
    assert [v is None for v in first] == [True, True, False]
    assert later is None or strategy == "sliding-window-counter"  # it weighs the last window
    assert again == [None, None]


async def test_the_moving_window_refuses_exactly_until_the_oldest_call_leaves_it():
    clock = Clock()
    limiter = MemoryRateLimiter("moving-window", clock)
    windows = limit("2/minute").windows
    await limiter.hit(windows, "k")
    clock.now += 30
    await limiter.hit(windows, "k")
    refused = await limiter.hit(windows, "k")
    assert refused is not None
    assert refused.retry_after == pytest.approx(30.0)
    clock.now += 30.001
    assert await limiter.hit(windows, "k") is None  # the first call has left the window
    assert await limiter.hit(windows, "k") is not None  # the second is still in it


async def test_the_memory_limiter_forgets_idle_keys():
    clock = Clock()
    limiter = MemoryRateLimiter("moving-window", clock)
    windows = limit("1/second").windows
    for n in range(MemoryRateLimiter._SWEEP_EVERY - 1):
        await limiter.hit(windows, f"k{n}")
    clock.now += 10
    await limiter.hit(windows, "last")  # the sweep's turn
    assert len(limiter._moving) == 1


async def test_a_redis_out_of_reach_refuses_to_count_rather_than_lets_through():
    limiter = LimitsRateLimiter("redis://127.0.0.1:1/0")
    await limiter.start()
    with pytest.raises(atoll.errors.UnavailableError, match="--limits-storage"):
        await limiter.hit(limit("3/hour").windows, "k")
    await limiter.stop()
