"""GraphQL in a system (one schema of its services' fields), in ``atoll routes``, and as SDL.

``atoll graphql schema MODULE:OBJECT`` prints the schema the start makes, and ``atoll routes``
lists its root fields, neither starting anything.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

import atoll
from atoll.cli import cli
from atoll.errors import ConfigError
from atoll.testing import run


@dataclass(frozen=True)
class Member:
    id: int
    name: str


def users(*, graphql: bool = True) -> atoll.Service:
    service = atoll.Service("users")

    @service.rpc
    @service.get("/users/{user_id}")
    async def get_user(user_id: int) -> Member:
        return Member(user_id, f"member {user_id}")

    if graphql:
        service.graphql()
    return service


def runs(*, graphql: bool = True, name: str = "total") -> atoll.Service:
    service = atoll.Service("runs")

    @service.rpc(name=name)
    async def total(user_id: int) -> float:
        return 10.0 * user_id

    if graphql:
        service.graphql(queries=[name])
    return service


async def test_a_system_serves_one_schema_of_its_services_fields():
    system = atoll.System(users(), runs(), name="club")
    async with run(system) as harness:
        answer = await harness.client.post(
            "/graphql", json={"query": "{ getUser(userId: 2) { name } total(userId: 2) }"}
        )
    assert answer.json() == {"data": {"getUser": {"name": "member 2"}, "total": 20.0}}


async def test_only_the_services_declaring_graphql_are_in_the_schema():
    system = atoll.System(users(), runs(graphql=False), name="club")
    async with run(system) as harness:
        answer = await harness.client.post("/graphql", json={"query": "{ total(userId: 2) }"})
    assert answer.json()["errors"][0]["message"] == "Cannot query field 'total' on type 'Query'."


async def test_two_services_with_a_field_of_one_name_are_refused():
    system = atoll.System(users(), runs(name="get_user"), name="club")
    with pytest.raises(ConfigError, match="are both the GraphQL field 'getUser'"):
        async with run(system):
            pass


async def test_an_sdl_beside_other_services_schemas_is_refused():
    sdl = atoll.Service("stated")

    @sdl.rpc
    async def ping() -> str:
        return "pong"

    sdl.graphql("type Query { ping: String }")
    with pytest.raises(ConfigError, match="one process serves one schema"):
        async with run(atoll.System(users(), sdl, name="club")):
            pass


APP = textwrap.dedent(
    """
    from dataclasses import dataclass

    import atoll


    @dataclass(frozen=True)
    class Member:
        id: int
        name: str


    service = atoll.Service("users")


    @service.rpc
    @service.get("/users/{user_id}")
    async def get_user(user_id: int) -> Member:
        return Member(user_id, "x")


    @service.rpc
    async def rename(user_id: int, name: str) -> Member:
        return Member(user_id, name)


    service.graphql()

    plain = atoll.Service("plain")


    @plain.rpc
    async def ping() -> str:
        return "pong"


    broken = atoll.Service("broken")


    @broken.rpc
    async def raw() -> bytes:
        return b""


    broken.graphql()
    """
)


@pytest.fixture
def app_module(tmp_path, monkeypatch):
    (tmp_path / "gqlapp.py").write_text(APP, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "gqlapp"


def test_atoll_graphql_schema_prints_the_sdl(app_module):
    result = CliRunner().invoke(cli, ["graphql", "schema", f"{app_module}:service"])
    assert result.exit_code == 0, result.output
    assert "type Query {\n  getUser(userId: Int!): Member\n}" in result.output
    assert "type Mutation {\n  rename(userId: Int!, name: String!): Member\n}" in result.output


def test_atoll_graphql_schema_says_when_there_is_none(app_module):
    result = CliRunner().invoke(cli, ["graphql", "schema", f"{app_module}:plain"])
    assert result.exit_code == 1
    assert "it serves no GraphQL; declare service.graphql()" in result.output


def test_atoll_graphql_schema_names_a_type_graphql_cannot_state(app_module):
    result = CliRunner().invoke(cli, ["graphql", "schema", f"{app_module}:broken"])
    assert result.exit_code == 2
    assert "Mutation.raw" in result.output
    assert "is of type bytes" in result.output


def test_atoll_routes_lists_the_graphql_fields(app_module):
    result = CliRunner().invoke(cli, ["routes", f"{app_module}:service"])
    assert result.exit_code == 0, result.output
    section = result.output[result.output.index("GraphQL fields") :]
    assert section.splitlines() == [
        "GraphQL fields (at /graphql)",
        "  TYPE      FIELD                                        METHOD",
        "  Query     getUser(userId: Int!): Member                get_user",
        "  Mutation  rename(userId: Int!, name: String!): Member  rename",
    ]


def test_atoll_routes_has_no_graphql_section_without_graphql(app_module):
    result = CliRunner().invoke(cli, ["routes", f"{app_module}:plain"])
    assert result.exit_code == 0
    assert "GraphQL" not in result.output


async def test_the_api_page_links_the_graphql_page_only_when_it_is_served():
    async with run(users()) as harness:
        served = (await harness.client.get("/docs")).text
    async with run(users(graphql=False)) as harness:
        plain = (await harness.client.get("/docs")).text
    assert 'data-graphql-url="graphql"' in served
    assert 'data-graphql-url=""' in plain
