"""The café apart, as its tutorial page runs it: two processes, on NATS and PostgreSQL.

The test runs the page's commands with a database of its own (``cafe_orders_<random>``, where
the page has ``cafe_orders``) and a free port (where the page has 8000). The broker's streams
are atoll's (``ATOLL_EVENTS``...), which no option renames: what is the café's in them, the
kitchen's and the orders' consumers and the messages of their subjects, is deleted before and
after the test, so that each run starts as the page does, on a broker where the kitchen has
never run.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import uuid

import asyncpg
import httpx
import nats
import pytest
from nats.js.errors import NotFoundError

from tests.docs.pages import (
    TUTORIAL,
    blocks,
    free_port,
    request_of,
    session,
    shown,
    waitable,
)

PAGE = TUTORIAL / "apart.md"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
NATS = "nats://127.0.0.1:4222"
SUBJECTS = {  # the café's subjects, by stream: its event, and the sends to its two services
    "ATOLL_EVENTS": ["atoll.event.cafe.messages.OrderPlaced"],
    "ATOLL_SENDS": ["atoll.send.kitchen", "atoll.send.orders"],
}


async def forget_the_cafe_on_nats() -> None:
    """Delete the café's consumers and messages from atoll's streams."""
    connection = await nats.connect(NATS)
    try:
        stream = connection.jetstream()
        for name, subjects in SUBJECTS.items():
            with contextlib.suppress(NotFoundError):  # no stream: nothing of the café in it
                for consumer in await stream.consumers_info(name):
                    if consumer.config.filter_subject in subjects:
                        await stream.delete_consumer(name, consumer.name)
                for subject in subjects:
                    await stream.purge_stream(name, subject=subject)
    finally:
        await connection.close()


async def postgres(statement: str) -> None:
    connection = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
def database():
    """A database of the test's own, made as the page's ``createdb`` makes one; dropped after."""
    name = f"cafe_orders_{uuid.uuid4().hex[:8]}"
    asyncio.run(postgres(f'CREATE DATABASE "{name}"'))
    yield name
    asyncio.run(postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def clean_nats():
    asyncio.run(forget_the_cafe_on_nats())
    yield
    asyncio.run(forget_the_cafe_on_nats())


def atoll_run(argv: list[str]) -> list[str]:
    """The page's ``atoll ...`` command, run with the test's interpreter (``python -m atoll``)."""
    assert argv[0] == "atoll", argv
    return [sys.executable, "-m", "atoll", *argv[1:]]


@pytest.mark.slow
@pytest.mark.services("nats", "postgres")
@pytest.mark.usefixtures("clean_nats")
def test_the_cafe_apart_answers_and_logs_as_the_page_shows(spawn, database):
    createdb, kitchen_start, orders_start, requests, kitchen_later, orders_later = blocks(
        PAGE.read_text(), "console"
    )
    _, (create,) = session(createdb)
    assert create.argv == ["createdb", "-h", "127.0.0.1", "-U", "postgres", "cafe_orders"]
    _, (cd, kitchen) = session(kitchen_start)
    assert cd.argv == ["cd", "docs/tutorial"]
    _, (cd, orders) = session(orders_start)
    assert cd.argv == ["cd", "docs/tutorial"]
    _, curls = session(requests)
    kitchen_continued, _ = session(kitchen_later)
    orders_continued, _ = session(orders_later)

    kitchen_process = spawn(*atoll_run(kitchen.argv), cwd=str(TUTORIAL), terminal=True)
    kitchen_process.wait_for(waitable(kitchen.output[-1]), timeout=60)  # kitchen ready in ...
    port = free_port()
    orders_argv = [arg.replace("/cafe_orders", f"/{database}") for arg in orders.argv]
    assert orders_argv != orders.argv  # the page's database URL, renamed
    orders_process = spawn(
        *atoll_run(orders_argv),
        cwd=str(TUTORIAL),
        env={"ORDERS_SERVER_PORT": str(port)},
        terminal=True,
    )
    orders_process.wait_for(waitable(orders.output[-1]), timeout=60)  # orders ready in ...

    with httpx.Client(timeout=10) as http:
        answers = [http.send(request_of(curl.argv, port)) for curl in curls]
    assert [answer.status_code for answer in answers] == [201, 200, 404]
    assert [[answer.text] for answer in answers] == [curl.output for curl in curls]

    for process, start, continued in (
        (kitchen_process, kitchen, kitchen_continued),
        (orders_process, orders, orders_continued),
    ):
        ctrl_c = continued.index("^C")
        if ctrl_c:  # the lines the page shows before Ctrl-C: the kitchen's order
            process.wait_for(waitable(continued[ctrl_c - 1]), timeout=60)
        process.signal(signal.SIGINT)
        assert process.finish(timeout=30) == 0
        logged = [
            shown(line).replace(f"127.0.0.1:{port}", "127.0.0.1:8000") for line in process.lines
        ]
        expected = [*start.output, *continued[:ctrl_c], *continued[ctrl_c + 1 :]]
        assert logged == [shown(line) for line in expected]
