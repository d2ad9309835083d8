"""The AsyncAPI 3.0 document: commands, events consumed and published, broker RPC, the broker.

Each document is checked against the official AsyncAPI 3.0.0 JSON Schema (see
``asyncapi_checks``), and its content is asserted: a command's channel and payload, an event
published and one consumed, the headers, the addresses of each broker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import pytest

import atoll
from atoll.endpoints.asyncapi import ENVELOPE_HEADERS, asyncapi_document
from atoll.messaging.broker import ID_HEADER, STREAM_HEADER, TYPE_HEADER
from atoll.messaging.options import BrokerOptions
from atoll.messaging.signing import SIGNATURE, SIGNED_HEADERS
from atoll.service.composition import api_of
from tests.endpoints.asyncapi_checks import check, resolve

NATS = "nats://127.0.0.1:4222"
BROKERS = [
    "memory://",
    "memory://shared",
    NATS,
    "amqp://guest:guest@127.0.0.1:5672/",
    "redis://127.0.0.1:6379/0",
]


@atoll.message("runs.RecordRun")
@dataclass(frozen=True)
class RecordRun:
    """Record a run of a runner's."""

    user_id: int
    meters: float
    started_at: datetime


@atoll.message("runs.RunRecorded")
@dataclass(frozen=True)
class RunRecorded:
    run_id: int
    meters: float


@atoll.message("users.UserRegistered")
@dataclass(frozen=True)
class UserRegistered:
    user_id: int


@dataclass(frozen=True)
class WeeklyMeters:
    user_id: int


def runs_service() -> atoll.Service:
    service = atoll.Service("runs", version="1.2.0", description="Runs of the club.")
    service.publishes(RunRecorded)

    @service.command(RecordRun)
    async def record_run(command: RecordRun) -> int:
        """Record a run; RunRecorded goes out.

        The run is kept in the runner's log.
        """
        return 1

    @service.query(WeeklyMeters)
    async def weekly_meters(query: WeeklyMeters) -> float:
        return 0.0

    @service.on(UserRegistered)
    async def open_log(event: UserRegistered) -> None:
        """Open the log of a new runner."""

    @service.rpc
    async def total(user_id: int) -> float:
        return 0.0

    return service


def stats_service() -> atoll.Service:
    service = atoll.Service("stats", version="0.1.0")

    @service.on(RunRecorded)
    async def count_run(event: RunRecorded) -> None:
        """Count the run in its week."""

    return service


def document(target, url: str = NATS) -> dict:
    return check(asyncapi_document(api_of(target), BrokerOptions(url=url)))


def system():
    return atoll.System(runs_service(), stats_service(), name="club", version="2.0.0")


@pytest.mark.parametrize("url", BROKERS)
@pytest.mark.parametrize("make", [runs_service, stats_service, system])
def test_every_document_is_valid_asyncapi_3(make, url):
    made = document(make(), url)
    assert made["asyncapi"] == "3.0.0"


def test_the_info_is_the_services():
    made = document(runs_service())
    assert made["info"] == {"title": "runs", "version": "1.2.0", "description": "Runs of the club."}
    assert made["defaultContentType"] == "application/json"


def test_a_command_is_received_on_the_services_send_channel_with_its_dataclass_schema():
    made = document(runs_service())
    operation = made["operations"]["runs.record_run"]
    assert operation["action"] == "receive"
    assert operation["channel"] == {"$ref": "#/channels/send.runs"}
    assert operation["summary"] == "Record a run; RunRecorded goes out."
    assert operation["description"] == "The run is kept in the runner's log."
    channel = made["channels"]["send.runs"]
    assert channel["address"] == "atoll.send.runs"
    assert list(channel["messages"]) == ["runs.RecordRun"]  # a query travels no broker
    message = resolve(made, resolve(made, operation["messages"][0]["$ref"])["$ref"])
    assert (message["name"], message["title"]) == ("runs.RecordRun", "RecordRun")
    payload = resolve(made, message["payload"]["$ref"])
    assert payload["description"] == "Record a run of a runner's."
    assert payload["required"] == ["user_id", "meters", "started_at"]
    assert payload["properties"] == {
        "user_id": {"type": "integer"},
        "meters": {"type": "number"},
        "started_at": {"type": "string", "format": "date-time"},  # as OpenAPI says it
    }


def test_an_event_consumed_is_received_on_its_topic():
    made = document(stats_service())
    operation = made["operations"]["stats.count_run"]
    assert operation["action"] == "receive"
    assert operation["summary"] == "Count the run in its week."
    assert operation["channel"] == {"$ref": "#/channels/event.runs.RunRecorded"}
    channel = made["channels"]["event.runs.RunRecorded"]
    assert channel["address"] == "atoll.event.runs.RunRecorded"
    message = made["components"]["messages"]["runs.RunRecorded"]
    assert resolve(made, message["payload"]["$ref"])["properties"] == {
        "run_id": {"type": "integer"},
        "meters": {"type": "number"},
    }
    assert "send.stats" not in made["channels"]  # no command: nothing is sent to it


