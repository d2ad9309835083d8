"""``atoll shell``: a prompt inside a running system, where statements may ``await``."""

from __future__ import annotations

import asyncio
import contextlib
import io
import queue
import signal
import subprocess
import sys
import threading
import types
from pathlib import Path
from typing import Self

import pytest
from click.testing import CliRunner

from atoll.cli import cli
from atoll.cli.shell import AsyncConsole, _prompt

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


def test_print_config_shows_the_configuration_the_shell_would_start_with(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    result = CliRunner().invoke(cli, ["shell", "shell_club:system", "--print-config"])
    assert result.exit_code == 0, result.output
    assert "memory://" in result.output
    assert "log.level" in result.output


def test_an_application_that_fails_to_start_exits_1_saying_why():
    done = shell("'never run'", argv=("--metrics",))  # /metrics, with no port to serve it on
    assert done.returncode == 1
    assert "atoll shell: club failed to start: --metrics serves /metrics" in done.stderr
    assert "'never run'" not in done.stdout


class Prompt:
    """``atoll shell`` on the club system, typed at line by line; what it writes, read."""

    def __init__(self, *argv: str) -> None:
        command = [sys.executable, "-m", "atoll", "shell", "shell_club:system", *argv]
        self.process = subprocess.Popen(
            command, cwd=HERE, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, bufsize=1,
        )  # fmt: skip
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        for stream in (self.process.stdout, self.process.stderr):
            threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str) -> None:
        """Until a line holding ``text`` is written (a minute at most)."""
        while not any(text in line for line in self.seen):
            line = self.lines.get(timeout=60)
            assert line is not None, "".join(self.seen)
            self.seen.append(line)

    def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{line}\n")
        self.process.stdin.flush()

    def close(self) -> None:
        """End the input and wait a minute for the shell to leave; kill it if it has not."""
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # a shell that has already gone
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def finish(self) -> str:
        """End the input; the exit status is checked, and everything written returned."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            assert self.process.wait(timeout=60) == 0, "".join(self.seen)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        ended = 0
        while ended < 2:  # both streams
            line = self.lines.get(timeout=60)
            if line is None:
                ended += 1
            else:
                self.seen.append(line)
        for stream in (self.process.stdout, self.process.stderr):
            assert stream is not None
            stream.close()
        return "".join(self.seen)


@pytest.fixture
def open_prompt():
    """Start ``atoll shell`` at a prompt; at the end, its input closed, and killed if it stays."""
    opened: list[Prompt] = []

    def start(*argv: str) -> Prompt:
        prompt = Prompt(*argv)
        opened.append(prompt)
        return prompt

    yield start
    for prompt in opened:
        prompt.close()


def test_ctrl_c_cancels_the_statement_awaited_and_the_prompt_goes_on(open_prompt):
    prompt = open_prompt()
    prompt.type("print('waiting', flush=True); await asyncio.Event().wait()")
    prompt.wait_for("waiting")
    prompt.process.send_signal(signal.SIGINT)
    prompt.wait_for("KeyboardInterrupt")
    prompt.type("'after'")
    prompt.wait_for("'after'")
    prompt.finish()


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


def test_help_says_what_the_shell_does():
    result = CliRunner().invoke(cli, ["shell", "--help"])
    assert result.exit_code == 0
    assert "Usage: cli shell [OPTIONS] MODULE:OBJECT" in result.output
    assert "--plain" in result.output


def test_a_module_not_found_is_a_usage_error_saying_where_to_run_from(monkeypatch):
    monkeypatch.setattr(sys, "path", [*sys.path])  # the current directory is made importable
    result = CliRunner().invoke(cli, ["shell", "no_such_module_here:system"])
    assert result.exit_code == 2
    assert "cannot import 'no_such_module_here'" in result.output
    assert "run from the directory that holds it" in result.output


def test_a_target_that_is_no_service_is_a_usage_error_saying_what_is_wanted(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    result = CliRunner().invoke(cli, ["shell", "shell_club:entries"])
    assert result.exit_code == 2
    assert "atoll shell starts, and opens a prompt in, the application of an atoll.Service" in (
        result.output
    )


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


def test_a_keyboard_interrupt_raised_by_a_statement_is_shown_as_one():
    with Loop() as loop:
        written = scripted(AsyncConsole({}, loop.run), ["raise KeyboardInterrupt", "x = 1"])
    assert written[0] == "\nKeyboardInterrupt\n"
    assert "".join(written).count("KeyboardInterrupt") == 1  # and the prompt went on


class FakeIPython:
    """What the shell uses of IPython and traitlets, recording how it was started."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.started: dict[str, object] = {}

    def start_ipython(self, *, argv, user_ns, config):
        self.started = {"argv": argv, "namespace": user_ns, "config": config}
        runner = config.InteractiveShell.loop_runner
        for line in self.lines:  # IPython runs a cell that awaits through its loop runner
            user_ns[line] = runner(eval(line, user_ns))  # noqa: S307 - the test's own lines


class Settings:
    """traitlets' Config: sections made on first use."""

    def __getattr__(self, name: str) -> Settings:
        made = Settings()
        setattr(self, name, made)
        return made


def test_ipython_is_the_prompt_when_installed_and_awaits_on_the_application_loop(monkeypatch):
    fake = FakeIPython(["where()"])
    monkeypatch.setitem(sys.modules, "IPython", fake)
    monkeypatch.setitem(sys.modules, "traitlets.config", types.SimpleNamespace(Config=Settings))

    async def where() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    namespace: dict[str, object] = {"where": where}
    with Loop() as loop:
        _prompt(namespace, "the banner", loop.run, plain=False)
    assert fake.started["argv"] == []
    assert fake.started["namespace"] is namespace
    assert namespace[fake.lines[0]] is loop.loop  # the awaits ran on the application's loop
    config = fake.started["config"]
    assert config.TerminalInteractiveShell.banner2.startswith("the banner")
    assert config.InteractiveShell.autoawait is True


def test_plain_asks_for_python_s_prompt_even_with_ipython_installed(monkeypatch):
    fake = FakeIPython([])
    monkeypatch.setitem(sys.modules, "IPython", fake)
    monkeypatch.setattr("sys.stdin", io.StringIO("answer = 42\n"))
    namespace: dict[str, object] = {}
    with Loop() as loop:
        _prompt(namespace, "", loop.run, plain=True)
    assert fake.started == {}
    assert namespace["answer"] == 42


def test_an_exit_with_a_message_while_configuring_is_status_2_as_for_atoll_run(monkeypatch):
    def load_config(*_arguments, **_options):
        raise SystemExit("the configuration asked to stop")

    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setattr("atoll.kernel.entrypoint.load_config", load_config)
    assert CliRunner().invoke(cli, ["shell", "shell_club:system"]).exit_code == 2
    assert CliRunner().invoke(cli, ["run", "shell_club:system"]).exit_code == 2
