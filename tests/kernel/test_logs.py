"""Records as text or as JSON lines, with the context of the work in progress."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import sys
import time

import pytest

from atoll.kernel.app import App
from atoll.kernel.entrypoint import execute
from atoll.kernel.lifecycle import Lifecycle
from atoll.kernel.logs import (
    ContextFilter,
    JsonFormatter,
    TextFormatter,
    current_log_context,
    log_context,
)


def written(formatter: logging.Formatter, emit) -> list[str]:
    """What a handler with ``formatter`` writes while ``emit(logger)`` logs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger("shop.orders")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue().splitlines()


def test_a_json_line_holds_the_record_the_service_and_the_context():
    def emit(logger: logging.Logger) -> None:
        with log_context(correlation_id="c-1", handler="shop.order", subject=None):
            logger.info("ordered %s", "tea")
        logger.warning("no context")

    first, second = map(json.loads, written(JsonFormatter("shop", "host:1"), emit))
    assert first.pop("time").endswith("Z")
    assert first == {
        "level": "info",
        "logger": "shop.orders",
        "message": "ordered tea",
        "service": "shop",
        "instance": "host:1",
        "correlation_id": "c-1",
        "handler": "shop.order",
    }
    assert "correlation_id" not in second


def test_a_json_line_carries_the_traceback_on_one_line():
    def emit(logger: logging.Logger) -> None:
        try:
            int("broken")
        except ValueError:
            logger.exception("failed")

    (line,) = written(JsonFormatter("shop"), emit)
    entry = json.loads(line)
    assert entry["level"] == "error"
    assert "ValueError: invalid literal for int() with base 10: 'broken'" in entry["exception"]
    assert entry["instance"].endswith(f":{os.getpid()}")


def test_the_time_now_is_written_as_a_records_time(monkeypatch):
    formatter = JsonFormatter("shop", "host:1")
    assert formatter.stamp(1_796_000_000.0999) == "2026-11-30T00:53:20.099Z"
    monkeypatch.setattr(time, "time_ns", lambda: 1_796_000_000_123_456_789)
    assert formatter.now() == "2026-11-30T00:53:20.123Z"  # the second's part kept
    monkeypatch.setattr(time, "time_ns", lambda: 1_796_000_001_000_999_999)
    assert formatter.now() == "2026-11-30T00:53:21.000Z"  # the next second's made
    assert formatter.stamp(1_796_000_001.9999) == "2026-11-30T00:53:21.999Z"


def test_a_context_is_the_blocks_own_and_tasks_started_in_it_inherit_it():
    async def run() -> dict[str, str]:
        seen: dict[str, str] = {}

        async def one(name: str) -> None:
            with log_context(request=name):
                await asyncio.sleep(0)
                seen[name] = current_log_context()["request"]

        with log_context(correlation_id="outer"):
            await asyncio.gather(one("a"), one("b"))
            inherited = await asyncio.create_task(_read())
        seen["task"] = inherited
        seen["after"] = str(dict(current_log_context()))
        return seen

    async def _read() -> str:
        return current_log_context()["correlation_id"]

    assert asyncio.run(run()) == {"a": "a", "b": "b", "task": "outer", "after": "{}"}


def test_a_field_set_again_in_an_inner_block_is_back_after_it():
    with log_context(handler="outer"):
        with log_context(handler="inner"):
            assert current_log_context()["handler"] == "inner"
        assert current_log_context()["handler"] == "outer"


@pytest.mark.parametrize(("flag", "json_lines"), [("text", False), ("json", True), ("auto", True)])
def test_log_format_chooses_how_the_application_writes(flag, json_lines, monkeypatch):
    app = App("shop")

    @app.task
    async def stop(lifecycle: Lifecycle) -> None:
        with log_context(correlation_id="c-9"):
            logging.getLogger("shop.orders").warning("running")
        lifecycle.request_stop()

    stderr = io.StringIO()  # no terminal: auto writes JSON
    monkeypatch.setattr(sys, "stderr", stderr)
    try:
        assert execute(app, ["--log-format", flag], {}) == 0
    finally:  # the process's handler writes text again for the tests after this one
        for handler in logging.getLogger().handlers:
            if type(handler).__name__ == "_StderrHandler":
                handler.setFormatter(TextFormatter())
    (line,) = [line for line in stderr.getvalue().splitlines() if "running" in line]
    if json_lines:
        entry = json.loads(line)
        assert (entry["service"], entry["correlation_id"]) == ("shop", "c-9")
    else:
        assert line.endswith("WARNING shop.orders: running")
