"""The example of docs/reference/graphql.md runs, and answers and states what the page says."""

from __future__ import annotations

import re
from typing import Any

import pytest

from atoll.cli.routes import describe_routes
from atoll.endpoints.graphql.http import GraphQLServing
from atoll.service.composition import compose_target
from atoll.testing import run
from tests.docs.pages import REFERENCE, blocks, python_blocks

PAGE = REFERENCE / "graphql.md"


@pytest.fixture
def service() -> Any:
    (block,) = python_blocks(PAGE)
    namespace: dict[str, Any] = {"__name__": "graphql_page"}
    exec(compile(block, "graphql.md", "exec", dont_inherit=True), namespace)  # noqa: S102 - the page's own
    return namespace["service"]


def text_blocks() -> list[str]:
    return blocks(PAGE.read_text(encoding="utf-8"), "text")


async def test_the_documents_answer_as_the_page_says(service):
    mutation, query = text_blocks()[0].strip().splitlines()
    async with run(service) as harness:
        recorded = await harness.client.post("/graphql", json={"query": mutation})
        read = await harness.client.post("/graphql", json={"query": query})
        sdl = harness.container.get(GraphQLServing).endpoint.engine.sdl
    assert recorded.json() == {"data": {"recordRun": {"id": 1}}}
    assert read.json() == {"data": {"getRun": {"meters": 5000.0, "note": "windy"}}}
    assert sdl == text_blocks()[1].strip()


def test_atoll_routes_lists_the_fields_as_the_page_shows(service):
    listed = describe_routes(compose_target(service, serve=False), [service])
    shown = text_blocks()[-1].strip()
    assert listed.endswith(shown)


def test_every_option_the_page_names_exists(service):
    from atoll.endpoints.graphql.options import GraphQLOptions  # noqa: PLC0415 - the tests' own

    page = PAGE.read_text(encoding="utf-8")
    named = set(re.findall(r"`--(?:no-)?graphql-([a-z-]+)`", page))
    fields = {name.replace("_", "-") for name in GraphQLOptions.__dataclass_fields__}
    assert named == fields
