"""Timers: handlers run every N seconds or on a cron schedule, through the bus."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import pytest

import atoll
from atoll.errors import ConfigError, MissingProviderError, ProviderError
from atoll.kernel.logs import current_log_context
from atoll.persistence.ports import Database
from atoll.service.schedules import Cron, Every
from atoll.service.timers import Timers
from atoll.testing import run

LIMIT = 10.0
"""The longest any wait here may take: a bug fails the test rather than hang it."""


@dataclass(frozen=True)
class Swept:
    """What ``sweep`` raises each time it runs."""

    count: int


class Counter:
    """Counts the runs of a timer, and says when it has run ``until`` times."""

    def __init__(self, until: int) -> None:
        self.runs = 0
        self.until = until
        self.done = asyncio.Event()
        self.running = 0
        self.most = 0

    def enter(self) -> None:
        self.runs += 1
        self.running += 1
        self.most = max(self.most, self.running)

    def leave(self) -> None:
        self.running -= 1
        if self.runs >= self.until:
            self.done.set()


def sweeper(counter: Counter, seen: list[Swept], *, seconds: float = 0.05) -> atoll.Service:
    """``sweep`` every ``seconds``, raising :class:`Swept`, which ``note`` handles."""
    service = atoll.Service("sweeper")

    @service.every(seconds)
    async def sweep(bus: atoll.MessageBus) -> None:
        counter.enter()
        try:
            await bus.publish(Swept(counter.runs))
        finally:
            counter.leave()

    @service.on(Swept)
    async def note(event: Swept) -> None:
        seen.append(event)

    return service


async def test_a_timer_runs_at_each_tick_through_the_bus():
    counter, seen = Counter(until=3), []
    async with run(sweeper(counter, seen)):
        await asyncio.wait_for(counter.done.wait(), LIMIT)
    assert counter.runs >= 3
    # Each run went through the bus: its events reached their handler.
    assert [event.count for event in seen[:3]] == [1, 2, 3]


async def test_a_timer_never_runs_beside_itself_and_skips_the_ticks_it_missed():
    counter = Counter(until=3)
    service = atoll.Service("slow")

    @service.every(0.02)
    async def crawl() -> None:
        counter.enter()
        try:
            await asyncio.sleep(0.05)  # longer than its period: the ticks meanwhile are missed
        finally:
            counter.leave()

    async with run(service):
        await asyncio.wait_for(counter.done.wait(), LIMIT)
    assert counter.most == 1


async def test_a_failing_run_is_logged_and_the_timer_runs_again(caplog):
    counter = Counter(until=2)
    service = atoll.Service("failing")

    @service.every(0.05)
    async def fail() -> None:
        counter.enter()
        counter.leave()
        raise RuntimeError("the sweep broke")

    with caplog.at_level(logging.ERROR, logger="atoll.timers"):
        async with run(service):
            await asyncio.wait_for(counter.done.wait(), LIMIT)
    assert "timer failing.fail failed at its tick of" in caplog.text
    assert "RuntimeError: the sweep broke" in caplog.text


async def test_timers_do_not_run_where_they_are_turned_off():
    counter, seen = Counter(until=1), []
    service = sweeper(counter, seen, seconds=0.01)
    async with run(service, argv=["--no-timers-enabled"]) as off:
        timers = off.container.get(Timers)
        assert timers.timers == service.timers  # declared, and not run:
        await asyncio.wait_for(timers.run(), LIMIT)  # it returns at once
    assert counter.runs == 0


async def test_a_timer_asking_for_what_nothing_provides_stops_the_start():
    service = atoll.Service("wanting")

    @service.every(60)
    async def purge(days: int) -> None:
        """Takes an input, which a timer never has."""

    with pytest.raises(MissingProviderError, match="a timer takes no input"):
        async with run(service):
            pass


def test_a_timer_is_an_async_function_with_a_name_of_its_own():
    service = atoll.Service("twice")
    with pytest.raises(ProviderError, match="is not an async function"):
        service.every(1)(lambda: None)

    @service.every(1)
    async def tick() -> None: ...

    with pytest.raises(ConfigError, match="two timers named 'tick'"):
        service.cron("* * * * *", name="tick")(tick)


async def test_a_singleton_needs_the_database_its_lease_is_kept_in():
    service = atoll.Service("lonely")

    @service.every(1, singleton=True)
    async def tick() -> None: ...

    with pytest.raises(ConfigError, match=r"declare lonely.database\(...\), or drop singleton"):
        async with run(service):
            pass


def test_ticks_are_multiples_of_the_period_and_cron_times_in_utc():
    assert Every(60).following(1733300000.5) == 1733300040
    assert Every(60).following(1733300040) == 1733300100  # strictly after
    assert Every(0.25).following(10.1) == 10.25
    cron = Cron("*/5 * * * *")
    assert cron.following(1733300000) == 1733300100  # 08:13:20 UTC, then 08:15
    assert cron.describe() == "cron '*/5 * * * *' (UTC)"
    assert Every(60).describe() == "every 60 s"


@pytest.mark.parametrize("seconds", [0, -1, float("inf")])
def test_a_period_must_be_positive_and_finite(seconds):
    with pytest.raises(ConfigError, match="above 0, such as every"):
        Every(seconds)


def test_a_cron_expression_croniter_cannot_read_is_refused():
    with pytest.raises(ConfigError, match="'every day' is not a cron expression; write five"):
        Cron("every day")


def shared(seen: list[tuple[str, str]], instance: str) -> atoll.Service:
    """``ledger``, whose singleton ``close`` notes which instance ran which tick."""
    service = atoll.Service("ledger")
    service.database(atoll.Schema())

    @service.every(0.2, singleton=True)
    async def close() -> None:
        seen.append((instance, current_log_context()["correlation_id"]))

    return service


async def until(condition, what: str) -> None:
    """Return once ``condition()`` holds; fail naming ``what`` past the bound."""
    async with asyncio.timeout(LIMIT):
        while not condition():  # noqa: ASYNC110 - a list grows, nothing signals it
            await asyncio.sleep(0.05)


async def test_a_singleton_runs_each_tick_on_one_instance_and_a_killed_one_is_replaced(tmp_path):
    seen: list[tuple[str, str]] = []
    flags = ["--db-url", f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"]
    async with run(shared(seen, "b"), argv=flags) as b:
        async with run(shared(seen, "a"), argv=flags) as a:
            await until(lambda: len({tick for _, tick in seen}) >= 6, "six ticks")
            # Killed, not stopped: its lease is not given up, and runs out by itself.
            timers = a.container.get(Timers)
            timers.release = _kept  # type: ignore[method-assign]
        killed = len(seen)
        await until(lambda: [who for who, _ in seen[killed:]].count("b") >= 3, "b's ticks")
        holder = await (await b.container.aget(Database, "ledger")).leases.holder(
            "timer:ledger.close"
        )
        assert holder == b.container.get(Timers).holder
    ticks = [tick for _, tick in seen]
    assert len(ticks) == len(set(ticks)), "a tick ran twice"
    assert all(tick.startswith("ledger.close@") for tick in ticks)


async def _kept() -> None:
    """What a killed process does with its leases: nothing."""
