"""A service whose one route waits on a dependency that serves 8 calls at once, 20 ms each.

For ``bench_resilience.py``: the dependency (a pool of 8 connections, say) finishes 400 calls
a second; more callers than that queue for it inside the process, which load shedding
(``--server-max-in-flight``) turns away instead.
"""

from __future__ import annotations

import asyncio

import atoll

SLOTS = 8
"""Calls the dependency serves at once."""
WORK = 0.02
"""Seconds each call of the dependency takes."""

service = atoll.Service("busy", version="1.0.0")
_pool: list[asyncio.Semaphore] = []


@service.get("/work")
async def work() -> dict[str, int]:
    """Take a slot of the dependency for :data:`WORK` seconds, waiting for one if need be."""
    if not _pool:
        _pool.append(asyncio.Semaphore(SLOTS))
    async with _pool[0]:
        await asyncio.sleep(WORK)
    return {"slots": SLOTS}
