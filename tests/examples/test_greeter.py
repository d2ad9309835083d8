"""The README's example runs as it says, as a real process."""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GREETER = ROOT / "examples" / "greeter.py"


def test_the_readme_shows_the_example_file_as_it_is():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert GREETER.read_text() in blocks


def test_greeter_greets_with_flag_and_env_options_then_stops_on_sigterm(spawn):
    process = spawn(
        sys.executable,
        str(GREETER),
        "--greeting-every",
        "0.05",
        env={"GREETER_GREETING_TEXT": "hi there"},
    )
    process.wait_for("greeter ready")
    process.wait_for("hi there")
    process.wait_for("hi there")
    process.signal(signal.SIGTERM)
    assert process.finish() == 0
    assert "greeter stopped" in process.output


def test_greeter_help_lists_each_option_with_type_default_and_env(spawn):
    # argparse wraps help to COLUMNS, and cuts words longer than a line; joined back, each
    # option reads on one line.
    process = spawn(sys.executable, str(GREETER), "--help", env={"COLUMNS": "100"})
    assert process.finish() == 0
    shown = " ".join(process.output.split())
    assert (
        '--greeting-text STR what to say [str; default: "hello"; env: GREETER_GREETING_TEXT]'
        in shown
    )
    assert (
        "--greeting-every FLOAT seconds between greetings "
        "[float; default: 1.0; env: GREETER_GREETING_EVERY]" in shown
    )


def test_greeter_refuses_a_bad_value_with_status_2(spawn):
    process = spawn(sys.executable, str(GREETER), "--greeting-every", "soon")
    assert process.finish() == 2
    assert "greeting.every" in process.output
    assert "soon" in process.output
