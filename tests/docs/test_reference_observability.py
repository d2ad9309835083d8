"""The example of docs/reference/observability.md runs as shown: its test passes."""

from __future__ import annotations

from typing import Any

from tests.docs.pages import REFERENCE, python_blocks

PAGE = REFERENCE / "observability.md"


async def test_the_pages_test_of_traces_passes():
    (block,) = python_blocks(PAGE)
    namespace: dict[str, Any] = {"__name__": "observability_example"}
    exec(compile(block, str(PAGE), "exec"), namespace)  # noqa: S102 - the page's own code
    await namespace["test_a_request_is_traced"]()
