"""Runnerly's messages in AsyncAPI 3.0 documents: each service's, the system's at /asyncapi.json.

Each service alone, as the fleet runs it on a broker, and the system on embedded defaults,
whose HTTP server serves its document; each document valid against the official AsyncAPI 3.0
JSON Schema, and saying what the services really send and take.
"""

from __future__ import annotations

import pytest

import atoll.testing
from atoll.endpoints.asyncapi import asyncapi_document
from atoll.messaging.options import BrokerOptions
from runnerly.app import NAMES, service, system
from tests.endpoints.asyncapi_checks import check, resolve
from tests.examples.test_runnerly import MEMORY

NATS = "nats://127.0.0.1:4222"
RUNS_EVENTS = ("runs.RunRecorded", "runs.RunChanged", "runs.RunDeleted")


def document_of(name: str, url: str = NATS) -> dict:
    return check(asyncapi_document(service(name).api(), BrokerOptions(url=url)))


def payload(document: dict, message: str) -> dict:
    return resolve(document, document["components"]["messages"][message]["payload"]["$ref"])


@pytest.mark.parametrize(
    "url", [NATS, "amqp://guest:guest@127.0.0.1:5672/", "redis://127.0.0.1:6379/0", "memory://"]
)
@pytest.mark.parametrize("name", NAMES)
def test_each_service_s_document_is_valid_on_each_broker(name, url):
    assert document_of(name, url)["info"]["title"] == name


def test_users_takes_its_commands_on_its_queue_and_publishes_user_registered():
    document = document_of("users")
    register = document["operations"]["users.register_user"]
    assert register["action"] == "receive"
    assert document["channels"]["send.users"]["address"] == "atoll.send.users"
    assert set(document["channels"]["send.users"]["messages"]) == {
        "users.RegisterUser",
        "users.LogIn",
        "users.RefreshSession",
        "users.LogOut",
    }
    assert payload(document, "users.RegisterUser")["required"] == ["email", "name", "password"]
    published = document["operations"]["users.publish.users.UserRegistered"]
    assert published["action"] == "send"
    assert document["channels"]["event.users.UserRegistered"]["address"] == (
        "atoll.event.users.UserRegistered"
    )
    assert payload(document, "users.UserRegistered")["properties"] == {
        "user_id": {"type": "integer"},
        "name": {"type": "string"},
    }


def test_runs_takes_record_run_and_publishes_what_a_run_raises():
    document = document_of("runs")
    assert document["operations"]["runs.record_run"]["channel"] == {"$ref": "#/channels/send.runs"}
    recorded = payload(document, "runs.RecordRun")
    assert recorded["properties"]["started_at"] == {"type": "string", "format": "date-time"}
    sent = {
        operation["channel"]["$ref"].rpartition("/event.")[2]
        for operation in document["operations"].values()
        if operation["action"] == "send"
    }
    assert sent == set(RUNS_EVENTS)
    call = document["components"]["messages"]["runs.rpc-request"]["payload"]["anyOf"][0]
    assert "weekly_meters" in call["properties"]["method"]["enum"]


def test_stats_consumes_the_runs_events_from_their_topics():
    document = document_of("stats")
    received = {
        name: operation["channel"]["$ref"]
        for name, operation in document["operations"].items()
        if operation["action"] == "receive" and name != "stats.rpc"
    }
    assert received == {
        "stats.count_run": "#/channels/event.runs.RunRecorded",
        "stats.count_run_changed": "#/channels/event.runs.RunChanged",
        "stats.count_run_deleted": "#/channels/event.runs.RunDeleted",
    }
    for event in RUNS_EVENTS:
        channel = document["channels"][f"event.{event}"]
        assert channel["address"] == f"atoll.event.{event}"
    assert "send.stats" not in document["channels"]  # stats takes no command


async def test_the_system_serves_its_document_where_runs_publishes_and_stats_consumes():
    async with atoll.testing.run(system(), argv=MEMORY) as harness:
        response = await harness.client.get("/asyncapi.json")
    assert response.status_code == 200
    document = check(response.json())
    assert document["info"]["title"] == "runnerly"
    assert "servers" not in document  # embedded defaults: memory://
    on_recorded = {
        name: operation["action"]
        for name, operation in document["operations"].items()
        if operation["channel"]["$ref"] == "#/channels/event.runs.RunRecorded"
    }
    assert on_recorded == {"runs.publish.runs.RunRecorded": "send", "stats.count_run": "receive"}
