"""Fields of object types resolved by handlers: ``@service.field(User)``, alone or batched.

A field a handler resolves takes arguments, gets what the container gives, is judged by its
policy, and, batched, runs once for every parent of a level of the document (the N+1 calls of
a list become one).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import atoll
from atoll.errors import ConfigError
from atoll.testing import run


@dataclass(frozen=True)
class Runner:
    id: int
    name: str


@dataclass(frozen=True)
class Run:
    id: int
    meters: int


class Ledger:
    """What the field handlers read, given by the container; counts the calls it answers."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, ...]] = []

    def runs_of(self, *runner_ids: int) -> list[list[Run]]:
        self.calls.append(runner_ids)
        return [[Run(r * 10 + n, 1000 * n) for n in range(1, 4)] for r in runner_ids]


def club(ledger: Ledger, *, batched: bool) -> atoll.Service:
    service = atoll.Service("club")
    service.provide(lambda: ledger, provides=Ledger)

    @service.rpc
    @service.get("/runners")
    async def runners() -> list[Runner]:
        return [Runner(n, f"runner {n}") for n in range(1, 6)]

    @service.rpc
    @service.get("/runners/{runner_id}")
    async def runner(runner_id: int) -> Runner:
        return Runner(runner_id, f"runner {runner_id}")

    if batched:

        @service.field(Runner, name="runs", batched=True)
        async def runs_of_runners(
            runners: list[Runner], ledger: Ledger, longest: int = 3
        ) -> list[list[Run]]:
            """The runner's runs, the longest first."""
            found = ledger.runs_of(*(each.id for each in runners))
            return [sorted(runs, key=lambda run: -run.meters)[:longest] for runs in found]

    else:

        @service.field(Runner)
        async def runs(runner: Runner, ledger: Ledger, longest: int = 3) -> list[Run]:
            """The runner's runs, the longest first."""
            (found,) = ledger.runs_of(runner.id)
            return sorted(found, key=lambda run: -run.meters)[:longest]

    @service.field(Runner, policy=atoll.allow("club:admin"))
    async def email(runner: Runner) -> str:
        return f"runner{runner.id}@example.org"

    service.graphql()
    return service


async def ask(harness, query: str) -> dict:
    answer = await harness.client.post("/graphql", json={"query": query})
    return answer.json()


@pytest.mark.parametrize("batched", [False, True], ids=["alone", "batched"])
async def test_a_resolved_field_takes_arguments_and_the_containers_dependencies(batched):
    ledger = Ledger()
    async with run(club(ledger, batched=batched)) as harness:
        answer = await ask(
            harness, "{ runner(runnerId: 2) { name runs(longest: 2) { id meters } } }"
        )
    assert answer == {
        "data": {
            "runner": {
                "name": "runner 2",
                "runs": [{"id": 23, "meters": 3000}, {"id": 22, "meters": 2000}],
            }
        }
    }
    assert ledger.calls == [(2,)]


async def test_a_batched_field_runs_once_for_every_parent_of_a_level():
    ledger = Ledger()
    async with run(club(ledger, batched=True)) as harness:
        answer = await ask(harness, "{ runners { id runs { id } } }")
    runners = answer["data"]["runners"]
    assert [runner["id"] for runner in runners] == [1, 2, 3, 4, 5]
    assert runners[4]["runs"] == [{"id": 53}, {"id": 52}, {"id": 51}]
    assert ledger.calls == [(1, 2, 3, 4, 5)]  # one call, where there were five


async def test_an_unbatched_field_runs_once_per_parent():
    ledger = Ledger()
    async with run(club(ledger, batched=False)) as harness:
        await ask(harness, "{ runners { runs { id } } }")
    assert ledger.calls == [(1,), (2,), (3,), (4,), (5,)]


async def test_batches_of_other_arguments_are_apart():
    ledger = Ledger()
    async with run(club(ledger, batched=True)) as harness:
        answer = await ask(harness, "{ runners { one: runs(longest: 1) { id } all: runs { id } } }")
    assert answer["data"]["runners"][0] == {
        "one": [{"id": 13}],
        "all": [{"id": 13}, {"id": 12}, {"id": 11}],
    }
    assert sorted(ledger.calls) == [(1, 2, 3, 4, 5), (1, 2, 3, 4, 5)]


