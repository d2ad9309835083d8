"""``atoll publish`` and ``atoll dlq``: on a broker shared in the process (memory://NAME)."""

import asyncio
import uuid

import msgspec
import pytest
from click.testing import CliRunner

from atoll.cli import cli
from atoll.messaging.broker import Subscription
from atoll.messaging.envelope import seal
from atoll.messaging.memory_broker import MemoryBroker
from atoll.testing.database_contract import Counted

COUNTED = "atoll.testing.database_contract.Counted"


@pytest.fixture
def url():
    return f"memory://cli-{uuid.uuid4().hex}"


def invoke(*args, stdin=None):
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def queued(url, service):
    return list(MemoryBroker(url).state.queue(service).ready)


def subscribed(url, service, *topics):
    async def subscribe():
        broker = MemoryBroker(url)
        await broker.start()
        await broker.subscribe(Subscription(service, topics))

    asyncio.run(subscribe())


def dead_letters(url, service, count):
    """``count`` messages of ``service``, dead-lettered; their message ids."""

    async def fail():
        broker = MemoryBroker(url)
        await broker.start()
        receiver = await broker.subscribe(Subscription(service))
        for n in range(count):
            await broker.send(_envelope(n), service)
        for received in await receiver.receive(count, 1.0):
            await received.dead_letter(
                f"ValueError: counter {received.envelope.id} is gone\nTraceback..."
            )
        return [d.envelope.id for d in await broker.dead_letters(service)]

    return asyncio.run(fail())


def _envelope(n):
    return seal(Counted(n, n))


def test_publish_checks_the_json_and_puts_the_event_on_its_topic(url):
    subscribed(url, "stats", COUNTED)
    result = invoke(
        "publish",
        COUNTED,
        '{"counter": 1, "value": 2}',
        "--broker-url",
        url,
        "--stream",
        "Counter:1",
        "--header",
        "correlation_id=c-1",
    )
    assert result.exit_code == 0, result.output
    [message] = queued(url, "stats")
    envelope = message.envelope
    assert result.output.strip() == envelope.id
    assert msgspec.json.decode(envelope.payload) == {"counter": 1, "value": 2}
    assert envelope.stream == "Counter:1"
    assert envelope.headers == {"sender": "atoll publish", "correlation_id": "c-1"}


def test_publish_reads_the_json_from_stdin_and_sends_to_one_service(url):
    result = invoke(  # --broker: short for --broker-url
        "publish", COUNTED, "--to", "tally", "--broker", url, stdin='{"counter":3,"value":4}'
    )
    assert result.exit_code == 0, result.output
    [message] = queued(url, "tally")
    assert message.envelope.type == COUNTED


def test_publish_refuses_json_that_is_not_of_the_type(url):
    result = invoke("publish", COUNTED, '{"counter": "one"}', "--broker-url", url)
    assert result.exit_code == 1
    assert "the JSON is not a Counted: Expected `int`, got `str` - at `$.counter`" in result.output


def test_publish_sends_json_unchecked_when_told(url):
    subscribed(url, "stats", "shop.Ship")
    result = invoke("publish", "shop.Ship", '{"any": 1}', "--no-check", "--broker-url", url)
    assert result.exit_code == 0, result.output
    assert queued(url, "stats")[0].envelope.payload == b'{"any": 1}'


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["no.such.Type", "{}"], "no importable type is named 'no.such.Type'"),
        (["bad type!", "{}"], "cannot travel through a broker"),
        ([COUNTED, "{}", "--header", "novalue"], "'novalue' is not NAME=VALUE"),
        ([COUNTED, "{}", "--to", "a b"], "the service name 'a b' cannot travel"),
    ],
)
def test_publish_refuses_bad_input_with_the_fix(url, args, expected):
    result = invoke("publish", *args, "--broker-url", url)
    assert result.exit_code == 2
    assert expected in " ".join(result.output.split())


def test_a_broker_url_of_no_adapter_is_a_usage_error():
    result = invoke("dlq", "list", "stats", "--broker-url", "kafka://h:9092")
    assert result.exit_code == 2
    assert "no scheme an adapter reads" in " ".join(result.output.split())


