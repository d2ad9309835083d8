"""``slow``: a service that answers at once, or after five seconds while a flag file exists.

``tests/faults/test_breaker_faults.py`` runs it as a real process and makes it slow by
creating the file named by ``SLOW_FLAG`` in its environment, read at each call.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import atoll

service = atoll.Service("slow")
calls = [0]


@service.rpc
async def work() -> str:
    """Answer at once, or after five seconds while the flag file exists."""
    calls[0] += 1
    if Path(os.environ["SLOW_FLAG"]).exists():  # noqa: ASYNC240 - a stat, in a test's service
        await asyncio.sleep(5)
    return "done"


@service.rpc
async def counted() -> int:
    """How many calls of ``work`` came."""
    return calls[0]
