"""The examples of docs/reference/frontends.md run, and do what the page says of them."""

from __future__ import annotations

from typing import Any

import pytest

from atoll.frontends.component import Component
from atoll.frontends.lint import lint_source
from runnerly.runs.ui import RecordRunForm, RunList
from tests.docs.pages import REFERENCE, python_blocks

PAGE = REFERENCE / "frontends.md"


def run(block: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "frontends_page"}
    exec(compile(block, "frontends.md", "exec", dont_inherit=True), namespace)  # noqa: S102 - the page's own example
    return namespace


@pytest.fixture(scope="module")
def blocks() -> list[str]:
    return python_blocks(PAGE)


def test_the_page_has_the_four_examples_this_runs(blocks):
    assert len(blocks) == 4


def test_a_service_ships_runnerlys_run_components(blocks):
    service = run(blocks[0])["service"]
    assert service.frontend.components == [RecordRunForm, RunList]
    assert ("/ui/runs", service.frontend) in service.mounts


def test_a_component_calls_through_the_typed_client_in_the_python_transcrypt_takes(blocks):
    form = run(blocks[1])["RecordRunForm"]
    assert issubclass(form, Component)
    assert lint_source(blocks[1]) == []


def test_the_shell_shows_three_services_at_the_root(blocks):
    gateway = run(blocks[2])["gateway"]
    shell = gateway.shell_page
    assert [slot.tag for slot in shell.slots] == [
        "users-profile-card",
        "runs-run-list",
        "stats-weekly-chart",
    ]
    assert ("/", shell) in gateway.pages


def test_the_offline_assets_keep_the_page_and_its_files(blocks):
    offline = run(blocks[3])["offline"]
    assert "/sw.js" in offline.paths
