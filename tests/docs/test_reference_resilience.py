"""The examples of docs/reference/resilience.md run, and print what the page says they print."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.docs.pages import REFERENCE, python_blocks

PAGE = REFERENCE / "resilience.md"


def run(block: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Run one of the page's blocks as a script of its own; the lines it printed."""
    namespace: dict[str, Any] = {"__name__": "resilience_example"}
    exec(compile(block, str(PAGE), "exec"), namespace)  # noqa: S102 - the page's own code
    return capsys.readouterr().out.splitlines()


def test_the_page_has_an_example_of_each_policy():
    assert len(python_blocks(PAGE)) == 3


def test_the_retry_example_gets_through_on_its_second_try(capsys):
    block = python_blocks(PAGE)[0]
    assert run(block, capsys) == ["{'id': 1, 'name': 'Ada'}"]


def test_the_breaker_example_opens_after_four_failures(capsys):
    block = python_blocks(PAGE)[1]
    *failures, refusal = run(block, capsys)
    assert failures == ["users refused the connection"] * 4
    # The seconds left are 5.0 unless the machine stalled between the calls.
    assert re.fullmatch(
        r"the circuit breaker of users is open: 4 of its last 4 calls failed; it lets a probe"
        r" through in [45]\.\d s",
        refusal,
    )


def test_the_bulkhead_example_serves_every_call_and_refuses_past_its_limit(capsys):
    block = python_blocks(PAGE)[2]
    assert run(block, capsys) == [
        "5 0",
        (
            "users has 1 call in flight, as many as its bulkhead holds (--clients-concurrency);"
            " it does not wait for room (--clients-concurrency-wait off)"
        ),
    ]


def test_the_page_gives_the_messages_the_policies_raise():
    page = " ".join(PAGE.read_text().split())
    for message in (
        (
            "the circuit breaker of users is open: 6 of its last 10 calls failed; it lets a"
            " probe through in 4.2 s"
        ),
        (
            "the circuit breaker of users is half-open: 1 probe is in flight; calls go through"
            " again once it succeeds"
        ),
        (
            "users has 10 calls in flight, as many as its bulkhead holds (--clients-concurrency);"
            " no room came within 2.0 s"
        ),
    ):
        assert message in page
