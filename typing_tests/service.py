# A service declared through the public surface, as a service's code would declare it.
# Type-checked by mypy --strict, never run. Each `type: ignore[code]` marks a line mypy must
# reject: with warn_unused_ignores (part of --strict), mypy fails if the error goes away.
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, assert_type

import atoll
from atoll.endpoints.http.types import ASGIApp
from atoll.messaging.bus import Call, Next


@dataclass(frozen=True)
class RecordRun:
    user_id: int
    meters: float


@dataclass(frozen=True)
class WeeklyDistance:
    user_id: int


@dataclass(frozen=True)
class RunRecorded:
    run_id: int


class Runs:
    def count(self) -> int:
        return 0


class EmailTakenError(Exception):
    pass


service = atoll.Service("runs", version="1.0.0", description="Runs.", env_prefix="RUNS")
assert_type(service.name, str)
atoll.Service("runs", "1.0.0")  # type: ignore[call-arg]


# Every decorator hands back the function it decorates, with its own type: the function stays
# callable (and testable) as the plain function it is.
@service.command(RecordRun)
async def record_run(cmd: RecordRun, runs: Runs, events: atoll.Events) -> int:
    events.add(RunRecorded(runs.count()))
    return cmd.user_id


@service.command(RecordRun, name="log_run", path="/runs", status=201)
def log_run(cmd: RecordRun) -> None: ...


@service.query(WeeklyDistance, path=False)
async def weekly_distance(query: WeeklyDistance, runs: Runs) -> float:
    return float(query.user_id + runs.count())


@service.on(RunRecorded)
async def tally(evt: RunRecorded) -> None: ...


@service.rpc
async def weekly_meters(user_id: int, runs: Runs) -> float:
    return float(user_id + runs.count())


@service.rpc(name="total")
def total_meters(user_id: int) -> float:
    return float(user_id)


@service.get("/runs/{run_id}")
async def get_run(run_id: int, runs: Runs) -> RecordRun:
    return RecordRun(run_id, float(runs.count()))


@service.route("PATCH", "/runs/{run_id}", status=204, name="touch")
async def touch_run(run_id: int) -> None: ...


command_handler: Callable[[RecordRun, Runs, atoll.Events], Awaitable[int]] = record_run
plain_command: Callable[[RecordRun], None] = log_run
query_handler: Callable[[WeeklyDistance, Runs], Awaitable[float]] = weekly_distance
event_handler: Callable[[RunRecorded], Awaitable[None]] = tally
rpc_method: Callable[[int, Runs], Awaitable[float]] = weekly_meters
named_rpc_method: Callable[[int], float] = total_meters
route: Callable[[int, Runs], Awaitable[RecordRun]] = get_run
touch: Callable[[int], Awaitable[None]] = touch_run
wrong_result: Callable[[RecordRun, Runs, atoll.Events], Awaitable[str]] = record_run  # type: ignore[assignment]


async def call_handlers(runs: Runs) -> None:
    assert_type(await record_run(RecordRun(1, 2.0), runs, atoll.Events()), int)
    assert_type(await weekly_meters(user_id=1, runs=runs), float)
    await weekly_meters("1", runs)  # type: ignore[arg-type]


# Message types are classes; a path is a string, or False for no route.
service.command("RecordRun")  # type: ignore[arg-type]
service.command(RecordRun, path=True)  # type: ignore[arg-type]
service.on(RunRecorded(1))  # type: ignore[arg-type]
service.publishes(RunRecorded, RecordRun)
service.publishes(RunRecorded(1))  # type: ignore[arg-type]
service.rpc(name=3)  # type: ignore[call-overload]
service.get("/runs", status="200")  # type: ignore[arg-type]


# Errors callers may see, and middleware around every handler call.
service.error(EmailTakenError, status=409, code=-32010, title="email taken")
service.error("EmailTakenError")  # type: ignore[arg-type]


async def audit(call: Call, call_next: Next) -> Any:
    assert_type(call.arguments, dict[str, Any])
    return await call_next(call)


async def not_middleware(call: Call) -> Any: ...


service.use(audit)
service.use(not_middleware)  # type: ignore[arg-type]


# A system holds services; both run as an App, or as an ASGI app for an outside server.
system = atoll.System(service, atoll.Service("users"), name="runnerly", version="1.0.0")
atoll.System("runs")  # type: ignore[arg-type]
assert_type(system.services, list[atoll.Service])
assert_type(service.__atoll_app__(), atoll.App)
assert_type(system.__atoll_app__(), atoll.App)
assert_type(service.asgi(), ASGIApp)
assert_type(system.asgi(), ASGIApp)
