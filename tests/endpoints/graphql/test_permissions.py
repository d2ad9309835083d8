"""``@needsPermission`` in an SDL: a field judged as a handler's ``policy=atoll.allow(...)`` is.

A caller whose token lacks a permission gets ``null`` for the field and a ``FORBIDDEN`` error
(``UNAUTHENTICATED`` with no token), and the rest of the document answers; a field whose
handler has a policy of its own is judged by both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

import atoll
from atoll.cli import cli
from atoll.errors import ConfigError
from atoll.testing import run
from tests.docs.pages import REFERENCE, blocks
from tests.security import tokens
from tests.security.test_policies import jwt_argv

DEFINITION = "directive @needsPermission(permissions: [String!]!) on FIELD_DEFINITION\n"

SDL = """
type Run {
  id: ID!
  meters: Float!
  note: String @needsPermission(permissions: ["runs:notes"])
}

type Query {
  run(runId: Int!): Run @needsPermission(permissions: ["runs:read"])
  fastest: Float
  weekly: Float @needsPermission(permissions: ["runs:read"])
}
"""


@dataclass(frozen=True)
class Run:
    id: int
    meters: float
    note: str | None = None


def club(sdl: str = SDL, bind: dict[str, str] | None = None) -> atoll.Service:
    """Runs whose SDL guards its fields; ``weekly``'s handler has a policy of its own."""
    service = atoll.Service("runs")

    @service.rpc
    async def run(run_id: int) -> Run | None:
        return Run(run_id, 5000.0, "windy")

    @service.rpc
    async def fastest() -> float:
        return 3.5

    @service.rpc(policy=atoll.allow("stats:read"))
    async def weekly() -> float:
        return 42.0

    service.graphql(sdl, bind=bind)
    return service


def headers(*scopes: str) -> dict[str, str]:
    """The headers of a caller whose token grants ``scopes``."""
    claims = tokens.claims(time.time(), sub="bo", scope=" ".join(scopes))
    return {"authorization": f"Bearer {tokens.mint(claims, tokens.ed25519_pair())}"}


async def ask(harness, query: str, sent: dict[str, str] | None = None) -> dict:
    answer = await harness.client.post("/graphql", json={"query": query}, headers=sent or {})
    assert answer.status_code == 200
    return answer.json()


def codes(answer: dict) -> dict[str, str]:
    return {
        ".".join(map(str, error["path"])): error["extensions"]["code"]
        for error in answer.get("errors", [])
    }


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "not-declared"])
async def test_a_caller_granted_the_permission_reads_the_field(declared):
    async with run(club(DEFINITION + SDL if declared else SDL), argv=jwt_argv()) as harness:
        answer = await ask(harness, "{ run(runId: 1) { id meters } }", headers("runs:read"))
    assert answer == {"data": {"run": {"id": "1", "meters": 5000.0}}}


async def test_a_refused_field_is_null_and_forbidden_and_the_rest_answers():
    async with run(club(), argv=jwt_argv()) as harness:
        answer = await ask(harness, "{ run(runId: 1) { id } fastest }", headers("runs:write"))
    assert answer["data"] == {"run": None, "fastest": 3.5}
    assert codes(answer) == {"run": "FORBIDDEN"}
    assert answer["errors"][0]["message"] == "Query.run needs scopes runs:read"


async def test_an_anonymous_caller_is_unauthenticated():
    async with run(club(), argv=jwt_argv()) as harness:
        answer = await ask(harness, "{ run(runId: 1) { id } fastest }")
    assert answer["data"] == {"run": None, "fastest": 3.5}
    assert codes(answer) == {"run": "UNAUTHENTICATED"}
    assert "send a token as Authorization: Bearer" in answer["errors"][0]["message"]


async def test_a_guarded_field_of_an_object_type_is_null_beside_its_answered_siblings():
    async with run(club(), argv=jwt_argv()) as harness:
        refused = await ask(harness, "{ run(runId: 1) { meters note } }", headers("runs:read"))
        allowed = await ask(
            harness, "{ run(runId: 1) { meters note } }", headers("runs:read", "runs:notes")
        )
    assert refused["data"] == {"run": {"meters": 5000.0, "note": None}}
    assert codes(refused) == {"run.note": "FORBIDDEN"}
    assert allowed == {"data": {"run": {"meters": 5000.0, "note": "windy"}}}


@pytest.mark.parametrize(
    ("scopes", "verdict"),
    [
        (("runs:read", "stats:read"), None),
        (("runs:read",), "weekly needs scopes stats:read"),  # the handler's policy refuses
        (("stats:read",), "Query.weekly needs scopes runs:read"),  # the directive refuses
    ],
)
async def test_the_directive_and_the_handlers_policy_must_both_allow(scopes, verdict):
    async with run(club(), argv=jwt_argv()) as harness:
        answer = await ask(harness, "{ weekly }", headers(*scopes))
    if verdict is None:
        assert answer == {"data": {"weekly": 42.0}}
    else:
        assert answer["data"] == {"weekly": None}
        assert codes(answer) == {"weekly": "FORBIDDEN"}
        assert answer["errors"][0]["message"] == verdict


async def test_the_directive_is_in_the_served_schema():
    async with run(club(), argv=jwt_argv()) as harness:
        answer = await ask(harness, "{ __schema { directives { name args { name } } } }")
    directives = {d["name"]: d["args"] for d in answer["data"]["__schema"]["directives"]}
    assert directives["needsPermission"] == [{"name": "permissions"}]


