"""The example of docs/reference/asyncapi.md runs, and its document says what the page does.

The page's one block is a whole module: the test runs it, then makes the service's document
on NATS, as the page's tables describe it, and on ``memory://``, as the page says of the
default broker; and it checks what ``atoll asyncapi`` and the page's links promise.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from atoll.endpoints.asyncapi import asyncapi_document
from atoll.messaging.options import BrokerOptions
from tests.docs.pages import DOCS, REFERENCE, python_blocks
from tests.endpoints.asyncapi_checks import check

PAGE = REFERENCE / "asyncapi.md"


@pytest.fixture(scope="module")
def service() -> Any:
    (block,) = python_blocks(PAGE)
    namespace: dict[str, Any] = {"__name__": "asyncapi_page"}
    code = compile(block, "asyncapi.md", "exec", dont_inherit=True)  # as a module of its own
    exec(code, namespace)  # noqa: S102 - the page's own example
    return namespace["service"]


def document(service, url: str) -> dict:
    return check(asyncapi_document(service.api(), BrokerOptions(url=url)))


def test_the_example_s_operations_are_those_the_table_names(service):
    made = document(service, "nats://127.0.0.1:4222")
    operations = made["operations"]
    assert {name: op["action"] for name, op in operations.items()} == {
        "runs.record_run": "receive",
        "runs.open_log": "receive",
        "runs.publish.runs.RunRecorded": "send",
        "runs.rpc": "receive",
    }
    assert operations["runs.record_run"]["summary"] == (
        "Record a run; RunRecorded goes out through the outbox."
    )
    channels = made["channels"]
    assert channels["send.runs"]["address"] == "atoll.send.runs"
    assert channels["event.users.UserRegistered"]["address"] == "atoll.event.users.UserRegistered"
    assert channels["rpc.runs"]["address"] == "atoll.rpc.runs"
    assert channels["rpc.runs.reply"]["address"] is None
    message = made["components"]["messages"]["runs.RecordRun"]
    assert message["headers"] == {"$ref": "#/components/schemas/envelope-headers"}
    schema = made["components"]["schemas"]["RecordRun"]
    assert schema["properties"]["started_at"] == {"type": "string", "format": "date-time"}


@pytest.mark.parametrize(
    ("url", "addresses"),
    [
        (
            "amqp://guest:guest@127.0.0.1:5672/",
            {"send.runs": "runs", "event.runs.RunRecorded": "runs.RunRecorded"},
        ),
        (
            "redis://127.0.0.1:6379/0",
            {"send.runs": "atoll:send:runs", "rpc.runs.reply": "atoll:reply:{requester}"},
        ),
    ],
)
def test_the_addresses_are_those_of_the_page_s_table(service, url, addresses):
    channels = document(service, url)["channels"]
    assert {name: channels[name]["address"] for name in addresses} == addresses


def test_on_memory_there_is_no_server_no_address_and_no_broker_rpc(service):
    made = document(service, "memory://")
    assert "servers" not in made
    assert {channel["address"] for channel in made["channels"].values()} == {None}
    assert "runs.rpc" not in made["operations"]


def test_the_page_is_linked_from_the_pages_that_name_it():
    link = re.compile(r"\]\((?:reference/)?asyncapi\.md\)")
    for page in ("README.md", "reference/cli.md", "reference/http.md", "reference/service.md"):
        assert link.search((DOCS / page).read_text()), page
