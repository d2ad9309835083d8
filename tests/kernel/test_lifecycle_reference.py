"""The example of docs/reference/lifecycle.md runs on atoll.kernel.lifecycle and prints as shown."""

import re
import runpy
from pathlib import Path


def test_the_reference_example_prints_what_the_page_says(tmp_path, capsys):
    page = Path(__file__).parents[2] / "docs" / "reference" / "lifecycle.md"
    example = tmp_path / "example.py"
    example.write_text(re.search(r"```python\n(.*?)```", page.read_text(), re.DOTALL)[1])
    runpy.run_path(str(example), run_name="__main__")
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        "connected",
        "listening",
        "done",
        "not listening",
        "disconnected",
        "stopped 0",
    ]
