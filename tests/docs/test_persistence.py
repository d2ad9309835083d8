"""The persistence reference's example runs as the page says: the file, and the page's block.

The page shows part of ``persistence_example.py``: the aggregate, the unit of work, the
mappings and the command handler, without the docstrings, the messages, the tables and the
event handler. The file runs whole; the page's block runs as shown, with the rest from the file.
"""

import asyncio
import functools
import importlib.util
import sys

import pytest

import atoll.testing
from atoll.persistence.relay import OutboxRelay
from tests.docs.pages import REFERENCE, python_blocks

EXAMPLE = REFERENCE / "persistence_example.py"
LEFT_OUT = [
    "dataclass",
    "field",
    "atoll",
    "Count",
    "Counted",
    "Tally",
    "metadata",
    "counters",
    "tallies",
]
"""What the page's block takes from the file: its imports, messages and tables."""


@functools.cache
def load():
    """The example file, loaded once: a second class of one module and name, mapped, would warn."""
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


@pytest.mark.parametrize("database", ["memory", "default"])
async def test_the_pages_block_counts_and_commits_its_events(database, tmp_path):
    example = load()
    namespace = {"__name__": "persistence_page"}
    namespace.update({name: getattr(example, name) for name in LEFT_OUT})
    block, _ = python_blocks(REFERENCE / "persistence.md")
    exec(compile(block, "persistence.md", "exec"), namespace)  # noqa: S102 - the page's own
    argv = ["--db-url", "memory://"] if database == "memory" else ["--db-data-dir", str(tmp_path)]
    async with atoll.testing.run(namespace["service"], argv=argv) as harness:
        first = await harness.send(example.Count(1))
        values = await asyncio.gather(*(harness.send(example.Count(1)) for _ in range(4)))
        assert [first, *sorted(values)] == [1, 2, 3, 4, 5]
        await harness.settle()  # the relay hands the committed events on
    counted = harness.events_of(example.Counted)
    assert sorted(event.value for event in counted) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("database", ["memory", "default"])
async def test_the_pages_block_pages_through_every_counter_largest_first(database, tmp_path):
    example = load()
    namespace = {"__name__": "persistence_page", **{n: getattr(example, n) for n in LEFT_OUT}}
    namespace["CountingUnitOfWork"] = example.CountingUnitOfWork
    _, paging = python_blocks(REFERENCE / "persistence.md")
    exec(compile(paging, "persistence.md", "exec"), namespace)  # noqa: S102 - the page's own
    argv = ["--db-url", "memory://"] if database == "memory" else ["--db-data-dir", str(tmp_path)]
    async with atoll.testing.run(example.service, argv=argv) as harness:
        for counter_id in (1, 1, 2, 3, 3, 3, 4, 5, 5):  # an unknown id makes a new counter
            await harness.send(example.Count(counter_id))
        async with harness.container.scope() as scope:
            uow = await scope.aget(example.CountingUnitOfWork)
            values = await namespace["values_largest_first"](uow)
    assert values == [3, 2, 2, 1, 1]
