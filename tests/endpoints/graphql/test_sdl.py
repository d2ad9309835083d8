"""Schema first: an SDL bound to the handlers by name or by ``bind``, and checked when built.

The schema is the SDL's, as written; each root field runs its handler through the bus, and a
field or type that does not fit its handler stops the start with a message naming both.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from pathlib import Path

import pytest

import atoll
from atoll.errors import ConfigError
from atoll.testing import run

SDL = """
scalar DateTime

enum Surface { ROAD TRAIL }

"A run."
type Run {
  id: ID!
  meters: Float!
  startedAt: DateTime!
  surface: Surface!
  note: String
}

input RunChange { meters: Float, note: String }

type Query {
  run(runId: Int!): Run
  weeklyMeters(userId: Int!): Float!
  latest: [Run!]!
}

type Mutation {
  changeRun(runId: Int!, change: RunChange!): Run!
}
"""


class Surface(enum.Enum):
    ROAD = "road"
    TRAIL = "trail"


@dataclass(frozen=True)
class Run:
    id: int
    meters: float
    started_at: dt.datetime
    surface: Surface
    note: str | None = None


@dataclass(frozen=True)
class RunChange:
    meters: float | None = None
    note: str | None = None


WHEN = dt.datetime(2024, 5, 1, 7, 30, tzinfo=dt.UTC)


def kingdom(sdl: str | Path = SDL, **graphql) -> atoll.Service:
    """``runs``, served through an SDL of its own."""
    service = atoll.Service("runs")
    kept = {1: Run(1, 5000.0, WHEN, Surface.TRAIL)}

    @service.rpc
    async def get_run(run_id: int) -> Run | None:
        return kept.get(run_id)

    @service.rpc
    async def weekly_meters(user_id: int) -> float:
        return 1000.0 * user_id

    @service.rpc
    async def latest() -> list[Run]:
        return list(kept.values())

    @service.rpc
    async def change_run(run_id: int, change: RunChange) -> Run:
        before = kept[run_id]
        kept[run_id] = Run(
            run_id,
            change.meters if change.meters is not None else before.meters,
            before.started_at,
            before.surface,
            change.note if change.note is not None else before.note,
        )
        return kept[run_id]

    service.graphql(
        sdl,
        bind=graphql.pop("bind", {"Query.run": get_run, "Mutation.changeRun": "change_run"}),
        **graphql,
    )
    return service


async def ask(harness, query: str, variables: dict | None = None) -> dict:
    answer = await harness.client.post("/graphql", json={"query": query, "variables": variables})
    return answer.json()


async def test_root_fields_run_the_handlers_of_their_names_or_of_bind():
    async with run(kingdom()) as harness:
        answer = await ask(
            harness,
            "{ run(runId: 1) { id meters startedAt surface note } weeklyMeters(userId: 3)"
            " latest { id } none: run(runId: 7) { id } }",
        )
        changed = await ask(
            harness,
            'mutation { changeRun(runId: 1, change: {note: "windy"}) { meters note } }',
        )
    assert answer == {
        "data": {
            "run": {
                "id": "1",
                "meters": 5000.0,
                "startedAt": "2024-05-01T07:30:00+00:00",
                "surface": "TRAIL",
                "note": None,
            },
            "weeklyMeters": 3000.0,
            "latest": [{"id": "1"}],
            "none": None,
        }
    }
    assert changed == {"data": {"changeRun": {"meters": 5000.0, "note": "windy"}}}


async def test_the_schema_is_the_sdls_as_written():
    async with run(kingdom()) as harness:
        answer = await ask(harness, '{ __type(name: "Run") { description fields { name } } }')
    assert answer["data"]["__type"] == {
        "description": "A run.",
        "fields": [
            {"name": "id"},
            {"name": "meters"},
            {"name": "startedAt"},
            {"name": "surface"},
            {"name": "note"},
        ],
    }


async def test_the_sdl_may_be_read_from_a_file_when_the_application_is_built(tmp_path):
    path = tmp_path / "schema.graphql"
    service = kingdom(path)  # not read yet: nothing is read at import time
    path.write_text(SDL, encoding="utf-8")
    async with run(service) as harness:
        answer = await ask(harness, "{ weeklyMeters(userId: 2) }")
    assert answer == {"data": {"weeklyMeters": 2000.0}}


async def test_an_sdl_file_that_cannot_be_read_is_named(tmp_path):
    missing = tmp_path / "nowhere.graphql"
    with pytest.raises(ConfigError, match=f"cannot read the GraphQL schema {missing}"):
        async with run(kingdom(missing)):
            pass


@pytest.mark.parametrize(
    ("sdl", "bind", "message"),
    [
        (
            SDL.replace("latest: [Run!]!", "latest: [Run!]!\n  fastest: Run"),
            None,
            r"Query.fastest of the SDL has no handler: runs has no JSON-RPC method 'fastest'",
        ),
        (
            SDL,
            {"Query.run": "get_runs"},
            r"bind gives Query.run of the SDL the handler 'get_runs', which runs has no",
        ),
        (
            SDL,
            {"Query.run": "get_run", "Query.pace": "latest"},
            r"bind names Query.pace, which the SDL of runs has no root field of",
        ),
        (
            SDL.replace("weeklyMeters(userId: Int!)", "weeklyMeters(userId: Int!, week: Int)"),
            None,
            (
                r"Query.weeklyMeters\(week:\) of the SDL is an argument rpc handler "
                r"'weekly_meters' .* does not take"
            ),
        ),
        (
            SDL.replace("weeklyMeters(userId: Int!)", "weeklyMeters"),
            None,
            r"Query.weeklyMeters of the SDL gives no argument for the parameters user_id",
        ),
        (
            SDL.replace("weeklyMeters(userId: Int!)", "weeklyMeters(userId: String!)"),
            None,
            r"Query.weeklyMeters\(userId:\) of the SDL is String, and .* has it as int",
        ),
        (
            SDL.replace("run(runId: Int!): Run\n", "run(runId: Int!): Run!\n"),
            None,
            r"Query.run of the SDL is Run!, and .* has it as .* \(may be None\)",
        ),
        (
            SDL.replace("  note: String\n}", "  note: String\n  pace: Float\n}"),
            None,
            r"Run.pace of the SDL has no field 'pace' in Run, which .* answers",
        ),
        (
            SDL.replace("enum Surface { ROAD TRAIL }", "enum Surface { ROAD TRACK }"),
            None,
            (
                r"the enum Surface of the SDL has the values ROAD, TRACK, and Surface .* the "
                r"members ROAD, TRAIL"
            ),
        ),
        (
            SDL.replace("meters: Float!\n  startedAt", "meters: [Float!]!\n  startedAt"),
            None,
            r"Run.meters of the SDL is \[Float!\], and .* has it as float",
        ),
        ("type Query { run(: Int): Run }", None, r"the SDL of runs is not a valid GraphQL schema"),
    ],
)
async def test_an_sdl_that_does_not_fit_its_handlers_stops_the_start(sdl, bind, message):
    service = kingdom(
        sdl, bind=bind or {"Query.run": "get_run", "Mutation.changeRun": "change_run"}
    )
    with pytest.raises(ConfigError, match=message):
        async with run(service):
            pass


async def test_a_handler_returning_nothing_is_a_boolean_field():
    service = atoll.Service("plain")

    @service.rpc
    async def reset() -> None:
        return None

    service.graphql("type Query { ok: Boolean } type Mutation { reset: Boolean! }", bind={})
    with pytest.raises(ConfigError, match=r"Query\.ok of the SDL has no handler"):
        async with run(service):
            pass
    fine = atoll.Service("fine")
    fine.rpc(reset)
    fine.rpc(name="ok")(reset)
    fine.graphql("type Query { ok: Boolean } type Mutation { reset: Boolean! }")
    async with run(fine) as harness:
        answer = await ask(harness, "mutation { reset }")
    assert answer == {"data": {"reset": True}}


ENTRIES_SDL = """
interface Entry { id: ID! meters: Float! }

