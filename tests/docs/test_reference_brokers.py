"""The examples of docs/reference/brokers.md run as shown.

The first block is an event handler of a ``stats`` service that logs a header of its delivery;
the test runs it with a ``runs`` service whose unit of work commits the event, on the default
broker, with ``atoll.testing.run``. The second is a conformance test class of the NATS adapter,
which the test writes to a file and runs with pytest against the NATS server it names.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import pytest

import atoll
import atoll.testing
from atoll.messaging.broker import Broker
from atoll.messaging.envelope import seal
from atoll.testing.broker_contract import BrokerContract
from tests.docs.pages import REFERENCE, python_blocks

pytest_plugins = ["pytester"]

PAGE = REFERENCE / "brokers.md"


@atoll.message("runs.RecordRun")
@dataclass(frozen=True)
class RecordRun:
    run_id: int


@atoll.message("runs.RunRecorded")
@dataclass(frozen=True)
class RunRecorded:
    run_id: int


class RunsUnitOfWork(atoll.UnitOfWork):
    pass


class StatsUnitOfWork(atoll.UnitOfWork):
    pass


def runs_service() -> atoll.Service:
    """A service whose command commits a RunRecorded through its outbox."""
    runs = atoll.Service("runs")
    runs.database(atoll.Schema(), RunsUnitOfWork)

    @runs.command(RecordRun)
    async def record_run(command: RecordRun, uow: RunsUnitOfWork) -> None:
        async with uow:
            uow.publish(RunRecorded(command.run_id))
            await uow.commit()

    return runs


def stats_service() -> atoll.Service:
    """The ``stats`` service, with the page's handler declared on it."""
    service = atoll.Service("stats")
    service.database(atoll.Schema(), StatsUnitOfWork)
    namespace: dict[str, Any] = {
        "atoll": atoll,
        "service": service,
        "RunRecorded": RunRecorded,
        "StatsUnitOfWork": StatsUnitOfWork,
        "logger": logging.getLogger("stats"),
    }
    handler, _ = python_blocks(PAGE)
    exec(compile(handler, "brokers.md, block 1", "exec"), namespace)  # noqa: S102 - the page's
    return service


def test_the_page_has_the_two_blocks_read_here():
    assert len(python_blocks(PAGE)) == 2


async def test_a_handler_reads_the_headers_of_its_delivery(caplog):
    caplog.set_level(logging.INFO, logger="stats")
    system = atoll.System(runs_service(), stats_service())
    argv = ["--runs-db-url", "memory://", "--stats-db-url", "memory://"]
    async with atoll.testing.run(system, argv=argv) as harness:
        # An outside call: its unit of work gives what it commits a new correlation id.
        await harness.send(RecordRun(1))
        # A message delivered to runs: what its handler commits carries the message's own.
        broker = harness.container.get(Broker)
        await broker.send(seal(RecordRun(2), headers={"correlation_id": "call-2"}), "runs")
        await harness.settle()
    logged = [r.getMessage() for r in caplog.records if r.name == "stats"]
    assert len(logged) == 2, logged
    assert re.fullmatch(r"run 1, correlation [0-9a-f]{32}", logged[0])
    assert logged[1] == "run 2, correlation call-2"


@pytest.mark.services("nats")
def test_the_adapter_conformance_class_is_collected_and_runs_against_the_broker(pytester):
    """The class collects the whole contract; its quick tests that leave nothing behind run.

    Those run are the ones the page's two fixtures decide: the broker answers at
    ``broker_url``, and ``unreachable_url`` is named without its password. The others publish
    and subscribe on the shared server (tests/adapters/nats runs them, and cleans up after).
    """
    pytester.makeini(
        """
        [pytest]
        asyncio_mode = auto
        asyncio_default_fixture_loop_scope = function
        filterwarnings = error
        markers = services(*names): the test talks to real infrastructure
        """
    )
    pytester.makepyfile(test_nats=python_blocks(PAGE)[1])
    contract = [name for name in dir(BrokerContract) if name.startswith("test_")]
    quick = ["test_a_started_broker_answers_ping", "test_an_unreachable_broker_is_named"]
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", " or ".join(quick))
    result.assert_outcomes(passed=len(quick), deselected=len(contract) - len(quick))
