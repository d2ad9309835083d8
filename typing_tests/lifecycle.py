# The lifecycle's public types, used as an application would use them.
# Type-checked by mypy --strict, never run; each "type: ignore" marks a mistake that must be caught.
from typing import assert_type

from atoll.kernel.inflight import InFlight
from atoll.kernel.lifecycle import BackgroundTask, Component, Killable, Lifecycle, State, Unit


class Database:
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def kill(self) -> None: ...


class Clock:
    async def start(self) -> None: ...


async def relay() -> None: ...


def blocking_relay() -> None: ...


async def application() -> None:
    database = Database()
    component: Component = database
    killable: Killable = database
    db = Unit("db", component)
    assert_type(db.needs, frozenset[str])
    Unit("killable", killable)  # type: ignore[arg-type]
    server = Unit("server", database, needs=frozenset({"db"}))
    Unit("clock", Clock())  # type: ignore[arg-type]
    Unit("clock", database, needs="db")  # type: ignore[arg-type]

    task = BackgroundTask("relay", relay)
    BackgroundTask("relay", blocking_relay)  # type: ignore[arg-type]

    lifecycle = Lifecycle("runs", grace=10.0)
    assert_type(lifecycle.state, State)
    assert_type(lifecycle.exit_code, int | None)
    assert_type(await lifecycle.run([db, server], [task]), int)
    await lifecycle.start([db, server])
    assert_type(await lifecycle.stop(), int)
    async with lifecycle.running((db, server), (task,)) as running:
        assert_type(running, Lifecycle)
    assert_type(await lifecycle.wait_state(State.READY), State)
    await lifecycle.wait_ready()
    lifecycle.request_stop()
    lifecycle.request_stop(3)
    lifecycle.request_stop(143, force=True)

    gate = lifecycle.inflight
    assert_type(gate, InFlight)
    with gate.track():
        assert_type(gate.count, int)
    async with gate.track():
        assert_type(gate.closed, bool)
    assert_type(await gate.wait_idle(), bool)
    assert_type(await gate.wait_idle(1.5), bool)
    gate.close()