type Run implements Entry { id: ID! meters: Float! surface: Surface! }
type Walk implements Entry { id: ID! meters: Float! steps: Int! }
type Swim { id: ID! laps: Int! }

enum Surface { ROAD TRAIL }

union Activity = Run | Swim

type Query {
  entries: [Entry!]!
  latest: Entry
  activities: [Activity!]!
}
"""


@dataclass(frozen=True)
class Walk:
    id: int
    meters: float
    steps: int


@dataclass(frozen=True)
class Swim:
    id: int
    laps: int


def logbook(sdl: str = ENTRIES_SDL) -> atoll.Service:
    """A service whose fields are interfaces and unions, each answered by several classes."""
    service = atoll.Service("log")

    @service.rpc
    async def entries() -> list[Run | Walk]:
        return [Run(1, 5000.0, WHEN, Surface.ROAD), Walk(2, 3000.0, 4200)]

    @service.rpc
    async def latest() -> Walk | None:
        return Walk(2, 3000.0, 4200)

    @service.rpc
    async def activities() -> list[Run | Swim]:
        return [Swim(3, 40), Run(1, 5000.0, WHEN, Surface.TRAIL)]

    service.graphql(sdl)
    return service


async def test_an_interface_or_a_union_shows_each_value_as_the_type_its_class_names():
    async with run(logbook()) as harness:
        answer = await ask(
            harness,
            "{ entries { __typename id meters ... on Run { surface } ... on Walk { steps } }"
            " latest { __typename meters }"
            " activities { __typename ... on Swim { laps } ... on Run { meters } } }",
        )
    assert answer == {
        "data": {
            "entries": [
                {"__typename": "Run", "id": "1", "meters": 5000.0, "surface": "ROAD"},
                {"__typename": "Walk", "id": "2", "meters": 3000.0, "steps": 4200},
            ],
            "latest": {"__typename": "Walk", "meters": 3000.0},
            "activities": [
                {"__typename": "Swim", "laps": 40},
                {"__typename": "Run", "meters": 5000.0},
            ],
        }
    }


@pytest.mark.parametrize(
    ("sdl", "message"),
    [
        (
            ENTRIES_SDL.replace("type Walk implements Entry", "type Walk"),
            (
                r"Query.entries\[\] of the SDL is Entry, and .* has it as .*Walk names none of "
                r"its object types, Run: name each class it answers as its type"
            ),
        ),
        (
            ENTRIES_SDL.replace("union Activity = Run | Swim", "union Activity = Run | Walk"),
            r"Query.activities\[\] of the SDL is Activity, .*Swim names none of its object types",
        ),
        (
            ENTRIES_SDL.replace("steps: Int! }", "steps: String! }"),
            r"Walk.steps of the SDL is String, and .* has it as int",
        ),
    ],
    ids=["interface", "union", "field"],
)
async def test_an_interface_or_union_a_class_does_not_fit_stops_the_start(sdl, message):
    with pytest.raises(ConfigError, match=message):
        async with run(logbook(sdl)):
            pass