def test_an_event_declared_published_is_sent_on_its_topic():
    made = document(runs_service())
    operation = made["operations"]["runs.publish.runs.RunRecorded"]
    assert operation["action"] == "send"
    assert operation["channel"] == {"$ref": "#/channels/event.runs.RunRecorded"}
    assert operation["messages"] == [
        {"$ref": "#/channels/event.runs.RunRecorded/messages/runs.RunRecorded"}
    ]
    assert made["channels"]["event.users.UserRegistered"]["address"] == (
        "atoll.event.users.UserRegistered"
    )
    assert made["operations"]["runs.open_log"]["action"] == "receive"


def test_a_system_s_services_share_the_channel_of_an_event_one_publishes_and_another_takes():
    made = document(system())
    assert made["info"] == {"title": "club", "version": "2.0.0", "description": "The club system."}
    on_the_topic = {
        name: operation["action"]
        for name, operation in made["operations"].items()
        if operation["channel"]["$ref"] == "#/channels/event.runs.RunRecorded"
    }
    assert on_the_topic == {"runs.publish.runs.RunRecorded": "send", "stats.count_run": "receive"}
    assert made["operations"]["stats.count_run"]["tags"] == [{"name": "stats"}]


def test_every_message_carries_the_envelope_headers():
    made = document(system())
    headers = made["components"]["schemas"]["envelope-headers"]
    assert headers["required"] == [ID_HEADER, TYPE_HEADER]
    assert {ID_HEADER, TYPE_HEADER, STREAM_HEADER, SIGNATURE, *SIGNED_HEADERS} <= set(
        headers["properties"]
    )
    assert set(headers["properties"]) == set(ENVELOPE_HEADERS)
    enveloped = [
        message
        for message in made["components"]["messages"].values()
        if not message["name"].startswith("jsonrpc-")
    ]
    assert {message["title"] for message in enveloped} == {
        "RecordRun",
        "RunRecorded",
        "UserRegistered",
    }
    for message in enveloped:
        assert message["headers"] == {"$ref": "#/components/schemas/envelope-headers"}
        correlation = resolve(made, message["correlationId"]["$ref"])
        assert correlation["location"] == "$message.header#/correlation_id"


def test_broker_rpc_is_received_with_a_reply_and_names_the_methods():
    made = document(runs_service())
    operation = made["operations"]["runs.rpc"]
    assert operation["action"] == "receive"
    assert operation["bindings"] == {"nats": {"queue": "runs", "bindingVersion": "0.1.0"}}
    calls = made["channels"]["rpc.runs"]
    assert calls["address"] == "atoll.rpc.runs"
    assert operation["reply"]["channel"] == {"$ref": "#/channels/rpc.runs.reply"}
    request = resolve(made, resolve(made, operation["messages"][0]["$ref"])["$ref"])
    call = request["payload"]["anyOf"][0]
    assert call["properties"]["method"]["enum"] == [
        "record_run",
        "weekly_meters",
        "total",
        "rpc.discover",
    ]
    assert request["headers"] == {"$ref": "#/components/schemas/rpc-headers"}
    assert "authorization" in made["components"]["schemas"]["rpc-headers"]["properties"]


def test_on_memory_there_is_no_server_no_address_and_no_broker_rpc():
    made = document(runs_service(), "memory://")
    assert "servers" not in made
    assert {channel["address"] for channel in made["channels"].values()} == {None}
    assert not [name for name in made["channels"] if name.startswith("rpc.")]
    assert "runs.rpc" not in made["operations"]


def test_a_shared_memory_broker_answers_rpc_without_addresses():
    made = document(runs_service(), "memory://shared")
    assert "servers" not in made
    assert made["channels"]["rpc.runs"]["address"] is None
    assert "runs.rpc" in made["operations"]


def test_without_broker_rpc_the_document_has_none():
    made = check(asyncapi_document(api_of(runs_service()), BrokerOptions(url=NATS, rpc=False)))
    assert "runs.rpc" not in made["operations"]
    assert "rpc.runs" not in made["channels"]


@pytest.mark.parametrize(
    ("url", "server", "event", "send", "rpc"),
    [
        (
            NATS,
            {"host": "127.0.0.1:4222", "protocol": "nats"},
            "atoll.event.runs.RunRecorded",
            "atoll.send.runs",
            "atoll.rpc.runs",
        ),
        (
            "amqp://guest:guest@rabbit/club",
            {"host": "rabbit:5672", "protocol": "amqp", "pathname": "/club"},
            "runs.RunRecorded",
            "runs",
            "atoll.runs.rpc",
        ),
        (
            "amqps://rabbit:5671/",
            {"host": "rabbit:5671", "protocol": "amqps"},
            "runs.RunRecorded",
            "runs",
            "atoll.runs.rpc",
        ),
        (
            "redis://:secret@cache:6380/2",
            {"host": "cache:6380", "protocol": "redis", "pathname": "/2"},
            "atoll:event:runs.RunRecorded",
            "atoll:send:runs",
            "atoll:rpc:runs",
        ),
        (
            "rediss://cache",
            {"host": "cache:6379", "protocol": "redis"},
            "atoll:event:runs.RunRecorded",
            "atoll:send:runs",
            "atoll:rpc:runs",
        ),
    ],
)
def test_each_broker_names_its_server_and_addresses(url, server, event, send, rpc):
    made = document(runs_service(), url)
    (named,) = made["servers"].values()
    assert {key: value for key, value in named.items() if key != "description"} == server
    channels = made["channels"]
    assert channels["event.runs.RunRecorded"]["address"] == event
    assert channels["send.runs"]["address"] == send
    assert channels["rpc.runs"]["address"] == rpc


