"""``atoll shell``: a prompt inside a running system, where statements may ``await``."""

from __future__ import annotations

import asyncio
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Self

import pytest
from click.testing import CliRunner

from atoll.cli import cli
from atoll.cli.shell import AsyncConsole

HERE = Path(__file__).resolve().parent


def shell(*lines: str, argv: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``atoll shell`` on the club system, the lines typed at its prompt, then end of input."""
    return subprocess.run(
        [sys.executable, "-m", "atoll", "shell", "shell_club:system", *argv],
        input="".join(f"{line}\n" for line in lines),
        capture_output=True,
        text=True,
        cwd=HERE,
        timeout=60,
        check=False,
    )


def test_a_statement_awaits_a_call_to_a_service():
    done = shell('await greeter.methods.hello(name="ada")')
    assert done.returncode == 0, done.stderr
    assert "'hello, ada'" in done.stdout


def test_an_event_published_at_the_prompt_is_consumed_by_its_handler():
    done = shell(
        "from shell_club import Greet, Greeted",
        'await publish(Greeted("bob"))',
        'await send(Greet("cy"))',
        "await ledger.methods.written()",
    )
    assert done.returncode == 0, done.stderr
    assert "'greeted cy'" in done.stdout  # send returns the command's result
    assert "['bob', 'cy']" in done.stdout  # both events reached the ledger's handler


def test_a_call_carries_the_identity_the_prompt_acts_as():
    done = shell(
        "await greeter.methods.whoami()",
        "with acting_as(Identity('user', 'ada')):",
        "    print('as', await greeter.methods.whoami())",
        "",
    )
    assert done.returncode == 0, done.stderr
    assert "'nobody'" in done.stdout
    assert "as ada" in done.stdout


def test_the_banner_lists_what_the_prompt_holds():
    done = shell()
    assert done.returncode == 0, done.stderr
    banner = done.stderr
    assert "club" in banner
    assert "memory://" in banner
    for name in ("greeter, ledger", "clients", "send(", "publish(", "container", "acting_as"):
        assert name in banner


def test_the_container_and_the_clients_are_the_running_systems():
    done = shell(
        "from atoll.messaging.bus import MessageBus",
        "container.get(MessageBus) is bus",
        'clients.get("greeter") is greeter',
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("True") == 2


def test_top_level_await_and_async_definitions_work_as_in_a_coroutine():
    done = shell(
        "async def twice(x):",
        "    await asyncio.sleep(0)",
        "    return 2 * x",
        "",
        "await twice(21)",
        "async with asyncio.timeout(30):",
        "    value = await asyncio.sleep(0, result='inside')",
        "",
        "value",
    )
    assert done.returncode == 0, done.stderr
    assert "42" in done.stdout
    assert "'inside'" in done.stdout


def test_an_error_shows_its_traceback_from_the_statement_and_the_prompt_goes_on():
    done = shell("1 / 0", "'still here'")
    assert done.returncode == 0, done.stderr
    assert 'File "<console>", line 1, in <module>' in done.stderr
    assert "ZeroDivisionError: division by zero" in done.stderr
    assert "concurrent" not in done.stderr  # the frames that ran the statement are hidden
    assert "'still here'" in done.stdout


def test_exit_stops_the_system_gracefully():
    done = shell("exit()", "'never run'", argv=("--log-level", "info", "--log-format", "text"))
    assert done.returncode == 0, done.stderr
    assert "'never run'" not in done.stdout
    assert "club stopped" in done.stderr
    assert "killing" not in done.stderr


def test_no_port_is_opened_unless_asked():
    done = shell(
        "from atoll.endpoints.http.server import ServerOptions",
        "container.get(ServerOptions).enabled",
    )
    assert done.returncode == 0, done.stderr
    assert "False" in done.stdout


def test_the_system_serves_http_too_when_asked():
    done = shell(
        "from atoll.endpoints.http.server import ServerOptions",
        "container.get(ServerOptions).enabled",
        argv=("--server", "--server-port", "0", "--log-level", "info", "--log-format", "text"),
    )
    assert done.returncode == 0, done.stderr
    assert "True" in done.stdout
    assert "serving on http://127.0.0.1:" in done.stderr


def test_sigterm_at_the_prompt_stops_the_system_gracefully():
    command = [
        sys.executable, "-m", "atoll", "shell", "shell_club:system",
        "--log-level", "info", "--log-format", "text",
    ]  # fmt: skip
    lines: queue.Queue[str | None] = queue.Queue()
    seen: list[str] = []
    with subprocess.Popen(
        command, cwd=HERE, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip

        def read() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        try:
            while not any("Ctrl-D" in line for line in seen):  # the banner's end: prompting
                line = lines.get(timeout=60)
                assert line is not None, "".join(seen)
                seen.append(line)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0, "".join(seen)
        finally:
            if process.poll() is None:
                process.kill()
        while (line := lines.get(timeout=60)) is not None:
            seen.append(line)
    output = "".join(seen)
    assert "club stopped" in output
    assert "killing" not in output


def test_a_bad_target_is_a_usage_error_naming_it(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    result = CliRunner().invoke(cli, ["shell", "shell_club:nosuch"])
    assert result.exit_code == 2
    assert "'shell_club' has no attribute 'nosuch'" in result.output


def test_a_module_not_found_is_a_usage_error_saying_where_to_run_from():
    result = CliRunner().invoke(cli, ["shell", "no_such_module_here:system"])
    assert result.exit_code == 2
    assert "cannot import 'no_such_module_here'" in result.output
    assert "run from the directory that holds it" in result.output


def test_a_target_that_is_no_service_is_a_usage_error_saying_what_is_wanted(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    result = CliRunner().invoke(cli, ["shell", "shell_club:entries"])
    assert result.exit_code == 2
    assert "atoll shell opens a prompt in an atoll.Service" in result.output


def test_a_bad_option_of_the_application_is_a_configuration_error(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    result = CliRunner().invoke(cli, ["shell", "shell_club:system", "--bogus"])
    assert result.exit_code == 2
    assert "unknown flag --bogus" in result.output


def test_the_application_help_is_shown_with_the_shell_as_its_program(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    result = CliRunner().invoke(cli, ["shell", "shell_club:system", "--help"])
    assert result.exit_code == 0
    assert "atoll shell shell_club:system" in result.output
    assert "--broker-url" in result.output


class Loop:
    """An event loop running in a thread of its own, as the shell runs the application's."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="the loop")

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)


