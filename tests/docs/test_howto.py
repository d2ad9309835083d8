"""The how-to guides' code runs as shown."""

from __future__ import annotations

import asyncio
import inspect
import re
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def tutorial_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(DOCS / "tutorial"))
    yield
    sys.modules.pop("tally", None)


@pytest.mark.usefixtures("tutorial_on_path")
def test_the_override_guide_tests_pass():
    page = (DOCS / "how-to" / "test-with-overrides.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)
    namespace: dict[str, object] = {"__name__": "guide"}
    exec(compile(block, "test-with-overrides.md", "exec"), namespace)  # noqa: S102 - our own docs
    tests = [value for name, value in namespace.items() if name.startswith("test_")]
    assert len(tests) == 2
    for test in tests:
        if inspect.iscoroutinefunction(test):
            asyncio.run(test())
        else:
            test()
