"""The surface of atoll.resilience: a small sorted ``__all__`` of its policies."""

import atoll.resilience


def test_all_is_sorted_and_holds_exactly_the_policies():
    assert atoll.resilience.__all__ == sorted(atoll.resilience.__all__)
    assert set(atoll.resilience.__all__) == {"Bulkhead", "CircuitBreaker", "Retry", "retried"}


def test_each_name_in_all_is_defined():
    for name in atoll.resilience.__all__:
        assert getattr(atoll.resilience, name).__module__.startswith("atoll.resilience.")
