"""The bus's callers: what transports call per request, as cheap as behaving as ``call``."""

import contextlib
from dataclasses import dataclass

import pytest

from atoll.errors import ConfigError
from atoll.kernel.registry import Registry
from atoll.messaging.bus import MessageBus
from atoll.messaging.handlers import Handler, HandlerKind


@dataclass(frozen=True)
class RecordRun:
    user_id: int


@dataclass(frozen=True)
class RunRecorded:
    user_id: int


async def weekly(user_id: int) -> float:
    return 0.0


def noting(log, message, entry):
    async def note(evt: message) -> None:
        log.append(entry(evt))

    return Handler(note, HandlerKind.EVENT, "tally", "runs", message)


def command(function, message=RecordRun):
    return Handler(function, HandlerKind.COMMAND, function.__name__, "runs", message)


def rpc(function):
    return Handler(function, HandlerKind.RPC, function.__name__, "runs")


@contextlib.asynccontextmanager
async def running(*handlers, middleware=()):
    bus = MessageBus(middleware)
    for handler in handlers:
        bus.add(handler)
    registry = Registry()
    bus.register(registry)
    container = registry.build()
    bus.bind(container)
    async with container:
        yield bus


def test_asking_for_a_caller_before_bind_is_refused():
    with pytest.raises(ConfigError, match="cannot call rpc handler 'weekly'"):
        MessageBus().caller(rpc(weekly))


async def test_a_caller_calls_the_handler_as_call_does_directly_or_through_the_bus():
    log = []

    async def history(user_id: int) -> list[RunRecorded]:
        return [RunRecorded(user_id)]

    direct = rpc(history)
    tally = noting(log, RunRecorded, lambda evt: evt)
    async with running(direct, tally) as bus:
        assert await bus.caller(direct)({"user_id": 2}) == [RunRecorded(2)]
    assert log == []  # an RPC's result is data: nothing was raised

    async def watch(call, call_next):
        log.append(call.handler.name)
        return await call_next(call)

    async with running(direct, middleware=[watch]) as bus:
        assert await bus.caller(direct)({"user_id": 3}) == [RunRecorded(3)]
    assert log == ["history"]


async def test_a_caller_of_a_command_goes_through_the_bus_and_raises_its_events():
    log = []

    async def record(cmd: RecordRun) -> RunRecorded:
        return RunRecorded(cmd.user_id)

    handler = command(record)
    async with running(handler, noting(log, RunRecorded, lambda evt: evt)) as bus:
        assert await bus.caller(handler)({"cmd": RecordRun(4)}) == RunRecorded(4)
    assert log == [RunRecorded(4)]
