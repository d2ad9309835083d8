"""The café tutorial page is the whole cafe package, and the café answers and logs as it shows."""

from __future__ import annotations

import os
import signal
import sys

import httpx

from tests.docs.pages import (
    TUTORIAL,
    blocks,
    files_of,
    free_port,
    request_of,
    session,
    shown,
    waitable,
)

PAGE = TUTORIAL / "http-database-event.md"


def test_the_pages_python_blocks_are_the_cafe_package_file_by_file():
    on_disk = {
        str(path.relative_to(TUTORIAL)): path.read_text()
        for path in sorted((TUTORIAL / "cafe").glob("*.py"))
    }
    assert files_of(PAGE.read_text()) == on_disk


def test_the_cafe_run_as_the_page_shows_answers_and_logs_what_it_shows(spawn, tmp_path):
    start, requests, later = blocks(PAGE.read_text(), "console")
    _, (cd, run) = session(start)
    assert cd.argv == ["cd", "docs/tutorial"]
    assert run.argv == ["python", "-m", "cafe"]
    _, curls = session(requests)
    continued, _ = session(later)
    ctrl_c = continued.index("^C")

    # The page's command, from a directory of the test's own so that data/orders.db is made
    # there, with the tutorial's directory on the path as `cd docs/tutorial` puts it, and a
    # free port where the page has 8000.
    port = free_port()
    path = os.pathsep.join([str(TUTORIAL), os.environ.get("PYTHONPATH", "")])
    process = spawn(
        sys.executable,
        *run.argv[1:],
        cwd=str(tmp_path),
        env={"PYTHONPATH": path, "CAFE_SERVER_PORT": str(port)},
        terminal=True,  # as the page's reader runs it: its lines are text
    )
    process.wait_for(waitable(run.output[-1]))  # cafe ready in ...

    with httpx.Client(timeout=10) as http:
        answers = [http.send(request_of(curl.argv, port)) for curl in curls]
    # The statuses the page's text gives: 201 Created, 200 OK, 404 Not Found.
    assert [answer.status_code for answer in answers] == [201, 200, 404]
    assert [[answer.text] for answer in answers] == [curl.output for curl in curls]

    process.wait_for(waitable(continued[ctrl_c - 1]))  # the kitchen's line
    process.signal(signal.SIGINT)
    assert process.finish() == 0
    logged = [shown(line).replace(f"127.0.0.1:{port}", "127.0.0.1:8000") for line in process.lines]
    expected = [*run.output, *continued[:ctrl_c], *continued[ctrl_c + 1 :]]
    assert logged == [shown(line) for line in expected]
    assert (tmp_path / "data" / "orders.db").is_file()
