"""A service whose requests can be held in flight, run as a real process by test_serving.py.

``GET /hold`` prints ``holding`` and answers once ``POST /release`` has come, so that a test
has a request in flight for as long as it needs one, without waiting on a clock.
"""

from __future__ import annotations

import asyncio

import atoll


class Gate:
    """Opened once, by the release; the held requests wait for it."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()


service = atoll.Service("held", version="1.0")
service.provide(Gate)


@service.get("/hold")
async def hold(gate: Gate) -> str:
    print("holding", flush=True)
    await gate.opened.wait()
    return "released"


@service.post("/release")
async def release(gate: Gate) -> str:
    gate.opened.set()
    return "released"
