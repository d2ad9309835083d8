"""How run() of atoll.kernel.lifecycle answers SIGTERM and SIGINT, in-process and in a process."""

import asyncio
import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from atoll.kernel.lifecycle import Lifecycle, State
from tests.kernel.lifecycle_doubles import (
    LIMIT,
    KillablePart,
    Part,
    messages,
    stopper,
    unit,
    within,
)

pytestmark = pytest.mark.usefixtures("lifecycle_logs")


SCRIPT = Path(__file__).with_name("lifecycle_app.py")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_first_signal_stops_gracefully_with_exit_code_0(signum, caplog):
    journal = []
    lifecycle = Lifecycle("app")
    running = asyncio.create_task(lifecycle.run([unit(Part("db", journal))]))
    await within(lifecycle.wait_ready())
    os.kill(os.getpid(), signum)
    assert await within(running) == 0
    assert journal[-1] == "stopped db"
    assert f"received {signum.name}: stopping within 10s (send again to force)" in messages(caplog)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
async def test_a_second_signal_forces_the_stop_with_128_plus_its_number(signum, code, caplog):
    journal = []
    db, server = KillablePart("db", journal), KillablePart("server", journal)
    server.hold_stop = asyncio.Event()  # never set
    lifecycle = Lifecycle("app")
    running = asyncio.create_task(lifecycle.run([unit(db), unit(server, "db")]))
    await within(lifecycle.wait_ready())
    os.kill(os.getpid(), signum)
    await within(server.stopping.wait())
    os.kill(os.getpid(), signum)
    assert await within(running) == code
    assert [entry for entry in journal if entry.startswith("kill")] == ["kill server", "kill db"]
    assert f"received {signum.name} while stopping: killing what has not stopped" in messages(
        caplog
    )


async def test_a_signal_while_starting_stops_without_starting_the_rest():
    journal = []
    db, server = Part("db", journal), Part("server", journal)
    db.hold_start = asyncio.Event()
    lifecycle = Lifecycle("app")
    running = asyncio.create_task(lifecycle.run([unit(db), unit(server, "db")]))
    await within(db.starting.wait())
    os.kill(os.getpid(), signal.SIGTERM)
    await within(lifecycle.wait_state(State.STOPPING))
    db.hold_start.set()
    assert await within(running) == 0
    assert journal == ["start db", "started db", "stop db", "stopped db"]


async def test_sigterm_drains_before_the_stop_and_a_second_one_forces_it(caplog):
    journal = []
    db = KillablePart("db", journal)
    db.hold_stop = asyncio.Event()  # never set: only a kill ends its stop
    lifecycle = Lifecycle("app", drain=LIMIT * 10)  # longer than any wait here
    running = asyncio.create_task(lifecycle.run([unit(db)]))
    await within(lifecycle.wait_ready())
    os.kill(os.getpid(), signal.SIGTERM)
    await within(lifecycle.wait_state(State.STOPPING))
    assert not lifecycle.inflight.closed
    assert journal == ["start db", "started db"]
    drains = "received SIGTERM: draining for 100s, then stopping within 10s (send again to force)"
    assert drains in messages(caplog)
    os.kill(os.getpid(), signal.SIGTERM)
    assert await within(running) == 143
    assert "kill db" in journal


async def test_sigint_stops_at_once_whatever_the_drain():
    journal = []
    lifecycle = Lifecycle("app", drain=LIMIT * 10)
    running = asyncio.create_task(lifecycle.run([unit(Part("db", journal))]))
    await within(lifecycle.wait_ready())
    os.kill(os.getpid(), signal.SIGINT)
    assert await within(running) == 0
    assert journal[-1] == "stopped db"


async def test_sigterm_stops_cleanly_once_the_drain_is_over(caplog):
    journal = []
    lifecycle = Lifecycle("app", drain=0.01)
    running = asyncio.create_task(lifecycle.run([unit(Part("db", journal))]))
    await within(lifecycle.wait_ready())
    os.kill(os.getpid(), signal.SIGTERM)
    assert await within(running) == 0
    assert journal[-1] == "stopped db"
    logged = messages(caplog)
    assert logged.index("app is draining for 0.01s: not ready, still serving") < logged.index(
        "stopping app"
    )


async def test_run_puts_back_the_signal_handlers_it_replaced():
    def handler(signum, frame):
        pass

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        sigint = signal.getsignal(signal.SIGINT)
        lifecycle = Lifecycle("app")
        assert await within(lifecycle.run([], [stopper(lifecycle)])) == 0
        assert signal.getsignal(signal.SIGTERM) is handler
        assert signal.getsignal(signal.SIGINT) is sigint
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_run_off_the_main_thread_leaves_signals_alone():
    results = []
    lifecycle = Lifecycle("app")

    def main():
        results.append(asyncio.run(lifecycle.run([unit(Part("db", []))], [stopper(lifecycle)])))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=main)
    thread.start()
    thread.join(LIMIT)
    assert results == [0]
    assert signal.getsignal(signal.SIGTERM) is before


async def test_run_goes_on_without_signals_where_the_loop_cannot_handle_them(monkeypatch):
    def unsupported(*args):
        raise NotImplementedError

    monkeypatch.setattr(asyncio.get_running_loop(), "add_signal_handler", unsupported)
    lifecycle = Lifecycle("app")
    assert await within(lifecycle.run([], [stopper(lifecycle, 3)])) == 3


def printed(process):
    """What the application wrote itself, without the lifecycle's log lines."""
    return [line for line in process.lines if "atoll.lifecycle" not in line]


@pytest.mark.slow
def test_a_real_process_stops_on_sigterm_with_exit_code_0(spawn):
    process = spawn(sys.executable, str(SCRIPT))
    process.wait_for("app is ready")
    process.signal(signal.SIGTERM)
    assert process.finish() == 0
    assert "received SIGTERM: stopping within 30s (send again to force)" in process.output
    assert printed(process)[-4:] == [
        "stopping server",
        "stopped server",
        "stopping db",
        "stopped db",
    ]


@pytest.mark.slow
def test_a_real_process_forced_by_a_second_signal_exits_with_130(spawn):
    process = spawn(sys.executable, str(SCRIPT), "--hang-on-stop")
    process.wait_for("app is ready")
    process.signal(signal.SIGTERM)
    process.wait_for("stopping server")
    process.signal(signal.SIGINT)
    assert process.finish() == 130
    assert "killing unit 'server': the stop was forced" in process.output
    assert printed(process)[-2:] == ["killed server", "killed db"]
