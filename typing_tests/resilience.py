# The resilience policies' public types, used as a client of a remote service would use them.
# Type-checked by mypy --strict, never run; each "type: ignore" marks a mistake that must be caught.
from typing import assert_type

from atoll.errors import CircuitOpenError
from atoll.resilience import Bulkhead, CircuitBreaker, Retry, retried
from atoll.resilience.breaker import State


async def get_profile() -> dict[str, int]:
    return {"id": 1}


def is_unavailable(error: BaseException) -> bool:
    return isinstance(error, ConnectionError)


async def client() -> None:
    retry = Retry(attempts=3, base=0.1, cap=2.0)
    assert_type(retry.delay(1), float)
    retry.attempts = 4  # type: ignore[misc]
    profile = await retried(get_profile, retry, retryable=is_unavailable, deadline=10.0)
    assert_type(profile, dict[str, int])
    await retried(get_profile(), retry, retryable=is_unavailable)  # type: ignore[arg-type]
    await retried(get_profile, retry)  # type: ignore[call-arg]

    breaker = CircuitBreaker("users", failure_ratio=0.5, minimum_calls=10)
    assert_type(breaker.state, State)
    try:
        breaker.admit()
    except CircuitOpenError as error:
        assert_type(error.probe_in, float)
    CircuitBreaker("users", 0.5)  # type: ignore[call-arg]

    bulkhead = Bulkhead("users", 10, wait=False)
    async with bulkhead.slot(2.0):
        assert_type(bulkhead.in_flight, int)
    await bulkhead.enter(None)
    bulkhead.leave()
