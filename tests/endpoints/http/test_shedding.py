"""Load shedding: past --server-max-in-flight, a fast 503 rather than a queue."""

from __future__ import annotations

import asyncio
import logging

import pytest

import atoll
from atoll.endpoints.http.shedding import OVERLOADED
from atoll.errors import ConfigError
from atoll.testing import run

LIMIT = 10.0
"""The longest any wait here may take: a bug fails the test rather than hang it."""


def holding(release: asyncio.Event) -> atoll.Service:
    """``hold``: a route and a method that answer once ``release`` is set."""
    service = atoll.Service("hold")

    @service.get("/hold")
    async def hold() -> str:
        await release.wait()
        return "held"

    @service.rpc
    async def wait() -> str:
        await release.wait()
        return "waited"

    return service


async def full(harness, count: int) -> None:
    """Return once the service holds ``count`` requests."""
    shedding = harness.http.shedding
    async with asyncio.timeout(LIMIT):
        while shedding.active < count:  # noqa: ASYNC110 - a count, not an event
            await asyncio.sleep(0)


async def test_past_the_limit_a_request_is_refused_at_once_with_retry_after(caplog):
    release = asyncio.Event()
    async with run(holding(release), argv=["--server-max-in-flight", "2"]) as service:
        client = service.client
        held = [asyncio.create_task(client.get("/hold")) for _ in range(2)]
        await full(service, 2)
        with caplog.at_level(logging.WARNING, logger="atoll.http"):
            refused = await client.get("/hold")
            call = await client.post("/rpc", json={"jsonrpc": "2.0", "method": "wait", "id": 4})
            alive = await client.get("/health/live")
        release.set()
        answers = await asyncio.wait_for(asyncio.gather(*held), LIMIT)
        again = await client.get("/hold")
        shed = service.http.shedding.shed
    assert (refused.status_code, refused.headers["retry-after"]) == (503, "1")
    problem = refused.json()
    assert problem["title"] == "overloaded"
    assert problem["detail"] == (
        "the service holds 2 requests, as many as it takes at once; try again in 1 s"
    )
    assert (call.status_code, call.headers["retry-after"]) == (503, "1")
    error = call.json()
    assert error["id"] is None
    assert (error["error"]["code"], error["error"]["message"]) == (OVERLOADED, "overloaded")
    assert error["error"]["data"]["retry_after"] == 1
    assert alive.status_code == 200  # a busy process is not a dead one
    assert [answer.status_code for answer in answers] == [200, 200]
    assert again.status_code == 200
    assert shed == 2
    assert "shedding load: 2 requests in flight" in caplog.text


async def test_without_a_limit_nothing_is_shed():
    release = asyncio.Event()
    release.set()
    async with run(holding(release)) as service:
        assert service.http.shedding is None
        assert (await service.client.get("/hold")).status_code == 200


async def test_a_negative_limit_is_refused():
    with pytest.raises(ConfigError, match=r"max_in_flight must be 0 \(no bound\) or more"):
        async with run(atoll.Service("x"), argv=["--server-max-in-flight", "-1"]):
            pass
