"""The tutorial's code is the file beside it, and it runs as the page says."""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_code_block_of_the_tutorial_is_in_tally_py():
    page = (DOCS / "tutorial" / "first-service.md").read_text()
    source = (DOCS / "tutorial" / "tally.py").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)
    assert blocks
    for block in blocks:
        assert block in source, block


def test_tally_runs_counts_and_stops_as_the_tutorial_shows(spawn):
    process = spawn(
        sys.executable,
        str(DOCS / "tutorial" / "tally.py"),
        "--tally-start",
        "5",
        "--tally-every",
        "0.05",
    )
    process.wait_for("store opened at 5")
    process.wait_for("tally ready in")
    process.wait_for("count is 7")
    process.signal(signal.SIGINT)
    assert process.finish() == 0
    assert "received SIGINT: stopping within 10s (send again to force)" in process.output
    assert re.search(r"store closed at \d+", process.output)
    assert "tally stopped" in process.output
