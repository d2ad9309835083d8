"""Relay connections: a handler returning a repository's ``Page`` is a connection over GraphQL.

The pages are by key, so that a row inserted between two requests never shifts the next page;
the cursors are the repository's, opaque, and a bad one is the caller's ``BAD_USER_INPUT``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import atoll
from atoll.persistence.pages import Page
from atoll.persistence.schema import Schema
from atoll.testing import run


@dataclass
class Member:
    id: int | None
    name: str


@dataclass(frozen=True)
class Join:
    name: str


class Units(atoll.UnitOfWork):
    members: atoll.Repository[Member]


def club() -> atoll.Service:
    schema = Schema()
    schema.map(Member)
    service = atoll.Service("club")
    service.database(schema, Units)

    @service.rpc
    @service.get("/members")
    async def members(
        uow: Units,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Page[Member]:
        """The members, by name."""
        async with uow:
            return await uow.members.page(
                first=first, after=after, last=last, before=before, order_by="name"
            )

    @service.command(Join)
    async def join(command: Join, uow: Units) -> Member:
        async with uow:
            member = await uow.members.add(Member(None, command.name))
            await uow.commit()
        return member

    service.graphql()
    return service


PAGE = """
query($first: Int, $after: String, $last: Int, $before: String) {
  members(first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { name } }
    nodes { name }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


@pytest.fixture
async def members():
    async with run(club(), argv=["--db-url", "memory://"]) as harness:
        for name in ("ada", "cy", "eve", "gus", "ida"):
            await ask(harness, f'mutation {{ join(name: "{name}") {{ id }} }}')
        yield harness


async def ask(harness, query: str, variables: dict | None = None) -> dict:
    answer = await harness.client.post("/graphql", json={"query": query, "variables": variables})
    return answer.json()


async def page(harness, **variables) -> dict:
    answer = await ask(harness, PAGE, variables)
    assert "errors" not in answer, answer
    return answer["data"]["members"]


def names(connection: dict) -> list[str]:
    return [edge["node"]["name"] for edge in connection["edges"]]


async def test_a_page_is_a_connection_with_edges_nodes_and_page_info(members):
    first = await page(members, first=2)
    assert names(first) == ["ada", "cy"]
    assert [node["name"] for node in first["nodes"]] == ["ada", "cy"]
    info = first["pageInfo"]
    assert info["hasNextPage"] is True
    assert info["hasPreviousPage"] is False
    assert info["startCursor"] == first["edges"][0]["cursor"]
    assert info["endCursor"] == first["edges"][1]["cursor"]


async def test_pages_follow_forward_and_backward_by_cursor(members):
    first = await page(members, first=2)
    second = await page(members, first=2, after=first["pageInfo"]["endCursor"])
    third = await page(members, first=2, after=second["pageInfo"]["endCursor"])
    assert [names(first), names(second), names(third)] == [["ada", "cy"], ["eve", "gus"], ["ida"]]
    assert third["pageInfo"]["hasNextPage"] is False
    back = await page(members, last=2, before=third["pageInfo"]["startCursor"])
    assert names(back) == ["eve", "gus"]
    assert back["pageInfo"]["hasPreviousPage"] is True


async def test_a_member_joining_between_pages_does_not_shift_the_next_page(members):
    first = await page(members, first=2)
    await ask(members, 'mutation { join(name: "bo") { id } }')  # sorts before the cursor
    second = await page(members, first=2, after=first["pageInfo"]["endCursor"])
    assert names(second) == ["eve", "gus"]
    await ask(members, 'mutation { join(name: "fay") { id } }')  # sorts after it
    again = await page(members, first=2, after=first["pageInfo"]["endCursor"])
    assert names(again) == ["eve", "fay"]


async def test_a_bad_cursor_is_bad_user_input(members):
    answer = await ask(members, PAGE, {"first": 2, "after": "nonsense"})
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "does not decode" in error["message"]
    assert answer["data"] == {"members": None}


async def test_the_connection_types_are_in_the_schema(members):
    answer = await ask(
        members,
        '{ c: __type(name: "MemberConnection") { fields { name } }'
        ' e: __type(name: "MemberEdge") { fields { name } }'
        ' p: __type(name: "PageInfo") { fields { name } } }',
    )
    data = answer["data"]
    assert [f["name"] for f in data["c"]["fields"]] == ["edges", "nodes", "pageInfo"]
    assert [f["name"] for f in data["e"]["fields"]] == ["cursor", "node"]
    assert [f["name"] for f in data["p"]["fields"]] == [
        "hasNextPage",
        "hasPreviousPage",
        "startCursor",
        "endCursor",
    ]
