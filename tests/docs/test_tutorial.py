"""The first tutorial page is the whole of tally.py, and its run shows what tally.py logs."""

from __future__ import annotations

import signal
import sys

from tests.docs.pages import DOCS, TUTORIAL, blocks, files_of, session, shown

PAGE = TUTORIAL / "first-service.md"


def test_the_pages_python_blocks_joined_in_order_are_tally_py():
    files = files_of(PAGE.read_text(), default="tally.py")
    assert list(files) == ["tally.py"]
    assert files["tally.py"] == (TUTORIAL / "tally.py").read_text()


def test_tally_run_as_the_page_shows_logs_the_lines_it_shows(spawn):
    (run,) = blocks(PAGE.read_text(), "console")
    _, (command,) = session(run)
    assert command.argv[:2] == ["python", "docs/tutorial/tally.py"]
    before_ctrl_c = command.output.index("^C")
    expected = [*command.output[:before_ctrl_c], *command.output[before_ctrl_c + 1 :]]

    process = spawn(sys.executable, *command.argv[1:], cwd=str(DOCS.parent), terminal=True)
    process.wait_for(command.output[before_ctrl_c - 1].removeprefix("... "))  # count is 7
    process.signal(signal.SIGINT)  # what Ctrl-C sends
    assert process.finish() == 0

    assert [shown(line) for line in process.lines] == [shown(line) for line in expected]