def scripted(console: AsyncConsole, lines: list[str]) -> list[str]:
    """Run ``lines`` at ``console``'s prompt; what it wrote (errors, notices)."""
    typed = iter(lines)
    written: list[str] = []

    def raw_input(prompt: str = "") -> str:
        del prompt
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    console.raw_input = raw_input  # type: ignore[method-assign]
    console.write = written.append  # type: ignore[method-assign]
    console.interact(banner="", exitmsg="")
    return written


def test_the_console_runs_each_statement_on_the_loop_given():
    namespace: dict[str, object] = {"threading": threading}
    with Loop() as loop:
        scripted(
            AsyncConsole(namespace, loop.run),
            [
                "import asyncio",
                "where = threading.current_thread().name",
                "running = asyncio.get_running_loop()",
                "got = await asyncio.sleep(0, result=7)",
            ],
        )
        assert namespace["where"] == "the loop"
        assert namespace["running"] is loop.loop
        assert namespace["got"] == 7


def test_the_console_leaves_on_system_exit_and_the_loop_lives_on():
    namespace: dict[str, object] = {}
    with Loop() as loop:
        with pytest.raises(SystemExit):
            scripted(AsyncConsole(namespace, loop.run), ["raise SystemExit(3)", "after = 1"])
        assert "after" not in namespace
        assert loop.run(asyncio.sleep(0, result="alive")).result(timeout=30) == "alive"
