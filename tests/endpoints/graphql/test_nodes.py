"""Relay nodes: ``service.graphql(nodes={Run: get_run})``, global ids, and ``node(id:)``.

A node type implements ``Node``, its ``id`` is a global id and its own id is ``databaseId``;
``node(id:)`` finds any node with its type's handler, judged by the handler's policy; a global
id that does not decode, or names no node type, is ``BAD_USER_INPUT``.
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass

import pytest

import atoll
from atoll.endpoints.graphql.http import GraphQLServing
from atoll.errors import ConfigError
from atoll.testing import run
from tests.docs.pages import REFERENCE, blocks
from tests.security import tokens
from tests.security.test_policies import jwt_argv


@dataclass(frozen=True)
class Run:
    """A run."""

    id: int
    meters: float


@dataclass(frozen=True)
class Runner:
    """A runner, known by a name."""

    id: str
    name: str


RUNS = {1: Run(1, 5000.0), 2: Run(2, 10000.0)}
RUNNERS = {"ada": Runner("ada", "Ada")}


def club() -> atoll.Service:
    """Runs and runners, each a node; a runner is for readers of runners only."""
    service = atoll.Service("club")

    @service.rpc
    @service.get("/runs/{run_id}")
    async def get_run(run_id: int) -> Run | None:
        return RUNS.get(run_id)

    @service.rpc(policy=atoll.allow("runners:read"))
    @service.get("/runners/{runner_id}")
    async def get_runner(runner_id: str) -> Runner | None:
        return RUNNERS.get(runner_id)

    @service.rpc
    async def runs() -> list[Run]:
        return list(RUNS.values())

    service.graphql(queries=[runs], nodes={Run: get_run, Runner: "get_runner"})
    return service


def global_id(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def headers(*scopes: str) -> dict[str, str]:
    claims = tokens.claims(time.time(), sub="bo", scope=" ".join(scopes))
    return {"authorization": f"Bearer {tokens.mint(claims, tokens.ed25519_pair())}"}


async def ask(harness, query: str, variables: dict | None = None, sent: dict | None = None):
    answer = await harness.client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=sent or {}
    )
    assert answer.status_code == 200
    return answer.json()


NODE = "query($id: ID!) { node(id: $id) { __typename id ... on Run { databaseId meters } } }"


async def test_a_node_has_a_global_id_and_its_own_as_database_id():
    async with run(club(), argv=jwt_argv()) as harness:
        answer = await ask(harness, "{ getRun(runId: 1) { id databaseId meters } }")
    assert answer == {
        "data": {"getRun": {"id": global_id("Run:1"), "databaseId": 1, "meters": 5000.0}}
    }


async def test_a_global_id_finds_its_node_again():
    async with run(club(), argv=jwt_argv()) as harness:
        listed = await ask(harness, "{ runs { id } }")
        second = listed["data"]["runs"][1]["id"]
        answer = await ask(harness, NODE, {"id": second})
        missing = await ask(harness, NODE, {"id": global_id("Run:9")})
    assert answer == {
        "data": {"node": {"__typename": "Run", "id": second, "databaseId": 2, "meters": 10000.0}}
    }
    assert missing == {"data": {"node": None}}


async def test_the_node_types_implement_node_in_the_schema():
    async with run(club(), argv=jwt_argv()) as harness:
        answer = await ask(
            harness, '{ __type(name: "Node") { kind possibleTypes { name } fields { name } } }'
        )
    assert answer["data"]["__type"] == {
        "kind": "INTERFACE",
        "possibleTypes": [{"name": "Run"}, {"name": "Runner"}],
        "fields": [{"name": "id"}],
    }


@pytest.mark.parametrize(
    "sent",
    [
        "not base64 at all!",
        "a",  # no base64: a length no bytes have
        global_id("Run"),  # no key
        global_id("Lap:1"),  # no node type of the schema
        global_id("Run:one"),  # a key that is no int
        base64.urlsafe_b64encode(b"\xff\xfe:1").decode(),  # no text
    ],
)
async def test_a_bad_global_id_is_bad_user_input(sent):
    async with run(club(), argv=jwt_argv()) as harness:
        answer = await ask(harness, NODE, {"id": sent})
    assert answer["data"] == {"node": None}
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["path"] == ["node"]


async def test_a_node_is_judged_by_its_handlers_policy():
    async with run(club(), argv=jwt_argv()) as harness:
        refused = await ask(harness, NODE, {"id": global_id("Runner:ada")}, headers("runs:read"))
        anonymous = await ask(harness, NODE, {"id": global_id("Runner:ada")})
        allowed = await ask(
            harness,
            "query($id: ID!) { node(id: $id) { id ... on Runner { databaseId name } } }",
            {"id": global_id("Runner:ada")},
            headers("runners:read"),
        )
    assert refused["data"] == {"node": None}
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert allowed == {
        "data": {"node": {"id": global_id("Runner:ada"), "databaseId": "ada", "name": "Ada"}}
    }


@dataclass(frozen=True)
class Lap:
    number: int


def finder_of(
    *, two_keys: bool = False, mutation: bool = False, lap: bool = False, named: type = Run
):
    service = atoll.Service("wrong")

    if two_keys:

        @service.rpc
        async def get_run(run_id: int, lap: int) -> Run | None: ...

    elif lap:

        @service.rpc
        async def get_run(run_id: int) -> Lap | None: ...

    else:

        @service.rpc
        async def get_run(run_id: int) -> Run | None: ...

    found = Lap if lap else named
    service.graphql(queries=[] if mutation else [get_run], nodes={found: get_run})
    return service


@pytest.mark.parametrize(
    ("service", "message"),
    [
        (lambda: finder_of(two_keys=True), "takes the parameters run_id, lap"),
        (lambda: finder_of(mutation=True), "which is no query of the schema"),
        (lambda: finder_of(lap=True), "give Lap an id field"),
        (lambda: finder_of(named=Runner), "make it return Runner | None"),
    ],
    ids=["two-keys", "mutation", "no-id", "another-type"],
)
async def test_a_node_its_finder_cannot_find_stops_the_start(service, message):
    with pytest.raises(ConfigError, match=message):
        async with run(service()):
            pass


def test_nodes_are_for_a_generated_schema():
    service = atoll.Service("stated")

    @service.rpc
    async def get_run(run_id: int) -> Run | None: ...

    with pytest.raises(ConfigError, match="gives nodes= to an SDL"):
        service.graphql("type Query { getRun(runId: Int!): Run }", nodes={Run: get_run})


def without_descriptions(sdl: str) -> list[str]:
    """The SDL's type definitions, their descriptions and blank lines left out."""
    kept = re.sub(r'^[ \t]*"""[\s\S]*?"""\n', "", sdl, flags=re.MULTILINE)
    return [
        "\n".join(line for line in part.splitlines() if line.strip()) for part in kept.split("\n\n")
    ]


