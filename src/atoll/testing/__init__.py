"""atoll's test helpers: public API, and a pytest plugin that pytest loads by itself.

::

    import atoll.testing

    async def test_a_run_is_recorded():
        async with atoll.testing.run(service) as harness:
            await harness.send(RecordRun(user_id=1, meters=5000, seconds=1500))
            assert harness.events_of(RunRecorded)

- :func:`run` and :class:`ServiceHarness` (:mod:`atoll.testing.harness`): a service or a
  system running in the test's process, with its bus, container, HTTP and JSON-RPC clients,
  overrides, and the events it raised;
- :func:`asgi_client` (:mod:`atoll.testing.client`): an httpx client for any ASGI app, its
  lifespan run around the block;
- the pytest fixtures ``atoll_harness`` and ``asgi_client`` (:mod:`atoll.testing.plugin`).

The names load on first use: pytest imports this package for every test run of a project that
installs atoll, and most of those runs use none of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atoll._lazy import lazy_names

if TYPE_CHECKING:
    from atoll.testing.client import asgi_client
    from atoll.testing.harness import ServiceHarness, run

__all__ = ["ServiceHarness", "asgi_client", "run"]

_LAZY = {
    "ServiceHarness": "atoll.testing.harness",
    "asgi_client": "atoll.testing.client",
    "run": "atoll.testing.harness",
}


__getattr__, __dir__ = lazy_names("atoll.testing", __all__, _LAZY, globals())
