from __future__ import annotations

import pytest

import atoll.testing
from atoll.testing import client, harness


def test_atoll_testing_exports_the_harness_and_the_asgi_client():
    assert atoll.testing.run is harness.run
    assert atoll.testing.ServiceHarness is harness.ServiceHarness
    assert atoll.testing.asgi_client is client.asgi_client
    assert dir(atoll.testing) == ["ServiceHarness", "asgi_client", "run"]


def test_atoll_testing_has_no_other_names():
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = atoll.testing.nothing