def test_the_server_never_shows_a_user_or_a_password():
    for url in ("amqp://ada:s3cr3t-pw@rabbit:5672/", "nats://t0k3n-value@nats:4222"):
        text = json.dumps(document(runs_service(), url))
        assert "s3cr3t" not in text
        assert "t0k3n" not in text
        assert "ada" not in text


def test_a_nats_url_of_several_servers_lists_each():
    made = document(runs_service(), "nats://a:4222,nats://b:4223,c")
    assert [server["host"] for server in made["servers"].values()] == ["a:4222", "b:4223", "c:4222"]


def test_rabbitmq_bindings_name_the_exchanges_the_queue_and_the_vhost():
    made = document(runs_service(), "amqp://guest:guest@rabbit/club%2Fa")
    channels = made["channels"]
    event = channels["event.runs.RunRecorded"]["bindings"]["amqp"]
    assert event["is"] == "routingKey"
    assert event["exchange"] == {
        "name": "atoll.events",
        "type": "topic",
        "durable": True,
        "autoDelete": False,
        "vhost": "club/a",
    }
    assert channels["send.runs"]["bindings"]["amqp"]["exchange"]["name"] == "atoll.sends"
    assert channels["send.runs"]["bindings"]["amqp"]["exchange"]["type"] == "direct"
    rpc = channels["rpc.runs"]["bindings"]["amqp"]
    assert rpc["is"] == "queue"
    assert rpc["queue"]["name"] == "atoll.runs.rpc"
    operations = made["operations"]
    assert operations["runs.publish.runs.RunRecorded"]["bindings"]["amqp"]["deliveryMode"] == 2
    assert operations["runs.record_run"]["bindings"]["amqp"]["ack"] is True


def test_redis_replies_name_the_requesters_channel_as_a_parameter():
    made = document(runs_service(), "redis://cache:6379/0")
    reply = made["channels"]["rpc.runs.reply"]
    assert reply["address"] == "atoll:reply:{requester}"
    assert set(reply["parameters"]) == {"requester"}


def test_the_addresses_are_those_the_adapters_use():
    nats = pytest.importorskip("atoll.adapters.nats.broker")
    rabbitmq = pytest.importorskip("atoll.adapters.rabbitmq.broker")
    assert nats.STREAMS[nats.EVENTS] == "atoll.event.>"
    assert nats.STREAMS[nats.SENDS] == "atoll.send.>"
    assert (rabbitmq.EVENTS, rabbitmq.SENDS) == ("atoll.events", "atoll.sends")
    assert rabbitmq._rpc_queue("runs") == "atoll.runs.rpc"


@atoll.message("runs.RunRecorded")
@dataclass(frozen=True)
class RunRecordedCopy:
    """Stats' own copy of the contract, as a service in another code base declares it."""

    run_id: int


def test_two_types_of_one_name_are_two_messages_of_one_channel():
    copy = atoll.Service("copy")

    @copy.on(RunRecordedCopy)
    async def count(event: RunRecordedCopy) -> None:
        pass

    made = document(atoll.System(runs_service(), copy, name="club"))
    messages = made["channels"]["event.runs.RunRecorded"]["messages"]
    assert set(messages) == {"runs.RunRecorded", "runs.RunRecorded_2"}
    titles = {made["components"]["messages"][key]["title"] for key in messages}
    assert titles == {"RunRecorded", "RunRecordedCopy"}


def test_a_type_named_after_a_function_s_locals_still_makes_a_valid_document():
    @dataclass(frozen=True)
    class Pinged:
        at: int

    service = atoll.Service("pinger")
    service.publishes(Pinged)
    made = document(service, "memory://")
    (key,) = made["components"]["messages"]
    assert "<" not in key
    assert made["components"]["messages"][key]["name"].endswith("<locals>.Pinged")


def test_the_check_refuses_what_the_specification_refuses():
    made = document(runs_service())
    made["operations"]["runs.record_run"]["action"] = "publish"  # AsyncAPI 2's word
    with pytest.raises(AssertionError, match="publish"):
        check(made)
    made = document(runs_service())
    made["operations"]["runs.record_run"]["messages"] = [{"$ref": "#/channels/nowhere"}]
    with pytest.raises(AssertionError):
        check(made)


def test_a_service_without_messages_has_a_document_without_channels():
    made = document(atoll.Service("quiet"), "memory://")
    assert (made["channels"], made["operations"]) == ({}, {})
    assert made["components"] == {"schemas": {}, "messages": {}}
