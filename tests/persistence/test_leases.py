"""Leases kept in memory: the port's arguments checked, and time read from the clock given."""

import pytest

from atoll.persistence import leases as leases_module
from atoll.persistence.leases import MemoryLeaseStore, check_lease, check_ttl


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_module_exports_the_port_its_memory_store_and_checks():
    assert set(leases_module.__all__) == {
        "MAX_LENGTH",
        "LeaseStore",
        "MemoryLeaseStore",
        "check_lease",
        "check_ttl",
    }


async def test_a_lease_runs_out_when_its_ttl_has_passed_by_the_clock_given():
    clock = Clock()
    leases = MemoryLeaseStore(clock)
    assert await leases.acquire("timers", "a", 10)
    clock.now += 9.999
    assert await leases.holder("timers") == "a"
    assert not await leases.acquire("timers", "b", 10)
    clock.now += 0.001  # exactly at its end: run out
    assert await leases.holder("timers") is None
    assert await leases.acquire("timers", "b", 10)


async def test_a_renewal_counts_its_ttl_from_the_renewal():
    clock = Clock()
    leases = MemoryLeaseStore(clock)
    await leases.acquire("timers", "a", 10)
    clock.now += 8
    assert await leases.acquire("timers", "a", 10)
    clock.now += 8  # 16 after it was taken, 8 after it was renewed
    assert await leases.holder("timers") == "a"


async def test_an_expired_holder_releasing_leaves_the_new_holder_s_lease():
    clock = Clock()
    leases = MemoryLeaseStore(clock)
    await leases.acquire("timers", "a", 10)
    clock.now += 11
    await leases.acquire("timers", "b", 10)
    await leases.release("timers", "a")  # a stops late, unaware
    assert await leases.holder("timers") == "b"


def test_a_lease_name_or_holder_out_of_bounds_is_shown_with_the_fix():
    check_lease("x" * 200, "y" * 200)
    with pytest.raises(ValueError, match=r"a lease's name is a string of 1 to 200") as empty:
        check_lease("")
    assert "got '' (0 characters): give one such as 'timers'" in str(empty.value)
    too_long = r"a lease's holder .* got 'y+\.\.\.y+' \(201 characters\)"
    with pytest.raises(ValueError, match=too_long):
        check_lease("timers", "y" * 201)
    with pytest.raises(ValueError, match=r"got 7 \(int\)"):
        check_lease(7)  # type: ignore[arg-type]


@pytest.mark.parametrize("ttl", [0, -0.5, float("nan"), float("inf"), True])
def test_a_ttl_that_is_not_seconds_above_0_is_shown_with_the_fix(ttl):
    with pytest.raises(ValueError, match=rf"got {ttl!r}: give how long the holder keeps it"):
        check_ttl(ttl)


def test_a_ttl_of_any_positive_seconds_is_taken():
    check_ttl(0.001)
    check_ttl(30)