@pytest.mark.parametrize(
    ("permissions", "message"),
    [
        ("[]", "@needsPermission of Query.run in the SDL of runs names no permission"),
        ("[42]", "@needsPermission of Query.run in the SDL of runs is not valid"),
        ('[""]', "@needsPermission of Query.run in the SDL of runs: scopes holds ''"),
    ],
)
async def test_a_directive_with_a_bad_argument_stops_the_start(permissions, message):
    sdl = SDL.replace(
        '(permissions: ["runs:read"])\n  fastest', f"(permissions: {permissions})\n  fastest"
    )
    with pytest.raises(ConfigError, match=message):
        async with run(club(sdl), argv=jwt_argv()):
            pass


async def test_a_directive_declared_otherwise_stops_the_start():
    sdl = "directive @needsPermission(permissions: String) on FIELD_DEFINITION\n" + SDL.replace(
        '["runs:read"]', '"runs:read"'
    ).replace('["runs:notes"]', '"runs:notes"')
    with pytest.raises(ConfigError, match="declares @needsPermission otherwise than atoll"):
        async with run(club(sdl), argv=jwt_argv()):
            pass


async def test_the_reference_pages_sdl_guards_as_the_page_says():
    """docs/reference/graphql.md's example: a reader reads runs, and notes with runs:notes."""
    sdl = blocks((REFERENCE / "graphql.md").read_text(encoding="utf-8"), "graphql")[0]
    async with run(club(sdl.replace("\n  run(", "\n  fastest: Float\n  weekly: Float\n  run(")),
                   argv=jwt_argv()) as harness:  # fmt: skip
        reader = await ask(harness, "{ run(runId: 1) { meters note } }", headers("runs:read"))
        anonymous = await ask(harness, "{ run(runId: 1) { meters } }")
    assert reader["data"] == {"run": {"meters": 5000.0, "note": None}}
    assert codes(reader) == {"run.note": "FORBIDDEN"}
    assert codes(anonymous) == {"run": "UNAUTHENTICATED"}


GUARDED_APP = '''
import atoll

service = atoll.Service("guarded")


@service.rpc
async def fastest() -> float:
    return 3.5


service.graphql("""type Query { fastest: Float @needsPermission(permissions: ["runs:read"]) }""")
'''


def test_the_printed_schema_says_who_may_read_a_guarded_field(tmp_path, monkeypatch):
    """``atoll graphql schema`` checks the directives, and the description says them."""
    (tmp_path / "guardedapp.py").write_text(GUARDED_APP, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = CliRunner().invoke(cli, ["graphql", "schema", "guardedapp:service"])
    assert result.exit_code == 0, result.output
    assert DEFINITION.strip() in result.output
    assert '  """Who may: scopes runs:read."""\n  fastest: Float\n' in result.output


INTERFACE_SDL = """
interface Entry {
  id: ID!
  note: String @needsPermission(permissions: ["runs:notes"])
}

type Run implements Entry {
  id: ID!
  meters: Float!
  note: String
}

type Query {
  run(runId: Int!): Run
}
"""


async def test_a_field_guarded_on_an_interface_is_guarded_on_each_type_implementing_it():
    """GraphQL resolves an interface's field on the object: the object's field is guarded."""
    async with run(club(INTERFACE_SDL), argv=jwt_argv()) as harness:
        refused = await ask(harness, "{ run(runId: 1) { meters note } }", headers("runs:read"))
        allowed = await ask(harness, "{ run(runId: 1) { note } }", headers("runs:notes"))
        schema = await ask(
            harness, '{ __type(name: "Run") { fields { name description } } }', headers()
        )
    assert refused["data"] == {"run": {"meters": 5000.0, "note": None}}
    assert codes(refused) == {"run.note": "FORBIDDEN"}
    assert refused["errors"][0]["message"] == "Run.note needs scopes runs:notes"
    assert allowed == {"data": {"run": {"note": "windy"}}}
    described = {
        field["name"]: field["description"] for field in schema["data"]["__type"]["fields"]
    }
    assert described["note"] == "Who may: scopes runs:notes."


async def test_a_field_guarded_on_an_interface_is_guarded_when_asked_through_the_interface():
    """A root field typed by the interface: the value shows as a Run, whose note is guarded."""
    sdl = INTERFACE_SDL.replace(
        "  run(runId: Int!): Run\n", "  run(runId: Int!): Run\n  entry(runId: Int!): Entry\n"
    )
    service = club(sdl, bind={"Query.entry": "run"})
    async with run(service, argv=jwt_argv()) as harness:
        query = "{ entry(runId: 1) { __typename id note ... on Run { meters } } }"
        refused = await ask(harness, query, headers("runs:read"))
        allowed = await ask(harness, "{ entry(runId: 1) { note } }", headers("runs:notes"))
    assert refused["data"] == {
        "entry": {"__typename": "Run", "id": "1", "note": None, "meters": 5000.0}
    }
    assert codes(refused) == {"entry.note": "FORBIDDEN"}
    assert allowed == {"data": {"entry": {"note": "windy"}}}


async def test_a_field_guarded_on_its_interface_and_on_its_object_is_judged_by_both():
    both = INTERFACE_SDL.replace(
        "  meters: Float!\n  note: String\n",
        '  meters: Float!\n  note: String @needsPermission(permissions: ["runs:read"])\n',
    )
    async with run(club(both), argv=jwt_argv()) as harness:
        notes_only = await ask(harness, "{ run(runId: 1) { note } }", headers("runs:notes"))
        read_only = await ask(harness, "{ run(runId: 1) { note } }", headers("runs:read"))
        allowed = await ask(
            harness, "{ run(runId: 1) { note } }", headers("runs:read", "runs:notes")
        )
    assert notes_only["errors"][0]["message"] == "Run.note needs scopes runs:read"
    assert read_only["errors"][0]["message"] == "Run.note needs scopes runs:notes"
    assert allowed == {"data": {"run": {"note": "windy"}}}
