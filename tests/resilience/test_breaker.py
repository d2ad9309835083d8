"""CircuitBreaker: when it opens, what it says while open, how it probes and closes again."""

import pytest

from atoll.errors import CircuitOpenError, RemoteUnavailableError
from atoll.resilience import CircuitBreaker


class FakeClock:
    """A clock that moves only when told, counting how often it is read."""

    def __init__(self, now=1000.0):
        self.now = now
        self.reads = 0

    def __call__(self):
        self.reads += 1
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


def outcomes(breaker, *failed):
    """Admit one call per item and record it as failed (True) or succeeded (False)."""
    for failure in failed:
        breaker.admit()
        if failure:
            breaker.failed()
        else:
            breaker.succeeded()


def opened(breaker):
    """Open ``breaker`` (minimum 10 calls, ratio 0.5) with 6 failures of 10."""
    outcomes(breaker, *[False] * 4, *[True] * 6)
    assert breaker.state == "open"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"failure_ratio": 0.0}, "failure_ratio=0.0 is not a share of calls"),
        ({"failure_ratio": 1.5}, "failure_ratio=1.5 is not a share of calls"),
        ({"failure_ratio": float("nan")}, "failure_ratio=nan is not a share of calls"),
        ({"minimum_calls": 0}, "minimum_calls=0 must be 1 or more"),
        ({"window": 0.0}, "window=0.0 counts no time"),
        ({"open_for": -1.0}, "open_for=-1.0 would never hold it open"),
        ({"probes": 0}, "probes=0 could never close it again"),
    ],
)
def test_an_argument_out_of_range_is_refused_with_the_fix(arguments, message):
    with pytest.raises(ValueError, match=f"the circuit breaker of users: {message}"):
        CircuitBreaker("users", **arguments)


def test_a_ratio_of_one_is_allowed():
    assert CircuitBreaker("users", failure_ratio=1.0).state == "closed"


def test_a_new_breaker_is_closed_and_admits(clock):
    breaker = CircuitBreaker("users", clock=clock)
    breaker.admit()
    assert breaker.state == "closed"
    assert breaker.name == "users"


def test_admitting_through_a_closed_breaker_does_not_read_the_clock(clock):
    breaker = CircuitBreaker("users", clock=clock)
    reads = clock.reads
    for _ in range(100):
        breaker.admit()
    assert clock.reads == reads


def test_it_stays_closed_below_minimum_calls_however_many_fail(clock):
    breaker = CircuitBreaker("users", minimum_calls=10, clock=clock)
    outcomes(breaker, *[True] * 9)
    assert breaker.state == "closed"
    outcomes(breaker, True)
    assert breaker.state == "open"


def test_it_stays_closed_below_the_failure_ratio(clock):
    breaker = CircuitBreaker("users", failure_ratio=0.5, minimum_calls=10, clock=clock)
    outcomes(breaker, *[False] * 6, *[True] * 4)
    assert breaker.state == "closed"


def test_it_opens_when_the_failures_reach_the_ratio_exactly(clock):
    breaker = CircuitBreaker("users", failure_ratio=0.3, minimum_calls=10, clock=clock)
    outcomes(breaker, *[False] * 7, True, True)
    assert breaker.state == "closed"
    outcomes(breaker, True)
    assert breaker.state == "open"


def test_a_success_that_brings_the_window_to_minimum_calls_may_open_it(clock):
    breaker = CircuitBreaker("users", minimum_calls=10, clock=clock)
    outcomes(breaker, *[True] * 9)
    outcomes(breaker, False)
    assert breaker.state == "open"


def test_an_open_breaker_refuses_with_the_counts_and_the_time_to_the_probe(clock):
    breaker = CircuitBreaker("users", open_for=5.0, clock=clock)
    opened(breaker)
    clock.now += 0.8
    with pytest.raises(CircuitOpenError) as refused:
        breaker.admit()
    assert str(refused.value) == (
        "the circuit breaker of users is open: 6 of its last 10 calls failed; it lets a probe"
        " through in 4.2 s"
    )
    assert refused.value.service == "users"
    assert refused.value.probe_in == pytest.approx(4.2)
    assert isinstance(refused.value, RemoteUnavailableError)


def test_one_failed_call_is_said_in_the_singular(clock):
    breaker = CircuitBreaker("users", minimum_calls=1, clock=clock)
    outcomes(breaker, True)
    with pytest.raises(CircuitOpenError, match="is open: its last call failed; it lets a probe"):
        breaker.admit()


def test_it_goes_half_open_after_open_for_and_lets_one_probe_through(clock):
    breaker = CircuitBreaker("users", open_for=5.0, clock=clock)
    opened(breaker)
    clock.now += 4.9
    assert breaker.state == "open"
    clock.now += 0.1
    assert breaker.state == "half-open"
    breaker.admit()
    with pytest.raises(CircuitOpenError) as refused:
        breaker.admit()
    assert str(refused.value) == (
        "the circuit breaker of users is half-open: 1 probe is in flight; calls go through"
        " again once it succeeds"
    )
    assert refused.value.probe_in == 0.0


