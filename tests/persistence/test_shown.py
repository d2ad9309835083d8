"""Answers show an aggregate without its bookkeeping: no ``events``, no version, anywhere."""

from dataclasses import dataclass, field

import atoll
import atoll.testing
from atoll.persistence.schema import Schema
from atoll.persistence.shown import shown


@dataclass
class Counted:
    counter: int


@dataclass
class Counter:
    id: int | None
    name: str
    value: int = 0
    version: int = 0
    events: list[object] = field(default_factory=list, compare=False, repr=False)


@dataclass
class Board:
    """Not an aggregate: it holds one."""

    top: Counter
    others: list[Counter]


@dataclass
class Log:
    """Not mapped: a field named ``events`` is its own business, and shown."""

    events: list[str]


schema = Schema()
schema.map(Counter, version="version")


class Units(atoll.UnitOfWork):
    counters: atoll.Repository[Counter]


def counting() -> atoll.Service:
    service = atoll.Service("counting")
    service.database(schema, Units)

    @service.rpc
    @service.post("/counters", status=201)
    async def make(name: str, uow: Units) -> Counter:
        async with uow:
            counter = await uow.counters.add(Counter(None, name))
            counter.events.append(Counted(0))
            await uow.commit()
        return counter

    @service.rpc
    @service.get("/counters")
    async def every(uow: Units) -> list[Counter]:
        async with uow:
            return await uow.counters.find()

    @service.rpc
    @service.get("/board")
    async def board(uow: Units) -> Board | None:
        async with uow:
            found = await uow.counters.find()
        return Board(found[0], found[1:]) if found else None

    @service.rpc
    @service.get("/log")
    async def log() -> Log:
        return Log(["started"])

    return service


MEMORY = ["--db-url", "memory://"]


async def test_rest_answers_leave_out_the_events_and_the_version():
    async with atoll.testing.run(counting(), argv=MEMORY) as harness:
        made = await harness.client.post("/counters", params={"name": "a"})
        await harness.client.post("/counters", params={"name": "b"})
        every = await harness.client.get("/counters")
        board = await harness.client.get("/board")
        log = await harness.client.get("/log")
    assert made.status_code == 201
    assert made.json() == {"id": 1, "name": "a", "value": 0}
    assert every.json() == [{"id": 1, "name": "a", "value": 0}, {"id": 2, "name": "b", "value": 0}]
    assert board.json() == {
        "top": {"id": 1, "name": "a", "value": 0},
        "others": [{"id": 2, "name": "b", "value": 0}],
    }
    assert log.json() == {"events": ["started"]}


async def test_json_rpc_answers_leave_them_out_too():
    async with atoll.testing.run(counting(), argv=MEMORY) as harness:
        made = await harness.rpc.methods.make(name="a")
        every = await harness.rpc.methods.every()
    assert made == {"id": 1, "name": "a", "value": 0}
    assert every == [{"id": 1, "name": "a", "value": 0}]


async def test_the_documents_describe_the_answer_as_it_is_shown():
    async with atoll.testing.run(counting(), argv=MEMORY) as harness:
        openapi = (await harness.client.get("/openapi.json")).json()
        openrpc = (
            await harness.client.post(
                "/rpc", json={"jsonrpc": "2.0", "method": "rpc.discover", "id": 1}
            )
        ).json()["result"]
    for document in (openapi["components"]["schemas"], openrpc["components"]["schemas"]):
        assert set(document["Counter"]["properties"]) == {"id", "name", "value"}
        assert set(document["Log"]["properties"]) == {"events"}


def test_a_result_without_an_aggregate_is_shown_as_it_is():
    assert shown(Log).convert is None
    assert shown(list[int]).type == list[int]
    assert shown(Counter | None).convert is not None
