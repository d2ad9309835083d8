"""The persistence reference's example runs as the page says."""

import asyncio
import importlib.util
import sys
from pathlib import Path

import pytest

import atoll.testing
from atoll.persistence.relay import OutboxRelay

EXAMPLE = Path(__file__).parents[2] / "docs" / "reference" / "persistence_example.py"


def load():
    spec = importlib.util.spec_from_file_location("persistence_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its annotations are read from its module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("database", ["memory", "default"])
async def test_counts_commit_and_their_events_reach_the_read_model(database, tmp_path):
    example = load()
    # The default: SQLite in a data directory, its tables made at start, as the page runs it.
    argv = ["--db-url", "memory://"] if database == "memory" else ["--db-data-dir", str(tmp_path)]
    async with atoll.testing.run(example.service, argv=argv) as harness:
        first = await harness.send(example.Count(1))  # makes counter 1
        # Four at once: each conflict with another's commit runs the handler again.
        values = await asyncio.gather(*(harness.send(example.Count(1)) for _ in range(4)))
        assert [first, *sorted(values)] == [1, 2, 3, 4, 5]
        await harness.container.get(OutboxRelay, "counting").flush()
        async with harness.container.scope() as scope:
            uow = await scope.aget(example.CountingUnitOfWork)
            async with uow:
                tallies = await uow.tallies.find(counter_id=1)
        assert sorted(t.value for t in tallies) == [1, 2, 3, 4, 5]
