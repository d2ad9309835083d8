"""``atoll run --reload``: the application restarted, gracefully, when a source file changes."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from watchfiles import Change

import atoll
from atoll.adapters.watchfiles import STOP_WAIT, SourceFilter, described, run_reloading
from atoll.cli import cli
from atoll.cli.run import _watched

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="SIGTERM and process groups are POSIX's"
)

SERVICE = textwrap.dedent(
    """
    import atoll

    service = atoll.Service("hello")


    @service.get("/hello")
    async def hello() -> dict[str, str]:
        return {"answer": "one"}
    """
)


STOPPED = STOP_WAIT + 30
"""Seconds to wait for atoll run --reload to exit once told to: by then it has killed an
application slow to stop, so that giving up on it (a kill) leaves nothing running."""


@pytest.fixture
def project(tmp_path):
    """A directory holding a tiny service, ``hello:service``."""
    (tmp_path / "hello.py").write_text(SERVICE)
    return tmp_path


@pytest.fixture
def reloading(spawn, project):
    """Start ``atoll run --reload hello:service``; at the end, stopped as a user stops it.

    The application runs in a process group of its own, which killing ``atoll run`` would
    leave serving: SIGTERM stops both, the application gracefully; a kill is the last resort.
    """
    started = []

    def start():
        process = spawn(
            sys.executable, "-m", "atoll", "run", "--reload", "hello:service",
            "--server-port", "0", "--log-format", "text",
            cwd=str(project),
        )  # fmt: skip
        started.append(process)
        return process

    yield start
    for process in started:
        if process.popen.poll() is None:
            process.popen.send_signal(signal.SIGTERM)
            try:
                process.popen.wait(timeout=STOPPED)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()


def serving(process) -> str:
    """The URL the application serves on, once it does (a restart picks a new port)."""
    line = process.wait_for("serving on", timeout=60)
    match = re.search(r"serving on (http://[^\s:]+:\d+)", line)
    assert match is not None, line
    return match.group(1)


def answer(url: str) -> str:
    response = httpx.get(f"{url}/hello", timeout=30)
    assert response.status_code == 200
    return response.json()["answer"]


def edit(path: Path, old: str, new: str) -> None:
    """Change ``path`` in place, as an editor saving it does."""
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_a_changed_source_restarts_the_application_after_a_graceful_stop(reloading, project):
    process = reloading()
    assert answer(serving(process)) == "one"
    edit(project / "hello.py", '"one"', '"two"')
    line = process.wait_for("reloading:", timeout=60)
    assert "reloading: hello.py modified" in line
    process.wait_for("hello stopped", timeout=60)  # SIGTERM, and its graceful shutdown
    assert answer(serving(process)) == "two"
    process.signal(signal.SIGTERM)
    assert process.finish(timeout=STOPPED) == 0, process.output
    assert "hello stopped" in process.output.rpartition("serving on")[2]  # gracefully again


def test_an_application_that_fails_is_started_again_at_the_next_change(reloading, project):
    process = reloading()
    serving(process)
    edit(project / "hello.py", "async def hello()", "async def hello(:")  # a syntax error
    process.wait_for("SyntaxError", timeout=60)
    process.wait_for("the application exited with status 1; waiting for a change", timeout=60)
    edit(project / "hello.py", "async def hello(:", "async def hello()")
    assert answer(serving(process)) == "one"
    process.signal(signal.SIGTERM)
    assert process.finish(timeout=STOPPED) == 0, process.output


def test_reload_after_the_target_is_refused_with_where_to_put_it(project, monkeypatch):
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, ["run", "hello:service", "--reload"])
    assert result.exit_code == 2
    assert "put it before the target, as in `atoll run --reload hello:service ...`" in (
        result.output
    )


def test_reload_with_a_question_to_the_application_answers_it_and_exits(project, monkeypatch):
    monkeypatch.chdir(project)
    monkeypatch.syspath_prepend(str(project))
    result = CliRunner().invoke(cli, ["run", "--reload", "hello:service", "--help"])
    sys.modules.pop("hello", None)
    assert result.exit_code == 0
    assert "atoll run hello:service" in result.output
    assert "watching" not in result.output


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("hello", "'hello' is not MODULE:OBJECT"),
        ("no_such_module_here:service", "cannot find the module 'no_such_module_here'"),
    ],
)
def test_reload_of_a_target_that_cannot_be_found_is_a_usage_error(
    project, monkeypatch, target, message
):
    monkeypatch.chdir(project)
    monkeypatch.setattr(sys, "path", [*sys.path])  # the current directory is made importable
    result = CliRunner().invoke(cli, ["run", "--reload", target])
    assert result.exit_code == 2
    assert message in result.output


def test_changes_are_named_relative_to_the_project_and_counted_past_three(tmp_path):
    changes = {(Change.modified, str(tmp_path / "runs" / f"h{n}.py")) for n in range(5)}
    changes.add((Change.deleted, "/elsewhere/old.py"))
    assert described(changes, tmp_path) == (
        "/elsewhere/old.py deleted, runs/h0.py modified, runs/h1.py modified, and 3 more"
    )


@pytest.mark.parametrize(
    ("path", "watched"),
    [
        ("/p/runs/application/handlers.py", True),
        ("/p/settings.toml", True),
        ("/p/README.md", False),
        ("/p/.venv/lib/site.py", False),
        ("/p/runs/__pycache__/handlers.cpython-311.pyc", False),
        ("/p/build/lib/runs/handlers.py", False),
        ("/p/dist/runs/handlers.py", False),
    ],
)
def test_python_and_toml_sources_are_watched_outside_tool_and_build_directories(path, watched):
    assert SourceFilter()(Change.modified, path) is watched


def test_the_current_directory_is_watched_and_the_target_s_package_where_it_lies_outside(
    project, monkeypatch
):
    monkeypatch.chdir(project)
    monkeypatch.setattr(sys, "path", [*sys.path])  # the current directory is made importable
    assert _watched("hello:service") == [project]  # inside the current directory
    package = Path(atoll.__file__).parent
    assert _watched("atoll.cli.run:run") == [project, package]


def test_sighup_stops_the_application_gracefully(reloading):
    process = reloading()
    serving(process)
    process.signal(signal.SIGHUP)  # the terminal closed
    assert process.finish(timeout=STOPPED) == 0, process.output
    assert "hello stopped" in process.output


SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


@pytest.fixture
def children(monkeypatch):
    """The processes started during the test; any left running at its end, killed."""
    started: list[subprocess.Popen[bytes]] = []
    real = subprocess.Popen

    def popen(*args, **kwargs):
        child = real(*args, **kwargs)
        started.append(child)
        return child

    monkeypatch.setattr(subprocess, "Popen", popen)
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_the_application_is_stopped_when_watching_fails(tmp_path, monkeypatch, children):
    def watch(*_paths, **_options):
        raise OSError(28, "OS file watch limit reached")
        yield  # a generator, as watchfiles.watch is

    monkeypatch.setattr("watchfiles.watch", watch)
    with pytest.raises(OSError, match="watch limit"):
        run_reloading(SLEEPER, [tmp_path], echo=lambda _line: None)
    assert len(children) == 1
    assert children[0].poll() is not None  # stopped, not left running in its own group


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_during_a_reload_starts_no_new_application(
    tmp_path, monkeypatch, children, signum
):
    def watch(*_paths, stop_event: threading.Event, **_options):
        signal.raise_signal(signum)
        assert stop_event.wait(timeout=30), "the signal did not stop the reloading"
        yield {(Change.modified, str(tmp_path / "hello.py"))}

    monkeypatch.setattr("watchfiles.watch", watch)
    # A handler of the test's own: without run_reloading's, SIGHUP would end the test run.
    previous = signal.signal(signum, lambda _signum, _frame: None)
    try:
        run_reloading(SLEEPER, [tmp_path], echo=lambda _line: None)
    finally:
        signal.signal(signum, previous)
    assert len(children) == 1
    assert children[0].poll() is not None