async def test_a_field_its_policy_refuses_is_null_and_the_rest_answers():
    async with run(club(Ledger(), batched=True)) as harness:
        answer = await ask(harness, "{ runner(runnerId: 1) { name email } }")
    assert answer["data"] == {"runner": {"name": "runner 1", "email": None}}
    (error,) = answer["errors"]
    assert error["path"] == ["runner", "email"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"  # no identity at all


async def test_the_resolved_fields_are_in_the_schema_with_their_descriptions():
    async with run(club(Ledger(), batched=True)) as harness:
        answer = await ask(
            harness, '{ __type(name: "Runner") { fields { name description type { name } } } }'
        )
    fields = {field["name"]: field for field in answer["data"]["__type"]["fields"]}
    assert list(fields) == ["id", "name", "runs", "email"]
    assert fields["runs"]["description"] == "The runner's runs, the longest first."


async def test_a_batched_handler_returning_another_count_of_values_fails_its_fields(caplog):
    service = atoll.Service("short")

    @service.rpc
    @service.get("/runners")
    async def runners() -> list[Runner]:
        return [Runner(1, "a"), Runner(2, "b")]

    @service.field(Runner, batched=True)
    async def initials(runners: list[Runner]) -> list[str]:
        return ["A"]

    service.graphql()
    async with run(service) as harness:
        answer = await ask(harness, "{ runners { initials } }")
    assert answer["data"] == {"runners": [{"initials": None}, {"initials": None}]}
    assert {error["extensions"]["code"] for error in answer["errors"]} == {"INTERNAL_SERVER_ERROR"}
    assert "given 2 parents and returned 1 values" in caplog.text


async def test_a_batched_handler_must_return_a_list():
    service = atoll.Service("wrong")

    @service.rpc
    @service.get("/runners")
    async def runners() -> list[Runner]:
        return []

    @service.field(Runner, batched=True)
    async def initials(runners: list[Runner]) -> str:
        return ""

    service.graphql()
    with pytest.raises(ConfigError, match="is batched: it returns a list"):
        async with run(service):
            pass


async def test_a_field_of_a_type_no_query_reaches_is_refused():
    service = atoll.Service("lost")

    @service.rpc
    async def ping() -> str:
        return "pong"

    @service.field(Runner)
    async def initials(runner: Runner) -> str:
        return runner.name[:1]

    service.graphql()
    with pytest.raises(ConfigError, match="resolves the field initials of Runner, which no field"):
        async with run(service):
            pass


async def test_a_resolved_field_may_not_hide_a_field_of_the_dataclass():
    service = atoll.Service("twice")

    @service.rpc
    @service.get("/runners")
    async def runners() -> list[Runner]:
        return []

    @service.field(Runner)
    async def name(runner: Runner) -> str:
        return ""

    service.graphql()
    with pytest.raises(ConfigError, match="is a field Runner has already"):
        async with run(service):
            pass


def test_a_field_is_declared_on_a_class():
    with pytest.raises(ConfigError, match="names no class"):
        atoll.Service("odd").field(42)  # type: ignore[arg-type]


SDL = """
type Runner { id: Int! name: String! runs(longest: Int = 3): [Run!]! }
type Run { id: Int! meters: Int! }
type Query { runners: [Runner!]! }
"""


async def test_an_sdl_field_is_resolved_by_its_handler_and_checked():
    ledger = Ledger()
    service = atoll.Service("club")
    service.provide(lambda: ledger, provides=Ledger)

    @service.rpc
    async def runners() -> list[Runner]:
        return [Runner(1, "a"), Runner(2, "b")]

    @service.field(Runner, batched=True)
    async def runs(runners: list[Runner], ledger: Ledger, longest: int = 3) -> list[list[Run]]:
        return [found[:longest] for found in ledger.runs_of(*(r.id for r in runners))]

    service.graphql(SDL)
    async with run(service) as harness:
        answer = await ask(harness, "{ runners { runs(longest: 1) { id } } }")
    assert answer == {"data": {"runners": [{"runs": [{"id": 11}]}, {"runs": [{"id": 21}]}]}}
    assert ledger.calls == [(1, 2)]


async def test_an_sdl_without_the_resolved_field_is_refused():
    service = atoll.Service("club")

    @service.rpc
    async def runners() -> list[Runner]:
        return []

    @service.field(Runner)
    async def initials(runner: Runner) -> str:
        return ""

    service.graphql("type Runner { id: Int! } type Query { runners: [Runner!]! }")
    with pytest.raises(ConfigError, match="resolves the field initials of Runner, which the SDL"):
        async with run(service):
            pass
