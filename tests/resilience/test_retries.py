"""Retry and retried: how many tries, how long between them, and which error comes out."""

import asyncio

import pytest

from atoll.resilience import Retry, retried

ALMOST_ONE = 0.999999


class FakeTime:
    """A clock that moves only when something sleeps on it, recording each sleep."""

    def __init__(self, now=0.0):
        self.now = now
        self.sleeps = []

    def clock(self):
        return self.now

    async def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class Flaky:
    """A call that raises each of ``errors`` in turn, then returns ``result``."""

    def __init__(self, *errors, result="done"):
        self.errors = list(errors)
        self.result = result
        self.attempts = 0

    async def __call__(self):
        self.attempts += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def always(error):
    return True


def never(error):
    return False


def almost_one():
    return ALMOST_ONE


def test_the_defaults_try_three_times_from_a_tenth_of_a_second_up_to_two():
    assert Retry() == Retry(attempts=3, base=0.1, cap=2.0)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"attempts": 0}, "Retry(attempts=0) tries a call fewer than once"),
        ({"base": 0.0}, "Retry(base=0.0) is no wait"),
        ({"base": -1.0}, "Retry(base=-1.0) is no wait"),
        ({"base": float("nan")}, "Retry(base=nan) is no wait"),
        ({"base": 1.0, "cap": 0.5}, "give a cap of at least 1.0 seconds"),
    ],
)
def test_a_retry_out_of_range_is_refused_with_the_fix(arguments, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Retry(**arguments)


def test_a_cap_equal_to_the_base_is_allowed():
    assert Retry(base=1.0, cap=1.0).delay(5, almost_one) == pytest.approx(1.0, rel=1e-5)


def test_the_delay_ceiling_doubles_with_each_failure_up_to_the_cap():
    retry = Retry(base=0.1, cap=2.0)
    delays = [retry.delay(failures, almost_one) for failures in range(1, 8)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0], rel=1e-5)


def test_the_delay_is_the_draw_s_share_of_the_ceiling():
    retry = Retry(base=0.1, cap=2.0)
    assert retry.delay(3, lambda: 0.0) == 0.0
    assert retry.delay(3, lambda: 0.5) == pytest.approx(0.2)


def test_the_delay_after_a_great_many_failures_is_the_cap_without_overflow():
    assert Retry(cap=3.0).delay(5000, almost_one) == pytest.approx(3.0, rel=1e-5)


def test_a_delay_before_any_failure_is_refused():
    with pytest.raises(ValueError, match="give failures of 1 or more, not 0"):
        Retry().delay(0)


async def test_a_call_that_succeeds_is_tried_once_without_waiting():
    time = FakeTime()
    call = Flaky()
    result = await retried(call, Retry(), retryable=always, sleep=time.sleep, clock=time.clock)
    assert (result, call.attempts, time.sleeps) == ("done", 1, [])


async def test_a_call_failing_twice_then_succeeding_is_tried_three_times_with_growing_waits():
    time = FakeTime()
    call = Flaky(ConnectionError("down"), ConnectionError("down"), result={"id": 1})
    result = await retried(
        call, Retry(), retryable=always, clock=time.clock, sleep=time.sleep, draw=almost_one
    )
    assert result == {"id": 1}
    assert call.attempts == 3
    assert time.sleeps == pytest.approx([0.1, 0.2], rel=1e-5)


async def test_the_last_error_is_raised_as_it_is_once_the_attempts_run_out():
    time = FakeTime()
    last = ConnectionError("third")
    call = Flaky(ConnectionError("first"), ConnectionError("second"), last)
    with pytest.raises(ConnectionError) as raised:
        await retried(call, Retry(attempts=3), retryable=always, sleep=time.sleep)
    assert raised.value is last
    assert call.attempts == 3
    assert len(time.sleeps) == 2


async def test_one_attempt_never_retries():
    time = FakeTime()
    call = Flaky(ConnectionError("down"))
    with pytest.raises(ConnectionError):
        await retried(call, Retry(attempts=1), retryable=always, sleep=time.sleep)
    assert (call.attempts, time.sleeps) == (1, [])


async def test_an_error_that_is_not_retryable_is_raised_after_one_try():
    time = FakeTime()
    error = ValueError("bad argument")
    call = Flaky(error)
    with pytest.raises(ValueError, match="bad argument") as raised:
        await retried(call, Retry(attempts=5), retryable=never, sleep=time.sleep)
    assert raised.value is error
    assert (call.attempts, time.sleeps) == (1, [])


async def test_retryable_is_asked_about_each_error_and_decides():
    asked = []

    def connection_errors(error):
        asked.append(error)
        return isinstance(error, ConnectionError)

    time = FakeTime()
    down, bad = ConnectionError("down"), KeyError("bad")
    call = Flaky(down, bad)
    with pytest.raises(KeyError):
        await retried(call, Retry(attempts=5), retryable=connection_errors, sleep=time.sleep)
    assert asked == [down, bad]
    assert call.attempts == 2


async def test_no_attempt_starts_when_its_wait_would_end_after_the_deadline():
    time = FakeTime(now=100.0)
    call = Flaky(*(ConnectionError(str(n)) for n in range(5)))
    # Waits of 0.1, 0.2, 0.4 (almost): the third would end at 100.7, past 100.5.
    with pytest.raises(ConnectionError, match="2"):
        await retried(
            call,
            Retry(attempts=5),
            retryable=always,
            deadline=100.5,
            clock=time.clock,
            sleep=time.sleep,
            draw=almost_one,
        )
    assert call.attempts == 3
    assert time.sleeps == pytest.approx([0.1, 0.2], rel=1e-5)


async def test_a_wait_ending_exactly_at_the_deadline_is_not_made():
    time = FakeTime(now=10.0)
    call = Flaky(ConnectionError("down"))
    with pytest.raises(ConnectionError):
        await retried(
            call,
            Retry(base=0.5),
            retryable=always,
            deadline=10.25,
            clock=time.clock,
            sleep=time.sleep,
            draw=lambda: 0.5,
        )
    assert (call.attempts, time.sleeps) == (1, [])


async def test_a_cancelled_call_is_never_retried():
    time = FakeTime()
    call = Flaky(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await retried(call, Retry(attempts=5), retryable=always, sleep=time.sleep)
    assert (call.attempts, time.sleeps) == (1, [])


async def test_an_earlier_error_is_not_chained_to_the_last():
    time = FakeTime()
    call = Flaky(ConnectionError("first"), ConnectionError("second"))
    with pytest.raises(ConnectionError) as raised:
        await retried(call, Retry(attempts=2), retryable=always, sleep=time.sleep)
    assert raised.value.__context__ is None
