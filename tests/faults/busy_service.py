"""``busy``: a service whose calls take time, and which counts the calls it holds at once.

``tests/faults/test_load_faults.py`` runs it as real processes: stopped with SIGTERM while it
holds calls, and sent twice the load it can take. ``work`` waits the milliseconds it is given;
``GET /slots`` waits on a dependency that serves :data:`SLOTS` calls at once, :data:`WORK`
seconds each, so that callers past them queue inside the process (unless it sheds them).
``load`` says how many calls it holds now, the most it ever held, and how many it answered.
"""

from __future__ import annotations

import asyncio
import os

import atoll

SLOTS = 4
"""Calls the dependency of ``GET /slots`` serves at once."""
WORK = 0.25
"""Seconds each call of the dependency takes: :data:`SLOTS` / :data:`WORK` calls a second.

Slow on purpose: twice that rate (32 calls a second) is a load that even a test client slowed
by coverage on a busy machine sends on time; at 0.05 s it had to send 160 a second, and fell
behind so far that it sent less than the service could take, and nothing was shed.
"""

service = atoll.Service("busy")
_held = {"now": 0, "most": 0, "answered": 0}
_pool: list[asyncio.Semaphore] = []


class _Holding:
    """Counts a call from its start to its answer."""

    def __enter__(self) -> None:
        _held["now"] += 1
        _held["most"] = max(_held["most"], _held["now"])

    def __exit__(self, *_: object) -> None:
        _held["now"] -= 1
        _held["answered"] += 1


@service.rpc
async def work(ms: int) -> int:
    """Wait ``ms`` milliseconds, and answer the process id."""
    with _Holding():
        await asyncio.sleep(ms / 1000)
    return os.getpid()


@service.get("/slots")
async def slots() -> dict[str, int]:
    """Wait for a slot of the dependency, and hold it :data:`WORK` seconds."""
    with _Holding():
        if not _pool:
            _pool.append(asyncio.Semaphore(SLOTS))
        async with _pool[0]:
            await asyncio.sleep(WORK)
    return {"pid": os.getpid()}


@service.rpc
async def load() -> dict[str, int]:
    """The calls held now, the most held at once, and the calls answered."""
    return dict(_held)
