"""``atoll asyncapi MODULE:OBJECT``: the document a service or a system serves, printed."""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

from atoll.cli import cli
from tests.endpoints.asyncapi_checks import check

APP = textwrap.dedent(
    """
    from __future__ import annotations

    from dataclasses import dataclass

    import atoll


    @atoll.message("runs.RecordRun")
    @dataclass(frozen=True)
    class RecordRun:
        meters: float


    @atoll.message("runs.RunRecorded")
    @dataclass(frozen=True)
    class RunRecorded:
        run_id: int


    runs = atoll.Service("runs", version="1.0.0")
    runs.publishes(RunRecorded)


    @runs.command(RecordRun)
    async def record_run(command: RecordRun) -> int:
        return 1


    stats = atoll.Service("stats")


    @stats.on(RunRecorded)
    async def count_run(event: RunRecorded) -> None:
        pass


    club = atoll.System(runs, stats, name="club", version="2.0.0")
    bare = atoll.App("bare")


    def make():
        return club
    """
)


@pytest.fixture(autouse=True)
def module(tmp_path, monkeypatch):
    (tmp_path / "asyncapi_app.py").write_text(APP)
    monkeypatch.syspath_prepend(str(tmp_path))


def atoll_asyncapi(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["asyncapi", *args], env=env or {})


def printed(*args: str, env: dict[str, str] | None = None) -> dict:
    result = atoll_asyncapi(*args, env=env)
    assert result.exit_code == 0, result.output
    return check(json.loads(result.stdout))


def test_a_service_s_document_is_printed_on_the_default_broker():
    document = printed("asyncapi_app:runs")
    assert document["info"] == {"title": "runs", "version": "1.0.0"}
    assert document["operations"]["runs.record_run"]["action"] == "receive"
    assert document["operations"]["runs.publish.runs.RunRecorded"]["action"] == "send"
    assert "servers" not in document


def test_the_broker_url_names_the_server_and_the_addresses():
    document = printed("asyncapi_app:runs", "--broker-url", "nats://user:pw@nats.example:4222")
    assert document["servers"]["broker"]["host"] == "nats.example:4222"
    assert document["channels"]["send.runs"]["address"] == "atoll.send.runs"
    assert "runs.rpc" in document["operations"]


def test_the_broker_url_is_read_from_the_environment_as_for_atoll_run():
    document = printed("asyncapi_app:runs", env={"RUNS_BROKER_URL": "redis://cache:6379/0"})
    assert document["servers"]["broker"]["protocol"] == "redis"


def test_a_system_s_document_holds_its_services_together():
    document = printed("asyncapi_app:make", "--broker", "nats://127.0.0.1:4222")
    assert document["info"]["title"] == "club"
    event = "#/channels/event.runs.RunRecorded"
    assert {
        name for name, op in document["operations"].items() if op["channel"]["$ref"] == event
    } == {"runs.publish.runs.RunRecorded", "stats.count_run"}


def test_service_picks_one_service_of_a_system_with_the_system_s_broker():
    document = printed(
        "asyncapi_app:club", "--service", "stats", "--broker-url", "nats://127.0.0.1:4222"
    )
    assert document["info"] == {"title": "stats", "version": "0.0.0"}
    assert set(document["operations"]) == {"stats.count_run", "stats.rpc"}
    assert document["servers"]["broker"]["protocol"] == "nats"


def test_an_unknown_service_is_a_usage_error_naming_the_services():
    result = atoll_asyncapi("asyncapi_app:club", "--service", "users")
    assert result.exit_code == 2
    assert "has no service 'users'; its services: runs, stats" in result.output


def test_a_target_that_is_no_service_is_a_usage_error():
    result = atoll_asyncapi("asyncapi_app:bare")
    assert result.exit_code == 2
    assert "atoll asyncapi describes the messages of an atoll.Service" in result.output


def test_a_bad_option_is_a_configuration_error():
    result = atoll_asyncapi("asyncapi_app:runs", "--broker-url", "kafka://k:9092")
    assert result.exit_code == 2
    assert "names no broker atoll has an adapter for" in result.output
