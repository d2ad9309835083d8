"""Every ```` ```python ```` block of docs/ and README.md is run by a test, which this names.

A page that gains its first python block fails here until a test runs it and is named below.
"""

from __future__ import annotations

import pytest

from tests.docs.pages import DOCS, python_blocks

ROOT = DOCS.parent

RUN_BY = {
    "README.md": ["tests/examples/test_hello.py", "tests/examples/test_greeter.py"],
    "docs/how-to/test-services.md": ["tests/docs/test_test_services.py"],
    "docs/how-to/test-with-overrides.md": ["tests/docs/test_howto.py"],
    "docs/reference/asyncapi.md": ["tests/docs/test_reference_asyncapi.py"],
    "docs/reference/brokers.md": ["tests/docs/test_reference_brokers.py"],
    "docs/reference/client.md": ["tests/docs/test_reference_client.py"],
    "docs/reference/configuration.md": ["tests/kernel/test_config.py"],
    "docs/reference/container.md": ["tests/kernel/test_container_reference.py"],
    "docs/reference/db.md": ["tests/docs/test_reference_db.py"],
    "docs/reference/frontends.md": ["tests/docs/test_reference_frontends.py"],
    "docs/reference/graphql.md": ["tests/docs/test_reference_graphql.py"],
    "docs/reference/lifecycle.md": ["tests/kernel/test_lifecycle_reference.py"],
    "docs/reference/observability.md": ["tests/docs/test_reference_observability.py"],
    "docs/reference/persistence.md": ["tests/docs/test_persistence.py"],
    "docs/reference/resilience.md": ["tests/docs/test_reference_resilience.py"],
    "docs/reference/service.md": ["tests/docs/test_reference_service.py"],
    "docs/tutorial/first-service.md": ["tests/docs/test_tutorial.py"],
    "docs/tutorial/http-database-event.md": ["tests/docs/test_tutorial_http_database_event.py"],
}
"""The pages with python blocks, and the tests that run those blocks."""


def test_every_page_with_python_blocks_is_named_with_its_tests():
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    with_blocks = {str(page.relative_to(ROOT)) for page in pages if python_blocks(page)}
    assert with_blocks == set(RUN_BY)


@pytest.mark.parametrize(("page", "tests"), RUN_BY.items())
def test_each_test_named_reads_its_page(page, tests):
    name = page.rsplit("/", 1)[-1]
    for test in tests:
        assert name in (ROOT / test).read_text(), f"{test} does not read {page}"
