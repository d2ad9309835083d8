"""atoll's pytest plugin: fixtures to run services and ASGI apps in a test.

pytest loads it by itself in every project that installs atoll (the ``pytest11`` entry point
``atoll``); nothing is to be added to ``conftest.py``. It only declares fixtures, and imports
nothing of atoll's until a test asks for one, so that it costs the runs that do not use it
nothing::

    async def test_a_run_is_recorded(atoll_harness):
        async with atoll_harness(service, argv=["--runs-page-size", "5"]) as harness:
            await harness.send(RecordRun(user_id=1, meters=5000, seconds=1500))

    async def test_the_legacy_app_answers(asgi_client):
        async with asgi_client(legacy_app) as client:
            assert (await client.get("/health")).status_code == 200

Both fixtures are factories: the test decides what runs, and the ``async with`` block how long.
Annotate them with :data:`HarnessFactory` and :data:`AsgiClientFactory`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    import httpx

    from atoll.testing.harness import ServiceHarness

__all__ = ["AsgiClientFactory", "HarnessFactory", "asgi_client", "atoll_harness"]

# Strings, so that loading the plugin imports neither httpx nor the harness.
HarnessFactory: TypeAlias = "Callable[..., AbstractAsyncContextManager[ServiceHarness]]"
"""The type of the ``atoll_harness`` fixture, for a test's annotations."""
AsgiClientFactory: TypeAlias = "Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]"
"""The type of the ``asgi_client`` fixture, for a test's annotations."""


@pytest.fixture
def atoll_harness() -> HarnessFactory:
    """A factory running a service for a block: :func:`atoll.testing.run`.

    ``async with atoll_harness(service, argv=[...], overrides={...}) as harness: ...``
    """
    from atoll.testing.harness import run  # noqa: PLC0415 - loaded only when a test asks

    return run


@pytest.fixture
def asgi_client() -> AsgiClientFactory:
    """A factory of httpx clients on ASGI apps: :func:`atoll.testing.asgi_client`.

    ``async with asgi_client(app) as client: ...``, the app's lifespan run around the block.
    """
    from atoll.testing.client import asgi_client  # noqa: PLC0415 - loaded only when a test asks

    return asgi_client
