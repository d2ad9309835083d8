"""Runnerly over GraphQL: its ``.graphql`` documents replayed, its owners' rule, and fuzzing.

The documents of ``examples/runnerly/graphql/`` are sent as a client sends them, to the
system's one ``/graphql``: Ada records runs, pages through them by cursor, and reads her
weeks from the stats service's read model. Bo, another runner, is told her runs do not
exist. Then hypothesis-graphql writes queries from the schema itself: none gets a 500 or an
internal error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hypothesis
import hypothesis_graphql
import pytest
from hypothesis import strategies as st
from hypothesis_graphql import nodes
from websockets.asyncio.client import connect

import atoll.testing
from atoll.endpoints.graphql.feed import EventFeed
from atoll.endpoints.graphql.http import GraphQLServing
from runnerly.app import system
from runnerly.runs.contracts import RunRecorded
from runnerly.stats.contracts import WeeklyTotalChanged
from tests.examples.test_runnerly import MEMORY, MONDAY, ada, bearer
from tests.rpc_doubles import served_here

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

DOCUMENTS = Path(__file__).parents[2] / "examples" / "runnerly" / "graphql"
LIMIT = 10.0
"""The longest any wait here may take: a bug fails the test rather than hang it."""
WS = "graphql-transport-ws"


def document(name: str) -> str:
    return (DOCUMENTS / f"{name}.graphql").read_text(encoding="utf-8")


@contextlib.asynccontextmanager
async def club() -> AsyncIterator[tuple[atoll.testing.ServiceHarness, dict, dict]]:
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        await harness.send(ada())
        await harness.send(ada("bo@example.org", "Bo"))
        yield harness, await bearer(harness), await bearer(harness, "bo@example.org")


async def ask(harness, headers: dict, name: str, **variables: Any) -> dict:
    answer = await harness.client.post(
        "/graphql", headers=headers, json={"query": document(name), "variables": variables}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_the_documents_record_runs_page_through_them_and_read_the_weeks():
    async with club() as (harness, ada_headers, _):
        recorded = []
        for day in range(5):
            answer = await ask(
                harness,
                ada_headers,
                "record-run",
                meters=5000 + day,
                seconds=1500,
                startedAt=(MONDAY + timedelta(days=day)).isoformat(),
                notes="easy",
            )
            recorded.append(answer["data"]["recordRun"])
        assert recorded[0] == {
            "id": 1,
            "meters": 5000.0,
            "seconds": 1500,
            "startedAt": "2026-11-23T07:30:00+00:00",
            "notes": "easy",
        }
        pages, after = [], None
        while True:
            runs = (await ask(harness, ada_headers, "runs", userId=1, first=2, after=after))[
                "data"
            ]["runs"]
            pages.append([edge["node"]["id"] for edge in runs["edges"]])
            if not runs["pageInfo"]["hasNextPage"]:
                break
            after = runs["pageInfo"]["endCursor"]
        assert pages == [[1, 2], [3, 4], [5]]
        await harness.settle()  # the stats service has counted the runs' events
        weeks = await ask(harness, ada_headers, "weeks", userId=1, day=MONDAY.isoformat())
    assert weeks == {
        "data": {
            "weeklyTotals": [{"week": "2026-11-23", "meters": 25010.0, "runs": 5}],
            "weeklyMeters": 25010.0,
        }
    }


async def test_another_runners_runs_do_not_exist_for_the_caller():
    async with club() as (harness, ada_headers, bo_headers):
        await ask(
            harness,
            ada_headers,
            "record-run",
            meters=5000,
            seconds=1500,
            startedAt=MONDAY.isoformat(),
        )
        hers = await ask(harness, bo_headers, "run", runId=1)
        nobody = await ask(harness, bo_headers, "run", runId=99)
        her_runs = await ask(harness, bo_headers, "runs", userId=1, first=5)
        anonymous = await ask(harness, {}, "run", runId=1)
    assert hers["data"] == {"getRun": None}
    (error,) = hers["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND"
    # The very answer an id no one has gets: nothing tells Bo that run 1 exists.
    (other,) = nobody["errors"]
    assert error["extensions"] == other["extensions"]
    assert error["message"].replace("1", "99") == other["message"]
    assert her_runs["data"] == {"runs": None}
    assert her_runs["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@contextlib.asynccontextmanager
async def subscribed(name: str, event: type) -> AsyncIterator[tuple[Any, dict, dict, Any]]:
    """Ada subscribed to the document ``name`` over a WebSocket, listening for ``event``.

    Yields the harness, Ada's and Bo's headers, and the socket, within :data:`LIMIT`.
    """
    async with (
        club() as (harness, ada_headers, bo_headers),
        served_here(harness.http.entry) as base,
        connect(base.replace("http://", "ws://") + "/graphql", subprotocols=[WS]) as ws,
        asyncio.timeout(LIMIT),
    ):
        init = {"authorization": ada_headers["authorization"]}
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}
        subscribe = {"query": document(name)}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
        feed = harness.container.get(EventFeed)
        while not feed.listening(event):  # noqa: ASYNC110 - polled
            await asyncio.sleep(0.01)
        yield harness, ada_headers, bo_headers, ws


async def record(harness, headers: dict, meters: float) -> None:
    """Record a run of ``meters`` on MONDAY, as the holder of ``headers``, and let it settle."""
    await ask(
        harness, headers, "record-run", meters=meters, seconds=1500, startedAt=MONDAY.isoformat()
    )
    await harness.settle()  # the outbox relayed its event, and stats' change of its total


async def test_a_runner_subscribed_sees_her_runs_recorded_and_not_anothers():
    async with subscribed("run-recorded", RunRecorded) as (harness, ada, bo, ws):
        await record(harness, bo, 7000)
        await record(harness, ada, 5000)
        seen = json.loads(await ws.recv())
    # Bo's run came first, and was not told to Ada: hers is the first she sees.
    assert seen == {
        "id": "1",
        "type": "next",
        "payload": {
            "data": {"runRecorded": {"runId": 2, "meters": 5000.0, "startedAt": MONDAY.isoformat()}}
        },
    }


async def test_a_runner_subscribed_sees_her_weekly_total_change_and_not_anothers():
    """stats publishes each change through its outbox; the subscriber is shown her own."""
    async with subscribed("weekly-total-changed", WeeklyTotalChanged) as (harness, ada, bo, ws):
        for headers, meters in ((bo, 7000), (ada, 5000), (ada, 3000)):
            await record(harness, headers, meters)
        first, second = json.loads(await ws.recv()), json.loads(await ws.recv())
    week = MONDAY.date().isoformat()
    # Bo's total changed first, and was not told to Ada: hers are the first she sees.
    assert [first["payload"], second["payload"]] == [
        {"data": {"weeklyTotalChanged": {"week": week, "meters": 5000.0, "runs": 1}}},
        {"data": {"weeklyTotalChanged": {"week": week, "meters": 8000.0, "runs": 2}}},
    ]


def _scalars() -> dict[str, st.SearchStrategy[Any]]:
    moments = st.datetimes(timezones=st.just(MONDAY.tzinfo)).map(
        lambda moment: nodes.String(moment.isoformat())
    )
    days = st.dates().map(lambda day: nodes.String(day.isoformat()))
    return {"DateTime": moments, "Date": days}


@pytest.mark.slow
async def test_queries_written_from_the_schema_never_fail_inside():
    async with club() as (harness, ada_headers, _):
        sdl = harness.container.get(GraphQLServing).endpoint.engine.sdl
        strategy = hypothesis_graphql.from_schema(sdl, custom_scalars=_scalars())
        sent: list[str] = []

        @hypothesis.settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            database=None,
        )
        @hypothesis.given(query=strategy)
        def check(query: str) -> None:
            sent.append(query)

        check()  # draws the documents; they are sent below, on the harness's loop
        for query in sent:
            answer = await harness.client.post(
                "/graphql", headers=ada_headers, json={"query": query}
            )
            assert answer.status_code == 200, (query, answer.text)
            codes = {error["extensions"]["code"] for error in answer.json().get("errors", [])}
            assert "INTERNAL_SERVER_ERROR" not in codes, (query, answer.text)
    assert len(sent) >= 50