async def test_the_reference_page_shows_the_node_types_as_served():
    """docs/reference/graphql.md shows Node and Run as the schema states them."""
    page = blocks((REFERENCE / "graphql.md").read_text(encoding="utf-8"), "graphql")[1]
    node, run_type, _ = page.strip().split("\n\n")
    async with run(club(), argv=jwt_argv()) as harness:
        sdl = harness.container.get(GraphQLServing).endpoint.engine.sdl
    served = "\n".join(without_descriptions(sdl))
    assert node in served
    assert run_type in served


async def test_a_handler_named_node_beside_nodes_stops_the_start():
    service = atoll.Service("clash")

    @service.rpc
    @service.get("/runs/{run_id}")
    async def get_run(run_id: int) -> Run | None: ...

    @service.rpc
    @service.get("/node")
    async def node() -> str: ...

    service.graphql(nodes={Run: get_run})
    with pytest.raises(ConfigError, match="has nodes, and a query field node already"):
        async with run(service):
            pass


def test_nodes_are_keyed_by_class():
    service = atoll.Service("keys")

    @service.rpc
    async def get_run(run_id: int) -> Run | None: ...

    with pytest.raises(ConfigError, match="key each query by the class it finds"):
        service.graphql(nodes={"Run": get_run})


async def test_a_system_finds_the_nodes_of_each_service():
    other = atoll.Service("other")

    @other.rpc
    @other.get("/laps/{number}")
    async def lap(number: int) -> Lap | None:
        return Lap(number)

    other.graphql()
    async with run(atoll.System(club(), other, name="both"), argv=jwt_argv()) as harness:
        answer = await ask(harness, NODE, {"id": global_id("Run:1")})
        laps = await ask(harness, "{ lap(number: 3) { number } }")
    assert answer["data"]["node"]["databaseId"] == 1
    assert laps == {"data": {"lap": {"number": 3}}}