def test_admit_itself_moves_an_open_breaker_to_half_open_when_its_time_is_up(clock):
    breaker = CircuitBreaker("users", open_for=5.0, clock=clock)
    opened(breaker)
    clock.now += 5.0
    breaker.admit()
    assert breaker.state == "half-open"


def test_a_probe_that_succeeds_closes_it_with_an_empty_window(clock):
    breaker = CircuitBreaker("users", minimum_calls=10, clock=clock)
    opened(breaker)
    clock.now += 5.0
    outcomes(breaker, False)
    assert breaker.state == "closed"
    outcomes(breaker, *[True] * 9)  # the window starts empty: nine calls are too few
    assert breaker.state == "closed"


def test_a_probe_that_fails_opens_it_again_for_open_for(clock):
    breaker = CircuitBreaker("users", open_for=5.0, clock=clock)
    opened(breaker)
    clock.now += 5.0
    outcomes(breaker, True)
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError) as refused:
        breaker.admit()
    assert str(refused.value) == (
        "the circuit breaker of users is open: its probe failed; it lets a probe through in 5.0 s"
    )
    assert refused.value.probe_in == pytest.approx(5.0)
    clock.now += 5.0
    assert breaker.state == "half-open"


def test_with_several_probes_each_goes_through_and_all_must_succeed(clock):
    breaker = CircuitBreaker("users", probes=2, clock=clock)
    opened(breaker)
    clock.now += 5.0
    breaker.admit()
    breaker.admit()
    with pytest.raises(CircuitOpenError, match="half-open: 2 probes are in flight; calls go"):
        breaker.admit()
    breaker.succeeded()
    assert breaker.state == "half-open"
    with pytest.raises(CircuitOpenError, match="half-open: 1 probe is in flight"):
        breaker.admit()
    breaker.succeeded()
    assert breaker.state == "closed"


def test_with_several_probes_one_failure_opens_it_again(clock):
    breaker = CircuitBreaker("users", probes=2, clock=clock)
    opened(breaker)
    clock.now += 5.0
    breaker.admit()
    breaker.admit()
    breaker.succeeded()
    breaker.failed()
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError, match="is open: one of its probes failed"):
        breaker.admit()


def test_outcomes_of_calls_admitted_before_it_opened_are_ignored_while_open(clock):
    breaker = CircuitBreaker("users", clock=clock)
    opened(breaker)
    breaker.succeeded()
    breaker.failed()
    clock.now += 2.0
    with pytest.raises(CircuitOpenError) as refused:
        breaker.admit()
    assert refused.value.probe_in == pytest.approx(3.0)


def test_outcomes_while_half_open_with_no_probe_in_flight_are_ignored(clock):
    breaker = CircuitBreaker("users", clock=clock)
    opened(breaker)
    clock.now += 5.0
    assert breaker.state == "half-open"
    breaker.failed()
    breaker.succeeded()
    assert breaker.state == "half-open"


def test_calls_older_than_the_window_leave_it(clock):
    breaker = CircuitBreaker("users", minimum_calls=10, window=30.0, clock=clock)
    outcomes(breaker, *[True] * 9)
    clock.now += 31.0
    outcomes(breaker, True)
    assert breaker.state == "closed"  # the nine older failures left the window


def test_calls_still_in_the_window_count(clock):
    breaker = CircuitBreaker("users", minimum_calls=10, window=30.0, clock=clock)
    outcomes(breaker, *[True] * 9)
    clock.now += 20.0
    outcomes(breaker, True)
    assert breaker.state == "open"


def test_the_window_drops_its_oldest_bucket_as_time_moves_on(clock):
    clock.now = 0.0
    breaker = CircuitBreaker("users", minimum_calls=4, window=10.0, clock=clock)
    outcomes(breaker, True, True)  # bucket [0, 1)
    clock.now = 5.0
    outcomes(breaker, True)  # bucket [5, 6)
    clock.now = 10.0  # the first bucket leaves the window: 2 calls in it, not 4
    outcomes(breaker, True)
    assert breaker.state == "closed"
    clock.now = 14.5
    outcomes(breaker, True)  # the calls at 5, 10 and 14.5: 3
    assert breaker.state == "closed"
    outcomes(breaker, True)  # 4
    assert breaker.state == "open"


def test_a_long_silence_empties_the_whole_window(clock):
    breaker = CircuitBreaker("users", minimum_calls=3, window=1.0, clock=clock)
    outcomes(breaker, True, True)
    clock.now += 1000.0
    outcomes(breaker, True, True)
    assert breaker.state == "closed"


def test_its_repr_names_it_and_its_state(clock):
    assert repr(CircuitBreaker("users", clock=clock)) == "<CircuitBreaker 'users' closed>"
