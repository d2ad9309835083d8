"""The guide to testing services shows a test file that is the file beside it, and passes."""

from __future__ import annotations

import re
from pathlib import Path

pytest_plugins = ["pytester"]

HOWTO = Path(__file__).resolve().parents[2] / "docs" / "how-to"


def test_the_guides_test_file_is_test_runs_example_py():
    page = (HOWTO / "test-services.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)
    assert blocks == [(HOWTO / "test_runs_example.py").read_text()]


def test_the_guides_tests_pass_as_a_project_runs_them(pytester):
    pytester.makeini(
        """
        [pytest]
        asyncio_mode = auto
        asyncio_default_fixture_loop_scope = function
        filterwarnings = error
        """
    )
    pytester.makepyfile(test_runs_example=(HOWTO / "test_runs_example.py").read_text())
    result = pytester.runpytest()
    result.assert_outcomes(passed=6)