def test_the_broker_url_comes_from_the_environment_too(url, monkeypatch):
    monkeypatch.setenv("ATOLL_BROKER_URL", url)
    result = invoke("dlq", "list", "stats")
    assert result.exit_code == 0
    assert result.output == f"no dead letters for stats on {url}\n"


def test_dlq_list_shows_each_dead_letter_in_a_line(url):
    ids = dead_letters(url, "stats", 2)
    result = invoke("dlq", "list", "stats", "--broker-url", url)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"1  {COUNTED}  1x  ")
    assert lines[0].endswith(f"ValueError: counter {ids[0]} is gone")  # the first line only
    assert lines[-1] == "2 dead letter(s) of stats"


def test_dlq_list_as_json_gives_everything(url):
    ids = dead_letters(url, "stats", 1)
    result = invoke("dlq", "list", "stats", "--json", "--broker-url", url)
    [letter] = [msgspec.json.decode(line) for line in result.output.splitlines()]
    assert letter["message_id"] == ids[0]
    assert letter["error"].endswith("Traceback...")
    assert msgspec.json.decode(letter["payload"]) == {"counter": 0, "value": 0}


def test_dlq_redrive_sends_them_back_as_new_deliveries(url):
    dead_letters(url, "stats", 3)
    result = invoke("dlq", "redrive", "stats", "1", "--broker-url", url)
    assert result.output == "redrove 1 dead letter(s) to stats\n"
    result = invoke("dlq", "redrive", "stats", "--broker-url", url)
    assert result.output == "redrove 2 dead letter(s) to stats\n"
    assert [m.attempt for m in queued(url, "stats")] == [1, 1, 1]


def test_dlq_purge_asks_first_and_deletes_nothing_when_refused(url):
    dead_letters(url, "stats", 2)
    result = invoke("dlq", "purge", "stats", "--broker-url", url, stdin="n\n")
    assert result.exit_code == 1
    assert f"Delete every dead letter of stats on {url}, for good? [y/N]" in result.output
    assert "nothing deleted" in result.output
    assert len(asyncio.run(MemoryBroker(url).dead_letters("stats"))) == 2


def test_dlq_purge_deletes_when_confirmed_or_told_yes(url):
    dead_letters(url, "stats", 3)
    result = invoke("dlq", "purge", "stats", "1", "--broker-url", url, stdin="y\n")
    assert "Delete 1 dead letter(s) of stats" in result.output
    assert result.output.endswith("deleted 1 dead letter(s) of stats\n")
    result = invoke("dlq", "purge", "stats", "--yes", "--broker-url", url)
    assert result.output == "deleted 2 dead letter(s) of stats\n"


@pytest.mark.parametrize(
    "args",
    [["dlq", "list", "stats"], ["dlq", "redrive", "stats"], ["publish", "a.B", "{}", "--no-check"]],
)
def test_the_broker_of_one_application_is_refused_with_the_fix(args):
    result = CliRunner().invoke(cli, [*args, "--broker-url", "memory://"])
    assert result.exit_code == 2
    assert "memory:// is the broker of one running application" in result.output
    assert "Run the services on a broker their processes share" in result.output


def test_publish_sends_a_type_under_the_name_it_declares(url):
    subscribed(url, "shop", "shop.OrderPlaced")
    result = invoke("publish", "tests.messaging.test_wire_names.OrderPlaced", '{"order": 2}',
                    "--broker-url", url)  # fmt: skip
    assert result.exit_code == 0, result.output
    [message] = queued(url, "shop")
    assert message.envelope.type == "shop.OrderPlaced"


def test_publish_finds_a_type_of_the_directory_it_runs_in(url, tmp_path, monkeypatch):
    (tmp_path / "ledger_events.py").write_text(
        "from dataclasses import dataclass\n\n\n@dataclass\nclass Booked:\n    n: int\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in {"", "."}])
    subscribed(url, "books", "ledger_events.Booked")
    result = invoke("publish", "ledger_events.Booked", '{"n": 1}', "--broker-url", url)
    assert result.exit_code == 0, result.output
    assert [m.envelope.type for m in queued(url, "books")] == ["ledger_events.Booked"]


@pytest.mark.parametrize("command", ["publish", "call"])
def test_the_help_keeps_its_examples_one_to_a_line(command):
    result = invoke(command, "--help")
    assert "\\b" not in result.output
    assert "\n  Examples:\n    atoll " in result.output
